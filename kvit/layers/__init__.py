"""Building blocks shared by several model families, in `keras.ops` only."""

from kvit.layers.attention import MultiHeadSelfAttention
from kvit.layers.conv_norm_act import ConvNormAct
from kvit.layers.drop_path import DropPath
from kvit.layers.image_normalization import ImageNormalization
from kvit.layers.interpolation import resize_bilinear
from kvit.layers.inverted_residual import InvertedResidual, make_divisible
from kvit.layers.mlp import MLP
from kvit.layers.normalization import LayerNorm
from kvit.layers.patch_embedding import PatchEmbedding
from kvit.layers.position_embedding import (
    PositionEmbedding,
    resample_position_embedding,
    sincos_position_embedding,
)
from kvit.layers.prefix_tokens import PrefixTokens
from kvit.layers.separable_attention import LinearSelfAttention, LinearTransformerBlock, SingleGroupNorm
from kvit.layers.token_readout import TokenPooling, TokensToGrid
from kvit.layers.transformer_block import TransformerBlock
from kvit.layers.window_attention import CosineWindowAttention, WindowAttention
