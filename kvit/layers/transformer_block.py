import keras

from kvit.layers.attention import MultiHeadSelfAttention
from kvit.layers.drop_path import DropPath
from kvit.layers.mlp import MLP
from kvit.layers.normalization import LayerNorm


@keras.saving.register_keras_serializable(package="kvit")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer encoder block, timm's `Block`.

    `x + drop_path(attn(norm1(x)))`, then `x + drop_path(mlp(norm2(x)))`.

    Args:
        num_heads: int, attention heads.
        mlp_ratio: float, MLP hidden width over the block width.
        qkv_bias: bool, bias on the fused qkv projection.
        epsilon: float, LayerNorm epsilon (ViT 1e-6, MobileViT 1e-5).
        activation: MLP activation (ViT `"gelu"`, MobileViT `"silu"`).
        drop_path_rate: float, stochastic depth of both residual branches.
        dropout_rate: float, dropout after the attention and MLP projections.

    Shape: `(batch, tokens, dim)` in and out.
    """

    def __init__(
        self,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        epsilon=1e-6,
        activation="gelu",
        drop_path_rate=0.0,
        dropout_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.epsilon = epsilon
        self.activation = activation
        self.drop_path_rate = drop_path_rate
        self.dropout_rate = dropout_rate
        self.norm1 = LayerNorm(epsilon, name="norm1")
        self.attn = MultiHeadSelfAttention(num_heads, qkv_bias, dropout_rate, name="attn")
        self.norm2 = LayerNorm(epsilon, name="norm2")
        self.drop_path = DropPath(drop_path_rate)

    def build(self, input_shape):
        self.mlp = MLP(int(input_shape[-1] * self.mlp_ratio), self.activation, self.dropout_rate, name="mlp")
        for layer in (self.norm1, self.attn, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, training=None):
        x = x + self.drop_path(self.attn(self.norm1(x), training=training), training=training)
        return x + self.drop_path(self.mlp(self.norm2(x), training=training), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "epsilon": self.epsilon,
            "activation": self.activation,
            "drop_path_rate": self.drop_path_rate,
            "dropout_rate": self.dropout_rate,
        }
