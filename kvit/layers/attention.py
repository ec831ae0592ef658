import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with one fused `qkv` projection, as in timm's `Attention`.

    The `qkv` output is laid out `[q | k | v]`, each `(heads, head_dim)`, so a timm checkpoint's
    `attn.qkv` maps onto it with a transpose only. The softmax attention itself is
    `keras.ops.dot_product_attention` (scale `head_dim ** -0.5`), the fused kernel of each backend.
    Every reshape and transpose stays at rank 4 or below, which TFLite's builtins require.

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
        heads = [
            ops.reshape(t, (batch, -1, self.num_heads, self.head_dim))
            for t in ops.split(self.qkv(x), 3, axis=-1)
        ]
        x = ops.dot_product_attention(*heads)
        x = self.proj(ops.reshape(x, (batch, -1, dim)))
        return self.dropout(x, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "qkv_bias": self.qkv_bias,
            "dropout_rate": self.dropout_rate,
        }
