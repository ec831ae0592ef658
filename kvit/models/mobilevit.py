"""MobileViT (Mehta & Rastegari 2022) and MobileViTv2 (Mehta & Rastegari 2023), as timm builds them.

Reference: `timm/models/mobilevit.py` (the blocks) on `timm/models/byobnet.py` (stem, stages, head).
A 3x3 stride-2 stem; stages of MobileNetV2 inverted residuals, each but the first halving the map
(timm's variants: five stages, strides 2 to 32), the last ones ending in a MobileViT block; then
(v1 only) a 1x1 `final_conv`, and the classifier. Any image size works, including `None` (for
multi-scale training): maps the patches do not tile are resized inside the blocks, as in timm.
"""

import functools
import re

import keras
import numpy as np
from keras import ops

from kvit.layers import (
    ConvNormAct,
    InvertedResidual,
    LayerNorm,
    LinearTransformerBlock,
    SingleGroupNorm,
    TransformerBlock,
    make_divisible,
    resize_bilinear,
)
from kvit.models import backbone
from kvit.models.arguments import check_float, check_int, check_ints, check_rate
from kvit.models.features import register_feature_levels
from kvit.models.timm_layout import batch_norm, conv_kernel, depthwise_kernel, linear_kernel

# timm's `mobilevit_{xxs,xs,s}`: stage widths, inverted residuals per stage, their expansion, and
# the width and depth of the transformers in the last three stages.
MOBILEVIT_VARIANTS = {
    "xxs": dict(
        stem_width=16, widths=(16, 24, 48, 64, 80), expansion_ratio=2.0,
        transformer_widths=(64, 80, 96), head_width=320,
    ),
    "xs": dict(
        stem_width=16, widths=(32, 48, 64, 80, 96), expansion_ratio=4.0,
        transformer_widths=(96, 120, 144), head_width=384,
    ),
    "s": dict(
        stem_width=16, widths=(32, 64, 96, 128, 160), expansion_ratio=4.0,
        transformer_widths=(144, 192, 240), head_width=640,
    ),
}


def _v2_widths(multiplier):
    return dict(
        stem_width=int(32 * multiplier),
        widths=tuple(int(c * multiplier) for c in (64, 128, 256, 384, 512)),
    )


# timm's `mobilevitv2_{050..200}`: every width is the 1.0 model's times the multiplier.
MOBILEVIT_V2_VARIANTS = {
    f"{round(m * 100):03d}": _v2_widths(m) for m in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
}

# Layers that belong to the classifier: fresh when `classes` differs from a checkpoint's, absent
# without the top.
HEAD_LAYERS = ("head",)
EPSILON = 1e-5


def unfold_patches(x, patch_size):
    """Cuts a feature map into patches, pixels at the same offset inside their patch together.

    timm's order: the offset `(dy, dx)` indexes axis 1 as `dy * patch_size + dx`, the patch
    `(row, col)` indexes axis 2 row-major. Two rank-4 transposes, as TFLite's builtins require.

    Args:
        x: `(batch, height, width, channels)`, height and width divisible by `patch_size`.
        patch_size: int, side of the square patch.

    Returns:
        `(batch, patch_size ** 2, (height // patch_size) * (width // patch_size), channels)`.
    """
    height, width = ops.shape(x)[1:3]
    rows, cols, channels = height // patch_size, width // patch_size, x.shape[-1]
    x = ops.reshape(x, (-1, rows, patch_size, cols * patch_size * channels))
    x = ops.transpose(x, (0, 2, 1, 3))  # (batch, dy, row, (col, dx, channel))
    x = ops.reshape(x, (-1, rows * cols, patch_size, channels))
    x = ops.transpose(x, (0, 2, 1, 3))  # (batch * dy, dx, patch, channel)
    return ops.reshape(x, (-1, patch_size * patch_size, rows * cols, channels))


def fold_patches(x, size, patch_size):
    """The inverse of `unfold_patches`: `(batch, pixels, patches, channels)` back to a map of `size`."""
    height, width = size
    rows, cols, channels = height // patch_size, width // patch_size, x.shape[-1]
    x = ops.reshape(x, (-1, patch_size, rows * cols, channels))
    x = ops.transpose(x, (0, 2, 1, 3))  # (batch * dy, patch, dx, channel)
    x = ops.reshape(x, (-1, patch_size, rows, cols * patch_size * channels))
    x = ops.transpose(x, (0, 2, 1, 3))  # (batch, row, dy, (col, dx, channel))
    return ops.reshape(x, (-1, height, width, channels))


