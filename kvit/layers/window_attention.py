import math

import keras
import numpy as np
from keras import ops

from kvit.layers.windows import relative_position_index

# Swin V2 clamps its learned logit scale at log(1 / 0.01), i.e. a temperature of at most 100.
MAX_LOGIT_SCALE = math.log(100.0)


@keras.saving.register_keras_serializable(package="kvit")
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention inside windows with a relative position bias, timm's Swin V1
    `WindowAttention`.

    Scores are `q k^T * head_dim ** -0.5 + bias + mask`; the bias of a token pair is the row of a
    learned `relative_position_bias_table` ((2 * wh - 1) * (2 * ww - 1), heads) at their offset,
    gathered once per call for all windows; `mask` (the shifted windows' -100 mask, a constant)
    is added per window. As in `MultiHeadSelfAttention`, the projections run on 2-D tokens and the
    attention is two batched matmuls in a heads-first `(heads, windows, tokens, head_dim)` layout;
    every reshape and transpose stays at rank 4 or below.

    Args:
        num_heads: int, attention heads; must divide the width.
        window_size: `(window_height, window_width)` of the windows the input holds.
        qkv_bias: bool, bias on the fused qkv projection.
        dropout_rate: float, dropout after the output projection.

    Call args:
        x: `(batch * num_windows, window_height * window_width, dim)`, windows in
            `kvit.layers.windows.window_partition` order.
        attention_mask: None, or a NumPy array `(num_windows, tokens, tokens)` added to the scores of each
            image's windows.

    Shape: `(batch * num_windows, tokens, dim)` in and out.
    """

    def __init__(self, num_heads, window_size, qkv_bias=True, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.qkv_bias = qkv_bias
        self.dropout_rate = dropout_rate
        self.dropout = keras.layers.Dropout(dropout_rate)
        self.index = relative_position_index(self.window_size).reshape(-1)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(f"`num_heads`={self.num_heads} must divide the attention width {dim}.")
        self.head_dim = dim // self.num_heads
        self.build_projections(dim)
        self.proj = keras.layers.Dense(dim, name="proj")
        self.proj.build((None, dim))
        self.build_position_bias()

    def build_projections(self, dim):
        self.qkv = keras.layers.Dense(3 * dim, use_bias=self.qkv_bias, name="qkv")
        self.qkv.build((None, dim))

    def build_position_bias(self):
        wh, ww = self.window_size
        self.relative_position_bias_table = self.add_weight(
            shape=((2 * wh - 1) * (2 * ww - 1), self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="relative_position_bias_table",
        )

    def project_qkv(self, x):
        return self.qkv(x)

    def position_bias(self):
        """The bias of every token pair, `(heads, 1, tokens, tokens)`."""
        return self._pairs(self.relative_position_bias_table)

    def _pairs(self, table):
        """The rows of a `(table, heads)` tensor at every token pair's offset, `(heads, 1, N, N)`."""
        tokens = self.window_size[0] * self.window_size[1]
        bias = ops.transpose(ops.take(table, self.index, axis=0), (1, 0))
        return ops.reshape(bias, (self.num_heads, 1, tokens, tokens))

    def scores(self, q, k):
        return ops.matmul(q * self.head_dim**-0.5, ops.transpose(k, (0, 1, 3, 2)))

    def call(self, x, attention_mask=None, training=None):
        tokens, dim = x.shape[1], x.shape[2]
        qkv = self.project_qkv(ops.reshape(x, (-1, dim)))
        qkv = ops.reshape(qkv, (-1, tokens, 3 * self.num_heads, self.head_dim))
        q, k, v = ops.split(ops.transpose(qkv, (2, 0, 1, 3)), 3, axis=0)  # (heads, windows, N, head_dim)
        scores = self.scores(q, k) + ops.cast(self.position_bias(), q.dtype)
        if attention_mask is not None:
            num_windows = attention_mask.shape[0]
            scores = ops.reshape(scores, (-1, num_windows, tokens, tokens)) + ops.cast(attention_mask, q.dtype)
            scores = ops.reshape(scores, (self.num_heads, -1, tokens, tokens))
        x = ops.matmul(ops.softmax(scores, axis=-1), v)
        x = self.proj(ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (-1, dim)))
        return ops.reshape(self.dropout(x, training=training), (-1, tokens, dim))

    def convert_weight(self, variable, value):
        """Resizes a stored bias table made for another window, as timm's checkpoint filter does."""
        if variable is self.relative_position_bias_table:
            return resize_relative_position_bias_table(value, self.window_size)
        return value

    def load_own_variables(self, store):
        self.relative_position_bias_table.assign(self.convert_weight(self.relative_position_bias_table, store["0"]))

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "qkv_bias": self.qkv_bias,
            "dropout_rate": self.dropout_rate,
        }


