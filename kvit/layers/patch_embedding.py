import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class PatchEmbedding(keras.layers.Layer):
    """Splits an image into non-overlapping patches and projects each to `width` channels.

    A `patch_size` x `patch_size` convolution with the same stride, then the grid is flattened to
    tokens in row-major order, as timm's `PatchEmbed` does.

    Args:
        width: int, embedding width.
        patch_size: int, side of the square patch; must divide the image height and width.

    Shape: `(batch, height, width, channels)` in,
        `(batch, (height // patch_size) * (width // patch_size), width)` out.
    """

    def __init__(self, width, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.patch_size = patch_size
        self.proj = keras.layers.Conv2D(width, patch_size, strides=patch_size, name="proj")

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None or height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"The image size ({height}, {width}) must be known and divisible by "
                f"`patch_size`={self.patch_size}; pass an `input_shape` whose height and width "
                f"are multiples of {self.patch_size}."
            )
        self.grid_size = (height // self.patch_size, width // self.patch_size)
        self.proj.build(input_shape)

    def call(self, images):
        x = self.proj(images)
        return ops.reshape(x, (ops.shape(x)[0], self.grid_size[0] * self.grid_size[1], self.width))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.grid_size[0] * self.grid_size[1], self.width)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "patch_size": self.patch_size}
