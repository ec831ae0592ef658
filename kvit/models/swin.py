"""Swin Transformer (Liu et al. 2021) and Swin Transformer V2 (Liu et al. 2022), as timm builds them.

Reference: `timm/models/swin_transformer.py` and `timm/models/swin_transformer_v2.py`. A 4x4
patch embedding with a LayerNorm, four stages of window-attention blocks (every second one on
windows shifted by half a window, with the -100 mask), each stage but the first opening with a
2x2 patch merging, a final LayerNorm, average pooling and the classifier. V2 attends with scaled
cosine similarity and a continuous position bias, normalises after each residual branch instead
of before, and merges patches with the reduction before the norm.

Any static image size works as in timm built for that size: the patch embedding drops a remainder
smaller than a patch, maps the windows do not tile are padded (after the shift, as timm does),
patch merging pads odd sizes, and a stage no larger than the window along an axis gets a window of
its size and no shift along that axis (timm's `_calc_window_shift`).
"""

import re

import keras
import numpy as np
from keras import ops

from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
from kvit.layers import MLP, DropPath, LayerNorm
from kvit.layers.window_attention import CosineWindowAttention, WindowAttention
from kvit.layers.windows import cyclic_shift, shifted_window_mask, window_merge, window_partition
from kvit.models import backbone
from kvit.models.arguments import check_bool, check_float, check_int, check_ints, check_rate, is_int
from kvit.models.features import register_feature_levels
from kvit.models.timm_layout import conv_kernel, linear_kernel

_SIZES = {
    "tiny": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    "small": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    "base": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    "large": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
}

# timm's Swin V1 variants by name: `SwinTransformer(**SWIN_VARIANTS["swin_tiny_patch4_window7_224"])`.
SWIN_VARIANTS = {
    f"swin_{size}_patch4_window{window}_{image}": dict(patch_size=4, window_size=window, **_SIZES[size])
    for size, window, image in [
        ("tiny", 7, 224), ("small", 7, 224), ("base", 7, 224), ("large", 7, 224), ("base", 12, 384), ("large", 12, 384),
    ]
}
# timm's Swin V2 variants by name: `SwinTransformerV2(**SWIN_V2_VARIANTS["swinv2_tiny_window8_256"])`.
SWIN_V2_VARIANTS = {
    f"swinv2_{size}_window{window}_256": dict(patch_size=4, window_size=window, **_SIZES[size])
    for size in ("tiny", "small", "base")
    for window in (8, 16)
}

# Layers that belong to the classifier: fresh when `classes` differs from a checkpoint's, absent
# without the top.
HEAD_LAYERS = ("head",)
EPSILON = 1e-5


