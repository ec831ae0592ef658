import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class ImageNormalization(keras.layers.Layer):
    """Maps [0, 255] pixels to the normalised input a checkpoint was trained on.

    Computes `(x / 255 - mean) / std`, folded into one multiply and one add.

    Args:
        mean: float or per-channel list, in [0, 1] units.
        std: float or per-channel list, in [0, 1] units.

    Shape: `(batch, height, width, channels)` in and out.
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = mean
        self.std = std

    def build(self, input_shape):
        for name, value in (("mean", self.mean), ("std", self.std)):
            if isinstance(value, (list, tuple)) and len(value) != input_shape[-1]:
                raise ValueError(
                    f"`{name}` has {len(value)} values but the input has {input_shape[-1]} channels."
                )

    def call(self, x):
        mean = ops.convert_to_tensor(self.mean, dtype=x.dtype)
        std = ops.convert_to_tensor(self.std, dtype=x.dtype)
        return x * (1.0 / (255.0 * std)) - mean / std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}
