import math

import keras
import numpy as np
from keras import ops


def resample_position_embedding(embedding, grid_size, num_prefix_tokens=1, old_grid_size=None):
    """Resizes a learned position embedding to another token grid, as timm does.

    The prefix (class, distillation) positions are split off and kept; the grid positions are
    resized bicubically with antialiasing, in float32, which is what timm's
    `resample_abs_pos_embed` does through `torch.nn.functional.interpolate`.

    Args:
        embedding: array of shape `(1, num_prefix_tokens + old_h * old_w, dim)`.
        grid_size: `(height, width)` of the new token grid.
        num_prefix_tokens: int, leading positions that are not on the grid.
        old_grid_size: `(height, width)` of the old grid; a square grid if None.

    Returns:
        NumPy array of shape `(1, num_prefix_tokens + height * width, dim)`.
    """
    embedding = np.asarray(embedding)
    prefix, grid = embedding[:, :num_prefix_tokens], embedding[:, num_prefix_tokens:]
    if old_grid_size is None:
        side = math.isqrt(grid.shape[1])
        if side * side != grid.shape[1]:
            raise ValueError(
                f"A position embedding with {grid.shape[1]} grid positions is not square; "
                "pass `old_grid_size`."
            )
        old_grid_size = (side, side)
    if tuple(old_grid_size) == tuple(grid_size):
        return embedding
    dim = grid.shape[-1]
    grid = ops.reshape(ops.convert_to_tensor(grid, dtype="float32"), (1, *old_grid_size, dim))
    grid = ops.image.resize(grid, grid_size, interpolation="bicubic", antialias=True)
    grid = ops.convert_to_numpy(grid).reshape(1, grid_size[0] * grid_size[1], dim)
    return np.concatenate([prefix, grid.astype(embedding.dtype)], axis=1)


def sincos_position_embedding(grid_size, dim, num_prefix_tokens=1):
    """The fixed 2-D sine-cosine position embedding of MAE, as its `util/pos_embed.py` builds it.

    Each grid position (row i, column j) gets `[sin(j * w), cos(j * w), sin(i * w), cos(i * w)]`
    with `w = 10000 ** (-k / (dim / 4))` for `k < dim / 4`: the reference's `np.meshgrid` puts
    the column coordinate first, and its checkpoints carry that layout. The prefix (class token)
    rows are zero. The frequencies are computed in float64, as the reference does.

    Args:
        grid_size: `(height, width)` of the patch grid.
        dim: int, embedding width; must be divisible by 4.
        num_prefix_tokens: int, leading zero rows.

    Returns:
        float32 NumPy array of shape `(1, num_prefix_tokens + height * width, dim)`.
    """
    if dim % 4:
        raise ValueError(f"A 2-D sine-cosine position embedding needs a width divisible by 4, got {dim}.")
    omega = 1.0 / 10000.0 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))
    rows, columns = np.meshgrid(
        np.arange(grid_size[0], dtype=np.float32), np.arange(grid_size[1], dtype=np.float32), indexing="ij"
    )
    parts = []
    for coordinate in (columns, rows):
        angles = np.outer(coordinate.reshape(-1), omega)
        parts += [np.sin(angles), np.cos(angles)]
    grid = np.concatenate(parts, axis=1)
    prefix = np.zeros((num_prefix_tokens, dim))
    return np.concatenate([prefix, grid], axis=0)[None].astype("float32")


@keras.saving.register_keras_serializable(package="kvit")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding to `num_prefix_tokens + grid_h * grid_w` tokens.

    Weights saved for another grid (another image size) are resampled on load, from a kvit file
    (`load_own_variables`) as from a converted checkpoint (`convert_weight`).

    Args:
        grid_size: `(height, width)` of the patch grid.
        num_prefix_tokens: int, class/distillation tokens in front of the grid tokens.

    Shape: `(batch, num_prefix_tokens + grid_h * grid_w, dim)` in and out.
    """

    def __init__(self, grid_size, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(grid_size)
        self.num_prefix_tokens = num_prefix_tokens

    def build(self, input_shape):
        tokens = self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]
        if input_shape[1] is not None and input_shape[1] != tokens:
            raise ValueError(
                f"PositionEmbedding for grid {self.grid_size} with {self.num_prefix_tokens} prefix "
                f"tokens expects {tokens} tokens, got {input_shape[1]}."
            )
        self.embedding = self.add_weight(
            shape=(1, tokens, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="embedding",
        )

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)

    def convert_weight(self, variable, value):
        """Resamples a stored embedding of another grid to this layer's grid."""
        if variable is self.embedding and tuple(value.shape) != tuple(variable.shape):
            if value.ndim != 3 or value.shape[-1] != variable.shape[-1]:
                raise ValueError(
                    f"Position embedding of shape {value.shape} cannot be resampled to "
                    f"{tuple(variable.shape)}: the width differs."
                )
            return resample_position_embedding(value, self.grid_size, self.num_prefix_tokens)
        return value

    def load_own_variables(self, store):
        self.embedding.assign(self.convert_weight(self.embedding, np.asarray(store["0"])))

    def get_config(self):
        return {
            **super().get_config(),
            "grid_size": self.grid_size,
            "num_prefix_tokens": self.num_prefix_tokens,
        }