def window_and_shift(size, window_size, shifted):
    """timm's `_calc_window_shift`: the window and shift of a block on a map of `size`.

    Along an axis where the map is no larger than the window, the window shrinks to the map and
    the shift is 0; elsewhere the shift of a shifted block is half the window.

    Returns:
        `((window_height, window_width), (shift_height, shift_width))`.
    """
    window = tuple(min(s, w) for s, w in zip(size, window_size))
    shift = tuple(0 if not shifted or s <= w else w // 2 for s, w in zip(size, window_size))
    return window, shift


@keras.saving.register_keras_serializable(package="kvit")
class SwinTransformerBlock(keras.layers.Layer):
    """Swin V1's block, timm's `SwinTransformerBlock`: pre-norm (shifted) window attention and MLP.

    `x + drop_path(window_attention(norm1(x)))`, then `x + drop_path(mlp(norm2(x)))`. For the
    attention the map is rolled by minus the shift (slices and a concatenation), padded at the
    bottom and right to whole windows, attended per window (with the shifted-window mask where
    there is a shift), merged, cropped and rolled back.

    Args:
        num_heads: int, attention heads.
        window_size: `(height, width)` of the window asked for; shrunk where the map is smaller
            (see `window_and_shift`).
        shifted: bool, whether this block shifts its windows by half a window.
        mlp_ratio: float, MLP hidden width over the block width.
        qkv_bias: bool, bias on the qkv projection.
        drop_path_rate: float, stochastic depth of both residual branches.

    Shape: `(batch, height, width, channels)` in and out, static height and width.
    """

    def __init__(
        self,
        num_heads,
        window_size=(7, 7),
        shifted=False,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_path_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.shifted = shifted
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.drop_path_rate = drop_path_rate
        self.norm1 = LayerNorm(EPSILON, name="norm1")
        self.norm2 = LayerNorm(EPSILON, name="norm2")
        self.drop_path = DropPath(drop_path_rate)

    def attention_layer(self, window):
        return WindowAttention(self.num_heads, window, self.qkv_bias, name="attn")

    def build(self, input_shape):
        size, dim = tuple(input_shape[1:3]), input_shape[-1]
        self.window, self.shift = window_and_shift(size, self.window_size, self.shifted)
        self.padded = tuple(-(-s // w) * w for s, w in zip(size, self.window))
        self.mask = shifted_window_mask(self.padded, self.window, self.shift) if any(self.shift) else None
        self.attn = self.attention_layer(self.window)
        self.attn.build((None, self.window[0] * self.window[1], dim))
        self.mlp = MLP(int(dim * self.mlp_ratio), "gelu", name="mlp")
        for layer in (self.norm1, self.norm2, self.mlp):
            layer.build(input_shape)

    def window_attention(self, x, training=None):
        """Shift, pad, partition, attend, merge, crop and shift back, on `(batch, h, w, c)`."""
        (height, width), (shift_h, shift_w) = ops.shape(x)[1:3], self.shift
        x = cyclic_shift(cyclic_shift(x, -shift_h, 1), -shift_w, 2)
        pad_h, pad_w = self.padded[0] - height, self.padded[1] - width
        if pad_h or pad_w:
            x = ops.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        windows = self.attn(window_partition(x, self.window), attention_mask=self.mask, training=training)
        x = window_merge(windows, self.window, self.padded)
        return cyclic_shift(cyclic_shift(x, shift_h, 1, height), shift_w, 2, width)

    def call(self, x, training=None):
        x = x + self.drop_path(self.window_attention(self.norm1(x), training), training=training)
        return x + self.drop_path(self.mlp(self.norm2(x), training=training), training=training)

    def convert_weight(self, variable, value):
        """Lets the attention resize a bias table of another window (see `WindowAttention`)."""
        return self.attn.convert_weight(variable, value)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "shifted": self.shifted,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "drop_path_rate": self.drop_path_rate,
        }


@keras.saving.register_keras_serializable(package="kvit")
class SwinTransformerV2Block(SwinTransformerBlock):
    """Swin V2's block, timm's `SwinTransformerV2Block`: post-norm residuals and cosine attention.

    `x + drop_path(norm1(window_attention(x)))`, then `x + drop_path(norm2(mlp(x)))`, the window
    attention a `CosineWindowAttention` with the shifting and padding of `SwinTransformerBlock`.

    Args:
        num_heads, window_size, shifted, mlp_ratio, qkv_bias, drop_path_rate: as in
            `SwinTransformerBlock`.
        pretrained_window_size: int, the window whose size normalises the position MLP's
            coordinates (timm's `pretrained_window_size`); 0 for the block's own window.

    Shape: `(batch, height, width, channels)` in and out, static height and width.
    """

    def __init__(self, num_heads, window_size=(8, 8), pretrained_window_size=0, **kwargs):
        super().__init__(num_heads, window_size, **kwargs)
        self.pretrained_window_size = pretrained_window_size

    def attention_layer(self, window):
        return CosineWindowAttention(
            self.num_heads, window, self.qkv_bias, pretrained_window_size=self.pretrained_window_size, name="attn"
        )

    def call(self, x, training=None):
        x = x + self.drop_path(self.norm1(self.window_attention(x, training)), training=training)
        return x + self.drop_path(self.norm2(self.mlp(x, training=training)), training=training)

    def get_config(self):
        return {**super().get_config(), "pretrained_window_size": self.pretrained_window_size}


@keras.saving.register_keras_serializable(package="kvit")
class PatchMerging(keras.layers.Layer):
    """Halves a map by concatenating each 2x2 neighbourhood, then a LayerNorm and a bias-free Linear.

    timm's `PatchMerging`: an odd height or width is zero-padded at the bottom or right; the four
    pixels are concatenated in the order (top left, bottom left, top right, bottom right), one
    rank-4 transpose. V1 normalises the `4 * channels` before the reduction to `out_dim`; V2
    (`reduction_first=True`) reduces first and normalises the `out_dim`.

    Args:
        out_dim: int, output channels.
        reduction_first: bool, Swin V2's order.

    Shape: `(batch, height, width, channels)` in, `(batch, ceil(height / 2), ceil(width / 2),
        out_dim)` out.
    """

    def __init__(self, out_dim, reduction_first=False, **kwargs):
        super().__init__(**kwargs)
        self.out_dim = out_dim
        self.reduction_first = reduction_first
        self.reduction = keras.layers.Dense(out_dim, use_bias=False, name="reduction")
        self.norm = LayerNorm(EPSILON, name="norm")

    def build(self, input_shape):
        channels = input_shape[-1]
        self.reduction.build((None, 4 * channels))
        self.norm.build((None, self.out_dim if self.reduction_first else 4 * channels))

    def call(self, x):
        height, width, channels = x.shape[1:]
        if height % 2 or width % 2:
            x = ops.pad(x, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)))
            height, width = height + height % 2, width + width % 2
        # (batch * h/2, dy, w, c) -> (batch * h/2, w, dy, c): each output pixel's channels are (dx, dy, c).
        x = ops.transpose(ops.reshape(x, (-1, 2, width, channels)), (0, 2, 1, 3))
        x = ops.reshape(x, (-1, 4 * channels))
        x = self.norm(self.reduction(x)) if self.reduction_first else self.reduction(self.norm(x))
        return ops.reshape(x, (-1, height // 2, width // 2, self.out_dim))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, -(-height // 2), -(-width // 2), self.out_dim)

    def get_config(self):
        return {**super().get_config(), "out_dim": self.out_dim, "reduction_first": self.reduction_first}


def SwinTransformer(
    input_shape=(224, 224, 3),
    *,
    patch_size=4,
    embed_dim=96,
    depths=(2, 2, 6, 2),
    num_heads=(3, 6, 12, 24),
    window_size=7,
    mlp_ratio=4.0,
    qkv_bias=True,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    include_top=True,
    classes=1000,
    classifier_activation=None,
    pooling=None,
    input_tensor=None,
    include_preprocessing=True,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    name="swin",
):
    """Builds a Swin Transformer (V1) as a functional `keras.Model`; the defaults are Swin-T.

    Args:
        input_shape: `(height, width, channels)`, static, at least `patch_size` on each side; any
            such size (see the module docstring).
        patch_size: int, side of the patches the first stage embeds.
        embed_dim: int, width of the first stage; each later stage doubles it.
        depths: blocks per stage, each at least 1.
        num_heads: attention heads per stage; each must divide its stage's width.
        window_size: int or `(height, width)`, the attention window of every stage.
        mlp_ratio: float, MLP hidden width over the block width.
        qkv_bias: bool, bias on the qkv projections.
        drop_path_rate: float, stochastic depth of the last block, rising linearly from 0.
        dropout_rate: float, dropout before the classifier.
        include_top: bool, whether to end in the classifier.
        classes: int, classifier outputs.
        classifier_activation: activation on the classifier output; None for logits.
        pooling: without the top: None returns the last stage's map after the final norm,
            `(batch, h, w, 8 * embed_dim)`; `"avg"`/`"max"` pool it.
        input_tensor: optional Keras tensor to build on.
        include_preprocessing: bool, whether the model maps [0, 255] pixels with `mean`/`std`.
        mean, std: per-channel statistics in [0, 1] units of the weights the model will carry.
        name: model name.
    """
    body = _body(
        SwinTransformerBlock, {}, False,
        input_shape=input_shape, patch_size=patch_size, embed_dim=embed_dim, depths=depths, num_heads=num_heads,
        window_size=window_size, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path_rate=drop_path_rate,
    )
    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout_rate=check_rate("dropout_rate", dropout_rate), name=name,
    )


def SwinTransformerV2(
    input_shape=(256, 256, 3),
    *,
    patch_size=4,
    embed_dim=96,
    depths=(2, 2, 6, 2),
    num_heads=(3, 6, 12, 24),
    window_size=8,
    pretrained_window_sizes=None,
    mlp_ratio=4.0,
    qkv_bias=True,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    include_top=True,
    classes=1000,
    classifier_activation=None,
    pooling=None,
    input_tensor=None,
    include_preprocessing=True,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    name="swinv2",
):
    """Builds a Swin Transformer V2 as a functional `keras.Model`; the defaults are SwinV2-T window 8.

    Args:
        pretrained_window_sizes: per stage, the window of pretraining whose size normalises the
            position MLP's coordinates (timm's argument of that name, for checkpoints fine-tuned
            to a larger window); 0 for the stage's own window, and None for 0 in every stage.
        everything else: as in `SwinTransformer`; `qkv_bias` puts a bias on queries and values.
    """
    depths = check_ints("depths", depths)
    if pretrained_window_sizes is None:
        pretrained_window_sizes = (0,) * len(depths)
    if (
        not isinstance(pretrained_window_sizes, (tuple, list))
        or len(pretrained_window_sizes) != len(depths)
        or not all(is_int(w) and w >= 0 for w in pretrained_window_sizes)
    ):
        raise ValueError(
            f"`pretrained_window_sizes` must be None or one int >= 0 per stage of `depths` {depths}, "
            f"got {pretrained_window_sizes!r}."
        )
    stage_kwargs = [dict(pretrained_window_size=w) for w in pretrained_window_sizes]
    body = _body(
        SwinTransformerV2Block, stage_kwargs, True,
        input_shape=input_shape, patch_size=patch_size, embed_dim=embed_dim, depths=depths, num_heads=num_heads,
        window_size=window_size, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path_rate=drop_path_rate,
    )
    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout_rate=check_rate("dropout_rate", dropout_rate), name=name,
    )


def _body(block, stage_kwargs, v2, *, input_shape, patch_size, embed_dim, depths, num_heads, window_size,
          mlp_ratio, qkv_bias, drop_path_rate):
    """The network both versions share, from normalised images to the final norm's map, as a
    function for `backbone.functional_model`; `block` is the block class, `v2` the patch-merging
    order. The arguments are checked here, before anything is built."""
    _, patch_size, embed_dim, depths, num_heads, window_size = _check_arguments(
        input_shape, patch_size, embed_dim, depths, num_heads, window_size
    )
    mlp_ratio = check_float("mlp_ratio", mlp_ratio)
    if int(embed_dim * mlp_ratio) < 1:
        raise ValueError(f"`mlp_ratio`={mlp_ratio} leaves the MLP of width {embed_dim} no hidden unit.")
    qkv_bias = check_bool("qkv_bias", qkv_bias)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)

    def body(x):
        x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embed")(x)
        x = LayerNorm(EPSILON, name="patch_embed_norm")(x)
        rates = iter(np.linspace(0.0, drop_path_rate, sum(depths)).tolist())
        for stage, (depth, heads) in enumerate(zip(depths, num_heads)):
            if stage > 0:
                x = PatchMerging(embed_dim * 2**stage, reduction_first=v2, name=f"layers_{stage}_downsample")(x)
            for index in range(depth):
                x = block(
                    heads,
                    window_size,
                    shifted=index % 2 == 1,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop_path_rate=next(rates),
                    name=f"layers_{stage}_blocks_{index}",
                    **(stage_kwargs[stage] if stage_kwargs else {}),
                )(x)
        return LayerNorm(EPSILON, name="norm")(x)

    return body