@keras.saving.register_keras_serializable(package="kvit")
class CosineWindowAttention(WindowAttention):
    """Swin V2's window attention, timm's `swin_transformer_v2.WindowAttention`.

    Scores are the cosine similarity of queries and keys times a learned per-head
    `exp(min(logit_scale, log(100)))`, plus `16 * sigmoid` of a continuous position bias: a
    two-layer MLP (2 -> 512, ReLU, -> heads, no bias) over each offset's log-spaced coordinates
    `sign(d) * log2(1 + 8 |d| / (w - 1)) / 3`, then the mask. The qkv projection has a bias on
    the queries and values only (`q_bias`, `v_bias`; the keys' is zero and stays zero).

    Args:
        num_heads, window_size, dropout_rate: as in `WindowAttention`.
        qkv_bias: bool, whether queries and values get a bias.
        pretrained_window_size: `(height, width)` whose `w - 1` normalises the coordinates; 0 or
            `(0, 0)` for the window itself.

    Shape: `(batch * num_windows, tokens, dim)` in and out.
    """

    def __init__(self, num_heads, window_size, qkv_bias=True, dropout_rate=0.0, pretrained_window_size=0, **kwargs):
        super().__init__(num_heads, window_size, qkv_bias, dropout_rate, **kwargs)
        if isinstance(pretrained_window_size, int):
            pretrained_window_size = (pretrained_window_size, pretrained_window_size)
        self.pretrained_window_size = tuple(pretrained_window_size)
        self.coords = log_spaced_coordinates(self.window_size, self.pretrained_window_size)

    def build_projections(self, dim):
        self.qkv = keras.layers.Dense(3 * dim, use_bias=False, name="qkv")
        self.qkv.build((None, dim))
        if self.qkv_bias:
            self.q_bias = self.add_weight(shape=(dim,), initializer="zeros", name="q_bias")
            self.v_bias = self.add_weight(shape=(dim,), initializer="zeros", name="v_bias")

    def build_position_bias(self):
        self.logit_scale = self.add_weight(
            shape=(self.num_heads, 1, 1),
            initializer=keras.initializers.Constant(math.log(10.0)),
            name="logit_scale",
        )
        self.cpb_fc1 = keras.layers.Dense(512, activation="relu", name="cpb_fc1")
        self.cpb_fc1.build((None, 2))
        self.cpb_fc2 = keras.layers.Dense(self.num_heads, use_bias=False, name="cpb_fc2")
        self.cpb_fc2.build((None, 512))

    def project_qkv(self, x):
        x = self.qkv(x)
        if not self.qkv_bias:
            return x
        q_bias, v_bias = ops.cast(self.q_bias, x.dtype), ops.cast(self.v_bias, x.dtype)
        return ops.add(x, ops.concatenate([q_bias, ops.zeros(q_bias.shape, x.dtype), v_bias]))

    def position_bias(self):
        table = self.cpb_fc2(self.cpb_fc1(ops.convert_to_tensor(self.coords)))
        return 16.0 * ops.sigmoid(self._pairs(table))

    def scores(self, q, k):
        scale = ops.exp(ops.minimum(self.logit_scale, MAX_LOGIT_SCALE))
        scale = ops.cast(ops.expand_dims(scale, 1), q.dtype)  # (heads, 1, 1, 1)
        return ops.matmul(_l2_normalize(q) * scale, ops.transpose(_l2_normalize(k), (0, 1, 3, 2)))

    def convert_weight(self, variable, value):
        return value  # the position MLP is continuous: any window takes the same weights

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def get_config(self):
        return {**super().get_config(), "pretrained_window_size": self.pretrained_window_size}


