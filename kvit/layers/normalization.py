import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class LayerNorm(keras.layers.Layer):
    """Layer normalisation over the last axis, written as `(x - mean) * rsqrt(var + eps)`.

    Numerically the same as `keras.layers.LayerNormalization`, but the TensorFlow backend lowers
    Keras' own layer with a `NEG` on the mean, which TFLite's int8 and 16x8 quantizers leave in
    float. This form lowers to `MEAN`, `SUB`, `MUL`, `RSQRT` and `ADD` only, so a quantized graph
    stays fully integer. The square is a `MUL`, not `ops.square`: the converter would fuse that into
    `SQUARED_DIFFERENCE`, which LiteRT cannot run in 16x8. The epsilon has no default: the reference models use 1e-6 (ViT) and 1e-5
    (Swin, MobileViT), never Keras' 1e-3.

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
        mean = ops.mean(x, axis=-1, keepdims=True)
        centered = x - mean
        variance = ops.mean(centered * centered, axis=-1, keepdims=True)
        return centered * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