def _check_arguments(input_shape, patch_size, embed_dim, depths, num_heads, window_size):
    """Raises on arguments timm would fail on later, naming them; returns them checked, with
    `window_size` as `(height, width)`."""
    input_shape = backbone.check_input_shape(input_shape)
    if input_shape[0] is None or input_shape[1] is None:
        raise ValueError(
            f"`input_shape` must be a static (height, width, channels): Swin's windows, masks and "
            f"position biases are built for one size; got {input_shape}."
        )
    patch_size = check_int("patch_size", patch_size)
    if min(input_shape[:2]) < patch_size:
        raise ValueError(
            f"`input_shape` {input_shape} must be at least `patch_size`={patch_size} in height and width."
        )
    embed_dim = check_int("embed_dim", embed_dim)
    if is_int(window_size):
        window_size = (window_size, window_size)
    if not isinstance(window_size, (tuple, list)) or len(window_size) != 2 or not all(
        is_int(w) and w >= 1 for w in window_size
    ):
        raise ValueError(f"`window_size` must be a positive int or (height, width) of them, got {window_size!r}.")
    depths = check_ints("depths", depths)
    num_heads = check_ints("num_heads", num_heads)
    if len(depths) != len(num_heads):
        raise ValueError(f"`depths` {depths} and `num_heads` {num_heads} must have one entry per stage each.")
    for stage, heads in enumerate(num_heads):
        width = embed_dim * 2**stage
        if width % heads:
            raise ValueError(f"`num_heads`[{stage}]={heads} must divide the width {width} of stage {stage}.")
    return input_shape, patch_size, embed_dim, depths, num_heads, tuple(int(w) for w in window_size)