def _patch_multiple(size, patch_size):
    """`size` rounded up to multiples of `patch_size`; ints or, in any-size TensorFlow graphs, tensors."""
    return tuple(-(-s // patch_size) * patch_size if s is not None else None for s in size)


def _needs_resize(size, padded):
    # A size unknown while tracing may need it; resizing to the same size is exactly the identity.
    return not all(isinstance(s, int) for s in size) or padded != size


@keras.saving.register_keras_serializable(package="kvit")
class MobileViTBlock(keras.layers.Layer):
    """The MobileViT (v1) block, timm's `MobileVitBlock`.

    Local: a `kernel_size` ConvNormAct, then a bias-free 1x1 to `transformer_width`. Global: the
    map is cut into `patch_size` x `patch_size` patches and the pixels at the same offset inside
    their patches form one sequence (the offset goes to the batch axis), across which
    `transformer_depth` pre-norm TransformerBlocks attend (LayerNorm eps 1e-5, SiLU MLP, qkv bias),
    then a LayerNorm. Folded back, a 1x1 ConvNormAct returns to the input width and a `kernel_size`
    ConvNormAct fuses `concat(input, x)`. A map `patch_size` does not divide is resized
    bilinearly (half-pixel centres) up to the next multiple after the local convolutions, and back
    after folding, as timm does.

    Args:
        transformer_width: int, token width of the transformer.
        transformer_depth: int, number of transformer blocks.
        num_heads: int, attention heads.
        patch_size: int, side of the square patch.
        mlp_ratio: float, MLP hidden width over `transformer_width`.
        kernel_size: int, kernel of the local and fusion convolutions.
        drop_path_rate: float, stochastic depth of every transformer block.

    Shape: `(batch, height, width, channels)` in and out.
    """

    def __init__(
        self,
        transformer_width,
        transformer_depth,
        num_heads=4,
        patch_size=2,
        mlp_ratio=2.0,
        kernel_size=3,
        drop_path_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.transformer_width = transformer_width
        self.transformer_depth = transformer_depth
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.mlp_ratio = mlp_ratio
        self.kernel_size = kernel_size
        self.drop_path_rate = drop_path_rate
        self.conv_1x1 = keras.layers.Conv2D(transformer_width, 1, use_bias=False, name="conv_1x1")
        self.transformer = [
            TransformerBlock(
                num_heads,
                mlp_ratio,
                qkv_bias=True,
                epsilon=EPSILON,
                activation="silu",
                drop_path_rate=drop_path_rate,
                name=f"transformer_{i}",
            )
            for i in range(transformer_depth)
        ]
        self.norm = LayerNorm(EPSILON, name="norm")

    def build(self, input_shape):
        batch, height, width, channels = input_shape
        self.conv_kxk = ConvNormAct(channels, self.kernel_size, epsilon=EPSILON, name="conv_kxk")
        self.conv_proj = ConvNormAct(channels, 1, epsilon=EPSILON, name="conv_proj")
        self.conv_fusion = ConvNormAct(channels, self.kernel_size, epsilon=EPSILON, name="conv_fusion")
        self.conv_kxk.build(input_shape)
        self.conv_1x1.build(input_shape)
        padded = _patch_multiple((height, width), self.patch_size)
        tokens = None if None in padded else (padded[0] // self.patch_size) * (padded[1] // self.patch_size)
        tokens_shape = (None, tokens, self.transformer_width)
        for layer in (*self.transformer, self.norm):
            layer.build(tokens_shape)
        self.conv_proj.build((batch, height, width, self.transformer_width))
        self.conv_fusion.build((batch, height, width, 2 * channels))

    def call(self, inputs, training=None):
        x = self.conv_1x1(self.conv_kxk(inputs, training=training))
        size = tuple(ops.shape(x)[1:3])
        padded = _patch_multiple(size, self.patch_size)
        resize = _needs_resize(size, padded)
        if resize:
            x = resize_bilinear(x, padded)
        patches = unfold_patches(x, self.patch_size)
        pixels, num_patches, dim = self.patch_size**2, ops.shape(patches)[2], self.transformer_width
        tokens = ops.reshape(patches, (-1, num_patches, dim))  # the pixel offset joins the batch
        for block in self.transformer:
            tokens = block(tokens, training=training)
        tokens = self.norm(tokens)
        x = fold_patches(ops.reshape(tokens, (-1, pixels, num_patches, dim)), padded, self.patch_size)
        if resize:
            x = resize_bilinear(x, size)
        x = self.conv_proj(x, training=training)
        return self.conv_fusion(ops.concatenate([inputs, x], axis=-1), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "transformer_width": self.transformer_width,
            "transformer_depth": self.transformer_depth,
            "num_heads": self.num_heads,
            "patch_size": self.patch_size,
            "mlp_ratio": self.mlp_ratio,
            "kernel_size": self.kernel_size,
            "drop_path_rate": self.drop_path_rate,
        }


@keras.saving.register_keras_serializable(package="kvit")
class MobileViTV2Block(keras.layers.Layer):
    """The MobileViTv2 block, timm's `MobileVitV2Block`.

    Local: a `kernel_size` depthwise ConvNormAct, then a bias-free 1x1 to `transformer_width`.
    Global: `unfold_patches` into `(batch, pixels, patches, width)`, `transformer_depth`
    `LinearTransformerBlock`s, a `SingleGroupNorm`, `fold_patches`; then a 1x1 conv and BatchNorm
    without activation back to the input width. There is no fusion with the input. A map
    `patch_size` does not divide is first resized bilinearly with `align_corners=True` up to the
    next multiple and stays that size, as in timm: the output is then larger than the input.

    Args:
        transformer_width: int, token width of the transformer.
        transformer_depth: int, number of transformer blocks.
        patch_size: int, side of the square patch.
        mlp_ratio: float, MLP hidden width over `transformer_width`.
        kernel_size: int, kernel of the depthwise convolution.
        drop_path_rate: float, stochastic depth of every transformer block.

    Shape: `(batch, height, width, channels)` in, `(batch, height', width', channels)` out, with
        `height'` and `width'` rounded up to multiples of `patch_size`.
    """

    def __init__(
        self,
        transformer_width,
        transformer_depth,
        patch_size=2,
        mlp_ratio=2.0,
        kernel_size=3,
        drop_path_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.transformer_width = transformer_width
        self.transformer_depth = transformer_depth
        self.patch_size = patch_size
        self.mlp_ratio = mlp_ratio
        self.kernel_size = kernel_size
        self.drop_path_rate = drop_path_rate
        self.conv_1x1 = keras.layers.Conv2D(transformer_width, 1, use_bias=False, name="conv_1x1")
        self.transformer = [
            LinearTransformerBlock(mlp_ratio, drop_path_rate, name=f"transformer_{i}")
            for i in range(transformer_depth)
        ]
        self.norm = SingleGroupNorm(EPSILON, name="norm")

    def build(self, input_shape):
        batch, _, _, channels = input_shape
        height, width = _patch_multiple(input_shape[1:3], self.patch_size)
        self.conv_kxk = ConvNormAct(
            channels, self.kernel_size, groups=channels, epsilon=EPSILON, name="conv_kxk"
        )
        self.conv_proj = ConvNormAct(channels, 1, activation=None, epsilon=EPSILON, name="conv_proj")
        padded_shape = (batch, height, width, channels)
        self.conv_kxk.build(padded_shape)
        self.conv_1x1.build(padded_shape)
        pixels = self.patch_size * self.patch_size
        tokens = None if height is None or width is None else (height * width) // pixels
        tokens_shape = (batch, pixels, tokens, self.transformer_width)
        for layer in (*self.transformer, self.norm):
            layer.build(tokens_shape)
        self.conv_proj.build((batch, height, width, self.transformer_width))

    def call(self, x, training=None):
        size = tuple(ops.shape(x)[1:3])
        padded = _patch_multiple(size, self.patch_size)
        if _needs_resize(size, padded):
            x = resize_bilinear(x, padded, align_corners=True)
        x = self.conv_1x1(self.conv_kxk(x, training=training))
        x = unfold_patches(x, self.patch_size)
        for block in self.transformer:
            x = block(x, training=training)
        x = fold_patches(self.norm(x), padded, self.patch_size)
        return self.conv_proj(x, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "transformer_width": self.transformer_width,
            "transformer_depth": self.transformer_depth,
            "patch_size": self.patch_size,
            "mlp_ratio": self.mlp_ratio,
            "kernel_size": self.kernel_size,
            "drop_path_rate": self.drop_path_rate,
        }


def MobileViT(
    input_shape=(256, 256, 3),
    *,
    stem_width=16,
    widths=(16, 24, 48, 64, 80),
    depths=(1, 3, 1, 1, 1),
    expansion_ratio=2.0,
    transformer_widths=(64, 80, 96),
    transformer_depths=(2, 4, 3),
    head_width=320,
    num_heads=4,
    patch_size=2,
    mlp_ratio=2.0,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    include_top=True,
    classes=1000,
    classifier_activation=None,
    pooling=None,
    input_tensor=None,
    include_preprocessing=True,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    name="mobilevit",
):
    """Builds a MobileViT (v1) as a functional `keras.Model`; the defaults are MobileViT-XXS.

    Args:
        input_shape: `(height, width, channels)`; any size: maps the patches do not tile are
            resized inside each MobileViT block, as timm does. Height and width may be None for a
            model that takes every size (multi-scale training, `kvit.recipes.multiscale`).
        stem_width: int, channels of the 3x3 stride-2 stem.
        widths: channels of the stages, the first at stride 2, each next at twice the stride.
        depths: inverted residual blocks per stage, each at least 1.
        expansion_ratio: float, hidden width of the inverted residuals over their input width.
        transformer_widths: token widths of the MobileViT blocks that end the last
            `len(transformer_widths)` stages.
        transformer_depths: transformer blocks in each of those MobileViT blocks.
        head_width: int, channels of the 1x1 `final_conv` before pooling; 0 for none.
        num_heads: int, attention heads.
        patch_size: int, side of the square patches the MobileViT blocks attend across.
        mlp_ratio: float, transformer MLP hidden width over its token width.
        drop_path_rate: float, stochastic depth of the last block, rising linearly from 0.
        dropout_rate: float, dropout before the classifier.
        include_top: bool, whether to end in the classifier.
        classes: int, classifier outputs.
        classifier_activation: activation on the classifier output; None for logits.
        pooling: without the top: None returns the last feature map, `"avg"`/`"max"` pool it.
        input_tensor: optional Keras tensor to build on.
        include_preprocessing: bool, whether the model maps [0, 255] pixels with `mean`/`std`.
        mean, std: per-channel statistics in [0, 1] units of the weights the model will carry.
        name: model name.
    """
    transformer_widths = check_ints("transformer_widths", transformer_widths)
    transformer_depths = check_ints("transformer_depths", transformer_depths)
    if len(transformer_widths) != len(transformer_depths):
        raise ValueError(
            f"`transformer_widths` {transformer_widths} and `transformer_depths` "
            f"{transformer_depths} must have one entry per MobileViT stage."
        )
    num_heads = check_int("num_heads", num_heads)
    if any(width % num_heads for width in transformer_widths):
        raise ValueError(f"`num_heads`={num_heads} must divide every `transformer_widths` {transformer_widths}.")
    head_width = check_int("head_width", head_width, minimum=0)
    patch_size = check_int("patch_size", patch_size)
    mlp_ratio = _check_mlp_ratio(mlp_ratio, min(transformer_widths))
    blocks = [
        functools.partial(
            MobileViTBlock, width, depth, num_heads=num_heads, patch_size=patch_size, mlp_ratio=mlp_ratio
        )
        for width, depth in zip(transformer_widths, transformer_depths)
    ]
    body = _body(
        stem_width=stem_width, widths=widths, depths=depths, expansion_ratio=expansion_ratio, blocks=blocks,
        head_width=head_width, drop_path_rate=drop_path_rate,
    )
    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout_rate=check_rate("dropout_rate", dropout_rate), name=name,
    )


def MobileViTV2(
    input_shape=(256, 256, 3),
    *,
    stem_width=32,
    widths=(64, 128, 256, 384, 512),
    depths=(1, 2, 1, 1, 1),
    expansion_ratio=2.0,
    transformer_depths=(2, 4, 3),
    transformer_ratio=0.5,
    patch_size=2,
    mlp_ratio=2.0,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    include_top=True,
    classes=1000,
    classifier_activation=None,
    pooling=None,
    input_tensor=None,
    include_preprocessing=True,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    name="mobilevitv2",
):
    """Builds a MobileViTv2 as a functional `keras.Model`; the defaults are MobileViTv2-1.0.

    Args:
        input_shape: `(height, width, channels)`; any size, or None for height and width: a
            MobileViTv2 block rounds a map the patches do not tile up to the next multiple (timm's
            rule), so later maps can be larger than `ceil(size / stride)`.
        stem_width: int, channels of the 3x3 stride-2 stem.
        widths: channels of the stages, the first at stride 2, each next at twice the stride.
        depths: inverted residual blocks per stage, each at least 1.
        expansion_ratio: float, hidden width of the inverted residuals over their input width.
        transformer_depths: linear-attention blocks in the MobileViTv2 blocks that end the last
            `len(transformer_depths)` stages.
        transformer_ratio: float, token width of those blocks over their stage width.
        patch_size: int, side of the square patches.
        mlp_ratio: float, transformer MLP hidden width over its token width.
        drop_path_rate, dropout_rate, include_top, classes, classifier_activation: as in `MobileViT`.
        pooling, input_tensor, include_preprocessing, mean, std, name: as in `MobileViT`; there is
            no `final_conv`.
    """
    transformer_depths = check_ints("transformer_depths", transformer_depths)
    transformer_ratio = check_float("transformer_ratio", transformer_ratio)
    patch_size = check_int("patch_size", patch_size)
    widths = check_ints("widths", widths)
    first = len(widths) - len(transformer_depths)
    if first < 0:
        raise ValueError(
            f"`transformer_depths` {transformer_depths} has more entries than `widths` {widths} has stages."
        )
    mlp_ratio = _check_mlp_ratio(mlp_ratio, min(make_divisible(transformer_ratio * w) for w in widths[first:]))
    blocks = [
        functools.partial(
            MobileViTV2Block,
            make_divisible(transformer_ratio * width),
            depth,
            patch_size=patch_size,
            mlp_ratio=mlp_ratio,
        )
        for width, depth in zip(widths[first:], transformer_depths)
    ]
    body = _body(
        stem_width=stem_width, widths=widths, depths=depths, expansion_ratio=expansion_ratio, blocks=blocks,
        head_width=0, drop_path_rate=drop_path_rate,
    )
    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout_rate=check_rate("dropout_rate", dropout_rate), name=name,
    )


def _check_mlp_ratio(mlp_ratio, narrowest):
    mlp_ratio = check_float("mlp_ratio", mlp_ratio)
    if int(narrowest * mlp_ratio) < 1:
        raise ValueError(f"`mlp_ratio`={mlp_ratio} leaves the MLP of width {narrowest} no hidden unit.")
    return mlp_ratio


def _body(*, stem_width, widths, depths, expansion_ratio, blocks, head_width, drop_path_rate):
    """The network both versions share, from normalised images to the last map, as a function
    for `backbone.functional_model`; `blocks` makes the MobileViT block of each last stage. The
    arguments are checked here, before anything is built."""
    stem_width = check_int("stem_width", stem_width)
    widths = check_ints("widths", widths)
    depths = check_ints("depths", depths)
    if len(depths) != len(widths):
        raise ValueError(f"`widths` {widths} and `depths` {depths} must have one entry per stage each.")
    expansion_ratio = check_float("expansion_ratio", expansion_ratio)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    if len(blocks) > len(widths):
        raise ValueError(
            f"`widths` {widths} has {len(widths)} stages, fewer than the {len(blocks)} that end in a "
            "transformer (`transformer_depths`)."
        )

    def body(x):
        x = ConvNormAct(stem_width, 3, strides=2, epsilon=EPSILON, name="stem")(x)
        # timm spaces the stochastic depth over all blocks, a MobileViT block counting as one.
        rates = iter(np.linspace(0.0, drop_path_rate, sum(depths) + len(blocks)).tolist())
        first_transformer_stage = len(widths) - len(blocks)
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            for index in range(depth):
                x = InvertedResidual(
                    width,
                    expansion_ratio,
                    strides=2 if stage > 0 and index == 0 else 1,
                    epsilon=EPSILON,
                    drop_path_rate=next(rates),
                    name=f"stages_{stage}_{index}",
                )(x)
            if stage >= first_transformer_stage:
                block = blocks[stage - first_transformer_stage]
                x = block(drop_path_rate=next(rates), name=f"stages_{stage}_{depth}")(x)
        if head_width:
            x = ConvNormAct(head_width, 1, epsilon=EPSILON, name="final_conv")(x)
        return x

    return body


@register_feature_levels
def feature_levels(model):
    """MobileViT's feature levels (see `kvit.models.feature_extractor`): the stage outputs.

    Level `"P{k}"` is the end of the stage at stride `2 ** k` (for timm's variants five stages,
    P1 to P5); the last is taken after `final_conv` where there is one, as timm's `features_only`
    does. All are the default. None when `model` is not a kvit MobileViT or MobileViTv2.
    """
    if not any(isinstance(layer, (MobileViTBlock, MobileViTV2Block)) for layer in model.layers):
        return None
    stage_ends = {}
    for layer in model.layers:
        match = re.fullmatch(r"stages_(\d+)_(\d+)", layer.name)
        if match:
            stage_ends[int(match[1])] = layer  # layers come in graph order: the last one wins
    outputs = [stage_ends[stage].output for stage in sorted(stage_ends)]
    if any(layer.name == "final_conv" for layer in model.layers):
        outputs[-1] = model.get_layer("final_conv").output
    # The stem halves the map, the first stage keeps it and every later one halves it again.
    levels = {f"P{stage + 1}": (2 ** (stage + 1), output) for stage, output in enumerate(outputs)}
    return levels, list(levels)


_BLOCK_RENAMES = {"conv1_1x1": "expand_conv", "conv2_kxk": "depthwise_conv", "conv3_1x1": "project_conv"}
_NORM_PARAMS = {"weight": "gamma", "bias": "beta"}
_POINTWISE_DENSE = ("qkv_proj", "out_proj", "fc1", "fc2")


def convert_timm_checkpoint(state_dict):
    """Maps a timm MobileViT / MobileViTv2 state dict (NumPy arrays) to kvit variable paths.

    `stages.2.1.transformer.0.attn.qkv.weight` becomes `stages_2_1/transformer_0/attn/qkv/kernel`;
    the inverted residuals' `conv1_1x1`, `conv2_kxk` and `conv3_1x1` become `expand_conv`,
    `depthwise_conv` and `project_conv`; `head.fc` becomes `head`.

    Returns:
        dict from kvit variable path to array. Keys it does not know raise, so a checkpoint of
        another architecture is refused, not half-used.
    """
    arrays, unknown = {}, []
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[-1] == "num_batches_tracked":
            continue
        if parts[0] == "stages" and len(parts) >= 5 and parts[1].isdigit() and parts[2].isdigit():
            modules = [f"stages_{parts[1]}_{parts[2]}", *parts[3:-1]]
        elif parts[0] in ("stem", "final_conv") and len(parts) == 3:
            modules = parts[:-1]
        elif parts[:2] == ["head", "fc"] and len(parts) == 3:
            modules = ["head"]
        else:
            unknown.append(key)
            continue
        modules = [_BLOCK_RENAMES.get(m, m) for m in modules]
        modules = re.sub(r"transformer/(\d+)", r"transformer_\1", "/".join(modules))
        module, param = modules.rsplit("/", 1)[-1], parts[-1]
        if module == "bn":
            if param == "weight":
                arrays.update(batch_norm(key[: -len(".weight")], modules, state_dict))
            elif param not in ("bias", "running_mean", "running_var"):
                unknown.append(key)
        elif module.startswith("norm") and param in _NORM_PARAMS:
            arrays[f"{modules}/{_NORM_PARAMS[param]}"] = value
        elif param == "bias":
            arrays[f"{modules}/bias"] = value
        elif param == "weight":
            arrays[f"{modules}/kernel"] = _kernel(key, module, value)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"Not a timm MobileViT checkpoint: unknown tensors {unknown[:8]}.")
    return arrays


def _kernel(key, module, value):
    if value.ndim == 2:
        return linear_kernel(value)
    if module in _POINTWISE_DENSE:  # MobileViTv2's 1x1 convs, Dense layers here
        return linear_kernel(value[:, :, 0, 0])
    # Depthwise kernels are (channels, 1, k, k); the stem is the one conv a 1-channel input shares that with.
    if value.shape[1] == 1 and not key.startswith("stem."):
        return depthwise_kernel(value)
    return conv_kernel(value)
