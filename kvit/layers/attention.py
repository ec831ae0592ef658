import keras
from keras import ops

from kvit.layers.normalization import HALF_DTYPES


def softmax(x, axis=-1):
    """`ops.softmax`, computed in float32 for half-precision inputs (mixed precision) and cast back:
    float16 sums of exponentials lose the small terms."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype in HALF_DTYPES:
        return ops.cast(ops.softmax(ops.cast(x, "float32"), axis=axis), dtype)
    return ops.softmax(x, axis=axis)


@keras.saving.register_keras_serializable(package="kvit")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with one fused `qkv` projection, as in timm's `Attention`.

    The `qkv` output is laid out `[q | k | v]`, each `(heads, head_dim)`, so a timm checkpoint's
    `attn.qkv` maps onto it with a transpose only. The attention is written out as two batched
    matmuls around a softmax (scale `head_dim ** -0.5`; the softmax in float32 under mixed
    precision) in the `(heads, batch, tokens, head_dim)` layout: on CPU TensorFlow runs this
    faster than `keras.ops.dot_product_attention`'s einsums, and TFLite lowers it to BATCH_MATMUL
    with no extra transposes. Heads lead so that `q`, `k` and `v` split off the first axis, which
    TensorFlow and PyTorch do as views, without a copy. The projections run on `(batch * tokens,
    dim)` (see `MLP`). Every reshape and transpose stays at rank 4 or below, which TFLite's
    builtins require.

    Args:
        num_heads: int, number of heads; must divide the input width.
        qkv_bias: bool, whether the `qkv` projection has a bias.
        dropout_rate: float, dropout after the output projection.

    Shape: `(batch, tokens, dim)` in and out.
    """

    def __init__(self, num_heads, qkv_bias=True, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.qkv_bias = qkv_bias
        self.dropout_rate = dropout_rate
        self.dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"`num_heads`={self.num_heads} must divide the attention width {dim}."
            )
        self.head_dim = dim // self.num_heads
        self.qkv = keras.layers.Dense(3 * dim, use_bias=self.qkv_bias, name="qkv")
        self.qkv.build(input_shape)
        self.proj = keras.layers.Dense(dim, name="proj")
        self.proj.build(input_shape)

    def call(self, x, training=None):
        batch, dim = ops.shape(x)[0], x.shape[2]
        qkv = ops.reshape(self.qkv(ops.reshape(x, (-1, dim))), (batch, -1, 3 * self.num_heads, self.head_dim))
        q, k, v = ops.split(ops.transpose(qkv, (2, 0, 1, 3)), 3, axis=0)  # (heads, batch, tokens, head_dim)
        scores = ops.matmul(q * self.head_dim**-0.5, ops.transpose(k, (0, 1, 3, 2)))
        x = ops.matmul(softmax(scores, axis=-1), v)
        x = self.proj(ops.reshape(ops.transpose(x, (1, 2, 0, 3)), (-1, dim)))
        return ops.reshape(self.dropout(x, training=training), (batch, -1, dim))

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "qkv_bias": self.qkv_bias,
            "dropout_rate": self.dropout_rate,
        }