@register_feature_levels
def feature_levels(model):
    """Swin's feature levels (see `kvit.models.feature_extractor`): the four stage outputs.

    Level `"P{k}"` is the end of the stage at stride `2 ** k` (P2 to P5 with 4x4 patches), before
    the final norm, as timm's `features_only` and `forward_intermediates` give them; a stride that
    is not a power of two (another `patch_size`) names its level `"stride_{s}"`. All are the
    default. None when `model` is not a kvit Swin.
    """
    stage_ends = {}
    for layer in model.layers:
        match = re.fullmatch(r"layers_(\d+)_blocks_\d+", layer.name)
        if match and isinstance(layer, SwinTransformerBlock):
            stage_ends[int(match[1])] = layer  # layers come in graph order: the last one wins
    if not stage_ends:
        return None
    patch_size = model.get_layer("patch_embed").strides[0]
    levels = {}
    for stage in sorted(stage_ends):
        stride = patch_size * 2**stage
        level = f"P{stride.bit_length() - 1}" if stride & (stride - 1) == 0 else f"stride_{stride}"
        levels[level] = (stride, stage_ends[stage].output)
    return levels, list(levels)


def convert_timm_checkpoint(state_dict):
    """Maps a timm Swin V1 state dict (NumPy arrays) to kvit variable paths.

    `layers.1.blocks.0.attn.qkv.weight` becomes `layers_1_blocks_0/attn/qkv/kernel`. Both layouts
    are read: timm's, whose stages open with their `downsample`, and the original one (older
    timm, Microsoft's files), where stage N ends with the downsample of stage N + 1 and the
    classifier is `head`. Buffers (`relative_position_index`, `attn_mask`) are skipped. A bias
    table of another window is resized when it is loaded into a model (`WindowAttention.convert_weight`).

    Returns:
        dict from kvit variable path to array. Keys it does not know raise, and so does a Swin V2
        checkpoint, so another architecture is refused, not half-used.
    """
    return _convert(state_dict, v2=False)


