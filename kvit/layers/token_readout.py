import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class TokenPooling(keras.layers.Layer):
    """Reads one vector per image out of a token sequence.

    Args:
        mode: `"token"` takes the token at `index` (the class or distillation token);
            `"avg"` averages the grid tokens that follow the `num_prefix_tokens` prefix tokens.
        index: int, the token `"token"` takes.
        num_prefix_tokens: int, tokens `"avg"` leaves out.

    Shape: `(batch, tokens, dim)` in, `(batch, dim)` out.
    """

    def __init__(self, mode="token", index=0, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("token", "avg"):
            raise ValueError(f"`mode` must be 'token' or 'avg', got {mode!r}.")
        self.mode = mode
        self.index = index
        self.num_prefix_tokens = num_prefix_tokens

    def call(self, x):
        if self.mode == "token":
            # A slice that keeps the token axis, then a reshape: `x[:, index]` lowers to a TFLite
            # STRIDED_SLICE with a shrink mask, which XNNPACK does not take.
            return ops.reshape(x[:, self.index : self.index + 1], (-1, x.shape[-1]))
        return ops.mean(x[:, self.num_prefix_tokens :], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "index": self.index,
            "num_prefix_tokens": self.num_prefix_tokens,
        }


@keras.saving.register_keras_serializable(package="kvit")
class TokensToGrid(keras.layers.Layer):
    """Drops the prefix tokens and lays the grid tokens back out as a feature map.

    Args:
        grid_size: `(height, width)` of the token grid.
        num_prefix_tokens: int, leading tokens to drop.

    Shape: `(batch, num_prefix_tokens + height * width, dim)` in, `(batch, height, width, dim)` out.
    """

    def __init__(self, grid_size, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(grid_size)
        self.num_prefix_tokens = num_prefix_tokens

    def call(self, x):
        grid = x[:, self.num_prefix_tokens :]
        return ops.reshape(grid, (ops.shape(x)[0], *self.grid_size, x.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.grid_size, input_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "grid_size": self.grid_size,
            "num_prefix_tokens": self.num_prefix_tokens,
        }