def _l2_normalize(x):
    # `torch.nn.functional.normalize`: x / max(|x|, 1e-12), as a multiply by an rsqrt.
    return x * ops.rsqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-24))


def log_spaced_coordinates(window_size, pretrained_window_size=(0, 0)):
    """Swin V2's input to the position MLP: every offset of a window, log-spaced, timm's order.

    Args:
        window_size: `(window_height, window_width)`.
        pretrained_window_size: `(height, width)` to normalise by; `(0, 0)` for `window_size`.

    Returns:
        float32 NumPy array `((2 * wh - 1) * (2 * ww - 1), 2)` of `(dy, dx)` rows, row-major in
        `(dy, dx)` from `(-(wh - 1), -(ww - 1))`.
    """
    norm = pretrained_window_size if pretrained_window_size[0] > 0 else window_size
    axes = [
        np.arange(-(w - 1), w, dtype=np.float32) / np.float32(max(n - 1, 1))
        for w, n in zip(window_size, norm)
    ]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2) * np.float32(8.0)
    return (np.sign(coords) * np.log2(np.abs(coords) + 1.0) / np.log2(8.0)).astype(np.float32)


def resize_relative_position_bias_table(table, window_size):
    """Resizes a Swin bias table to another window, as timm's `resize_rel_pos_bias_table` does.

    The table's own window is taken to be square (its side from the row count), unless the count
    is not a square and already fits `window_size`. timm's interpolation (its default, without
    SciPy): the source offsets are laid out on a geometric progression that spans the target's
    offsets, and each head's table is interpolated bilinearly on that uneven grid.

    Args:
        table: array `((2 * h - 1) * (2 * w - 1), heads)` of the source window.
        window_size: `(height, width)` of the target window.

    Returns:
        NumPy array `((2 * wh - 1) * (2 * ww - 1), heads)`; `table` itself if the windows agree.
    """
    table = np.asarray(table)
    dst = (2 * window_size[0] - 1, 2 * window_size[1] - 1)
    rows, heads = table.shape
    side = math.isqrt(rows)
    if side * side == rows:
        src = (side, side)
    elif rows == dst[0] * dst[1]:
        src = dst
    else:
        raise ValueError(
            f"A relative position bias table of {rows} rows is not of a square window and does not "
            f"fit the window {tuple(window_size)} (which needs {dst[0] * dst[1]} rows)."
        )
    if src == dst:
        return table
    grids = [_progression(s, d) for s, d in zip(src, dst)]
    targets = [np.arange(-(d // 2), d // 2 + 0.1, 1.0) for d in dst]
    weights = [_linear_weights(g, t) for g, t in zip(grids, targets)]
    values = table.astype(np.float64).T.reshape(heads, *src)
    # Separable bilinear interpolation: rows, then columns.
    values = np.einsum("ty,hyx,sx->hts", weights[0], values, weights[1])
    return values.reshape(heads, -1).T.astype(table.dtype)


def _progression(src, dst):
    """timm's source offsets: `src` points on a geometric progression reaching about `dst // 2`."""
    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if (1.0 - q ** (src // 2)) / (1.0 - q) > dst // 2:
            right = q
        else:
            left = q
    distances, current = [], 1.0
    for i in range(src // 2):
        distances.append(current)
        current += q ** (i + 1)
    return np.array([-d for d in reversed(distances)] + [0.0] + distances, dtype=np.float32).astype(np.float64)


def _linear_weights(points, targets):
    """`(len(targets), len(points))` weights of linear interpolation on an uneven grid, clamped at the
    ends, as timm's `RegularGridInterpolator` computes them."""
    right = np.minimum(np.searchsorted(points, targets, side="left"), len(points) - 1)
    left = np.clip(right - 1, 0, len(points) - 1)
    to_left = np.maximum(targets - points[left], 0.0)
    to_right = np.maximum(points[right] - targets, 0.0)
    both_zero = (to_left == 0) & (to_right == 0)
    to_left[both_zero] = to_right[both_zero] = 1.0
    weights = np.zeros((len(targets), len(points)))
    total = to_left + to_right
    np.add.at(weights, (np.arange(len(targets)), left), to_right / total)
    np.add.at(weights, (np.arange(len(targets)), right), to_left / total)
    return weights