def convert_timm_v2_checkpoint(state_dict):
    """Maps a timm Swin V2 state dict (NumPy arrays) to kvit variable paths.

    As `convert_timm_checkpoint`, plus the V2 tensors: `attn.logit_scale`, `attn.q_bias`,
    `attn.v_bias`, and the position MLP `attn.cpb_mlp.0` / `attn.cpb_mlp.2` as `attn/cpb_fc1` /
    `attn/cpb_fc2`. The buffers `relative_coords_table` and `k_bias` are skipped. A Swin V1
    checkpoint raises.
    """
    return _convert(state_dict, v2=True)


_BUFFERS = ("relative_position_index", "attn_mask", "relative_coords_table", "k_bias")
# A tensor every checkpoint of the version has, by version (V2: True).
_MARKERS = {False: "attn.relative_position_bias_table", True: "attn.logit_scale"}
_BLOCK_MODULES = {
    "norm1": "norm1", "norm2": "norm2", "attn.qkv": "attn/qkv", "attn.proj": "attn/proj",
    "mlp.fc1": "mlp/fc1", "mlp.fc2": "mlp/fc2", "attn.cpb_mlp.0": "attn/cpb_fc1", "attn.cpb_mlp.2": "attn/cpb_fc2",
}
_MODULES = {"patch_embed.proj": "patch_embed", "patch_embed.norm": "patch_embed_norm", "norm": "norm", "head.fc": "head"}
_ATTENTION_WEIGHTS = ("relative_position_bias_table", "logit_scale", "q_bias", "v_bias")
_PARAMS = {"weight": "kernel", "bias": "bias"}
_NORM_PARAMS = {"weight": "gamma", "bias": "beta"}


