"""MobileViTv2's separable self-attention (Mehta & Rastegari 2023): attention linear in the tokens.

`LinearTransformerBlock` is timm's `LinearTransformerBlock`: pre-norm, with one-group
normalisation (`SingleGroupNorm`, timm's `GroupNorm1`) and `LinearSelfAttention`.
"""

import keras
from keras import ops

from kvit.layers.attention import softmax
from kvit.layers.drop_path import DropPath
from kvit.layers.mlp import MLP
from kvit.layers.normalization import standardize


@keras.saving.register_keras_serializable(package="kvit")
class SingleGroupNorm(keras.layers.Layer):
    """Group normalisation with one group, timm's `GroupNorm1`: MobileViTv2's norm.

    The mean and variance run over all of a sample's values (pixels, patches and channels), not
    per token as in LayerNorm; the scale and shift are per channel. Written as
    `(x - mean) * rsqrt(var + eps)` like `kvit.layers.LayerNorm`, so quantized graphs stay integer.

    Args:
        epsilon: float, added to the variance.

    Shape: `(batch, ..., channels)` in and out.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        dim = input_shape[-1]
        self.gamma = self.add_weight(shape=(dim,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(dim,), initializer="zeros", name="beta")

    def call(self, x):
        axes = tuple(range(1, len(x.shape)))
        return standardize(x, axes, self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kvit")
class LinearSelfAttention(keras.layers.Layer):
    """MobileViTv2's separable self-attention, linear in the number of patches.

    One projection gives each token a score, a key and a value; the scores are softmaxed over the
    patches (separately for each pixel offset), the context is the score-weighted sum of the keys,
    and the output is `out_proj(relu(values) * context)`.

    Shape: `(batch, pixels, patches, dim)` in and out.
    """

    def build(self, input_shape):
        dim = input_shape[-1]
        self.qkv_proj = keras.layers.Dense(1 + 2 * dim, name="qkv_proj")
        self.qkv_proj.build(input_shape)
        self.out_proj = keras.layers.Dense(dim, name="out_proj")
        self.out_proj.build(input_shape)

    def call(self, x):
        dim = x.shape[-1]
        qkv = self.qkv_proj(x)
        scores, keys, values = qkv[..., :1], qkv[..., 1 : 1 + dim], qkv[..., 1 + dim :]
        scores = softmax(scores, axis=2)
        context = ops.sum(keys * scores, axis=2, keepdims=True)
        return self.out_proj(ops.relu(values) * context)


@keras.saving.register_keras_serializable(package="kvit")
class LinearTransformerBlock(keras.layers.Layer):
    """MobileViTv2's pre-norm transformer block: `SingleGroupNorm`s, `LinearSelfAttention`, SiLU MLP.

    Args:
        mlp_ratio: float, MLP hidden width over the block width.
        drop_path_rate: float, stochastic depth of both residual branches.

    Shape: `(batch, pixels, patches, dim)` in and out.
    """

    def __init__(self, mlp_ratio=2.0, drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mlp_ratio = mlp_ratio
        self.drop_path_rate = drop_path_rate
        self.norm1 = SingleGroupNorm(name="norm1")
        self.attn = LinearSelfAttention(name="attn")
        self.norm2 = SingleGroupNorm(name="norm2")
        self.drop_path = DropPath(drop_path_rate)

    def build(self, input_shape):
        self.mlp = MLP(int(input_shape[-1] * self.mlp_ratio), "silu", name="mlp")
        for layer in (self.norm1, self.attn, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, training=None):
        x = x + self.drop_path(self.attn(self.norm1(x)), training=training)
        return x + self.drop_path(self.mlp(self.norm2(x), training=training), training=training)

    def get_config(self):
        return {**super().get_config(), "mlp_ratio": self.mlp_ratio, "drop_path_rate": self.drop_path_rate}
