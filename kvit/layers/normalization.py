import keras
from keras import ops

from kvit import fast_paths


HALF_DTYPES = ("float16", "bfloat16")


def standardize(x, axes, epsilon):
    """`(x - mean) * rsqrt(var + epsilon)` over `axes`, in the form TFLite quantizes fully.

    The square is a `MUL`, not `ops.square`: the converter would fuse that into
    `SQUARED_DIFFERENCE`, which LiteRT cannot run in 16x8. Half-precision inputs (mixed
    precision) are standardized in float32: a float16 variance overflows past 65504 and loses
    epsilons below its resolution, and the result is cast back.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype in HALF_DTYPES:
        return ops.cast(standardize(ops.cast(x, "float32"), axes, epsilon), dtype)
    centered = x - ops.mean(x, axis=axes, keepdims=True)
    variance = ops.mean(centered * centered, axis=axes, keepdims=True)
    return centered * ops.rsqrt(variance + epsilon)


@keras.saving.register_keras_serializable(package="kvit")
class LayerNorm(keras.layers.Layer):
    """Layer normalisation over the last axis, written as `(x - mean) * rsqrt(var + eps)`.

    Numerically the same as `keras.layers.LayerNormalization`, but the TensorFlow backend lowers
    Keras' own layer with a `NEG` on the mean, which TFLite's int8 and 16x8 quantizers leave in
    float. This form lowers to `MEAN`, `SUB`, `MUL`, `RSQRT` and `ADD` only, so a quantized graph
    stays fully integer (see `standardize`). On PyTorch, which never reaches the converter, the
    layer runs PyTorch's fused kernel instead (`kvit.fast_paths.torch_layer_norm`). The epsilon
    has no default: the reference models use 1e-6 (ViT) and 1e-5 (Swin, MobileViT), never
    Keras' 1e-3.

    Args:
        epsilon: float, added to the variance.

    Shape: `(..., channels)` in and out.
    """

    def __init__(self, epsilon, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        dim = input_shape[-1]
        self.gamma = self.add_weight(shape=(dim,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(dim,), initializer="zeros", name="beta")

    def call(self, x):
        if fast_paths.use_torch_layer_norm():
            return fast_paths.torch_layer_norm(x, self.gamma, self.beta, self.epsilon)
        return standardize(x, -1, self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