def _convert(state_dict, v2):
    own, other = ("Swin V2", "Swin V1") if v2 else ("Swin V1", "Swin V2")
    foreign = [k for k in state_dict if k.endswith(_MARKERS[not v2])]
    if foreign:
        raise ValueError(
            f"This is a {other} checkpoint (it has {foreign[0]!r}) and the model a {own}; load it "
            f"into a {other} model."
        )
    # The original layout has a downsample in stage 0, where timm's first stage has none.
    original_layout = "layers.0.downsample.reduction.weight" in state_dict
    arrays, unknown = {}, []
    for key, value in state_dict.items():
        if key.split(".")[-1] in _BUFFERS:
            continue
        name = _timm_name(key) if original_layout else key
        path = _variable_path(name)
        if path is None:
            unknown.append(key)
        elif name == "patch_embed.proj.weight":
            arrays[path] = conv_kernel(value)
        else:
            arrays[path] = linear_kernel(value) if name.endswith(".weight") and value.ndim == 2 else value
    if unknown:
        raise ValueError(f"Not a timm {own} checkpoint: unknown tensors {unknown[:8]}.")
    return arrays


def _timm_name(key):
    """A tensor name of the original layout in timm's: downsamples move to the next stage's start."""
    key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) + 1}.downsample.", key)
    return re.sub(r"^head\.(weight|bias)$", r"head.fc.\1", key)


def _variable_path(name):
    """The kvit variable path of a timm tensor name, or None for a name Swin does not have."""
    module, _, param = name.rpartition(".")
    match = re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)", module)
    if match and match[3] == "attn" and param in _ATTENTION_WEIGHTS:
        return f"layers_{match[1]}_blocks_{match[2]}/attn/{param}"
    if param not in _PARAMS:
        return None
    if match:
        layer = match[3] in _BLOCK_MODULES and f"layers_{match[1]}_blocks_{match[2]}/{_BLOCK_MODULES[match[3]]}"
    elif match := re.fullmatch(r"layers\.(\d+)\.downsample\.(norm|reduction)", module):
        layer = f"layers_{match[1]}_downsample/{match[2]}"
    else:
        layer = _MODULES.get(module)
    if not layer:
        return None
    return f"{layer}/{(_NORM_PARAMS if layer.rsplit('/', 1)[-1].startswith(('norm', 'patch_embed_norm')) else _PARAMS)[param]}"
