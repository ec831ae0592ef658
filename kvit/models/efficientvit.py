"""EfficientViT (MIT; Cai et al. 2023), the B and L series, as timm builds them, and its segmentation head.

Reference: `timm/models/efficientvit_mit.py` (classes `EfficientVit`, `EfficientVitLarge`); the
segmentation head follows the official `mit-han-lab/efficientvit`
(`efficientvit/models/efficientvit/seg.py`, `SegHead`). A 3x3 stride-2 stem with residual
blocks, four stages that each halve the map (strides 4 to 32), the last ones (two in the B
series, one in the L series) made of EfficientViT blocks: lite multi-scale linear attention
(`LiteMLA`, linear in the number of pixels at every size) then an MBConv. The classifier is
timm's: a 1x1 ConvNormAct, global average pooling, a bias-free dense layer, LayerNorm, the
activation, dropout and the class layer. Any image size works, including None.
"""

import re

import keras
import numpy as np
from keras import ops

from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
from kvit.layers import ConvNormAct, DropPath, InvertedResidual, LayerNorm
from kvit.layers.conv_norm_act import get_activation
from kvit.models import backbone
from kvit.models.arguments import check_choice, check_int, check_ints, check_rate, is_int
from kvit.models.features import register_feature_levels
from kvit.models.timm_layout import batch_norm, conv_kernel, depthwise_kernel, linear_kernel

# timm's `efficientvit_{b0..b3,l1..l3}`: the widths and depths of the stem and the four stages,
# the attention's head width and the classifier's two hidden widths.
EFFICIENTVIT_VARIANTS = {
    "b0": dict(series="b", widths=(8, 16, 32, 64, 128), depths=(1, 2, 2, 2, 2), head_dim=16, head_widths=(1024, 1280)),
    "b1": dict(series="b", widths=(16, 32, 64, 128, 256), depths=(1, 2, 3, 3, 4), head_dim=16, head_widths=(1536, 1600)),
    "b2": dict(series="b", widths=(24, 48, 96, 192, 384), depths=(1, 3, 4, 4, 6), head_dim=32, head_widths=(2304, 2560)),
    "b3": dict(series="b", widths=(32, 64, 128, 256, 512), depths=(1, 4, 6, 6, 9), head_dim=32, head_widths=(2304, 2560)),
    "l1": dict(series="l", widths=(32, 64, 128, 256, 512), depths=(1, 1, 1, 6, 6), head_dim=32, head_widths=(3072, 3200)),
    "l2": dict(series="l", widths=(32, 64, 128, 256, 512), depths=(1, 2, 2, 8, 8), head_dim=32, head_widths=(3072, 3200)),
    "l3": dict(series="l", widths=(64, 128, 256, 512, 1024), depths=(1, 2, 2, 8, 8), head_dim=32, head_widths=(6144, 6400)),
}

# What differs between the series, besides the widths and depths (timm's two classes):
# activation, BatchNorm epsilon (the classifier's 1x1 conv keeps PyTorch's 1e-5 in both), the
# classifier LayerNorm's epsilon, the stem's residual block, the number of attention stages.
SERIES = {
    "b": dict(activation="hard_swish", epsilon=1e-5, head_norm_epsilon=1e-5, stem_kind="separable", attention_stages=2),
    "l": dict(activation="gelu_tanh", epsilon=1e-7, head_norm_epsilon=1e-7, stem_kind="conv", attention_stages=1),
}
# The classifier: what `include_top=False` leaves out and a checkpoint may still carry.
HEAD_LAYERS = ("head_in_conv", "head_pre_logits", "head_norm", "head")
HEAD_CONV_EPSILON = 1e-5
ATTENTION_EPSILON = 1e-5  # timm's; the official code's 1e-15 overflows in half precision
NUM_STAGES = 4
# The MBConvs and fused MBConvs of the attention stages (and of the L series' third stage) have a
# bias and no BatchNorm on every convolution but the projection: timm's `fewer_norm`.
FEWER_NORM = {
    "inverted": dict(use_bias=(True, True, False), use_norm=(False, False, True)),
    "fused": dict(use_bias=(True, False), use_norm=(False, True)),
}


@keras.saving.register_keras_serializable(package="kvit")
class LiteMLA(keras.layers.Layer):
    """Lite multi-scale linear attention, timm's `LiteMLA`.

    A bias-free 1x1 convolution makes q, k and v for `channels // head_dim` heads, each head's
    `3 * head_dim` channels laid out q | k | v. For each of `scales` a depthwise `scale` x
    `scale` convolution and a 1x1 convolution grouped per head and per q/k/v aggregate them
    over the neighbourhood; concatenated with the unaggregated ones they double (for one scale)
    the number of heads. Then ReLU linear attention per head, in the linear order:
    `relu(q) @ (relu(k)^T @ [v, 1])`, whose last column (from the ones padded onto v) is the
    normaliser the other columns are divided by (plus `epsilon`), computed in float32 whatever
    the compute dtype. A 1x1 convolution with BatchNorm projects back to the input width.

    Cost and memory grow linearly with the number of pixels: the attention never forms the
    `(pixels, pixels)` matrix (timm 1.0.31 has no quadratic path; the official code switches to
    one on small maps, with the same result up to rounding).

    Args:
        head_dim: int, channels of q, k and v per head; must divide the input width.
        scales: kernel sizes of the aggregations.
        epsilon: float, added to the normaliser.
        norm_epsilon: float, epsilon of the projection's BatchNorm.

    Shape: `(batch, height, width, channels)` in and out.
    """

    def __init__(self, head_dim=32, scales=(5,), epsilon=ATTENTION_EPSILON, norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.head_dim = head_dim
        self.scales = tuple(scales)
        self.epsilon = epsilon
        self.norm_epsilon = norm_epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        if not isinstance(self.head_dim, int) or self.head_dim < 1 or channels % self.head_dim:
            raise ValueError(
                f"`head_dim`={self.head_dim!r} must be a positive int that divides the attention's "
                f"input width {channels}."
            )
        self.num_heads = channels // self.head_dim
        width = 3 * channels
        self.qkv = ConvNormAct(width, 1, activation=None, use_norm=False, name="qkv")
        self.qkv.build(input_shape)
        qkv_shape = (*input_shape[:-1], width)
        self.aggregations = []
        for index, scale in enumerate(self.scales):
            spatial = ConvNormAct(width, scale, groups=width, activation=None, use_norm=False, name=f"aggreg_{index}_spatial")
            pointwise = ConvNormAct(
                width, 1, groups=3 * self.num_heads, activation=None, use_norm=False, name=f"aggreg_{index}_pointwise"
            )
            spatial.build(qkv_shape)
            pointwise.build(qkv_shape)
            self.aggregations.append((spatial, pointwise))
        self.proj = ConvNormAct(channels, 1, activation=None, epsilon=self.norm_epsilon, name="proj")
        self.proj.build(((*input_shape[:-1], channels * (1 + len(self.scales)))))

    def call(self, x, training=None):
        height, width = x.shape[1:3]
        if height is None or width is None:
            height, width = ops.shape(x)[1], ops.shape(x)[2]
        qkv = self.qkv(x)
        maps = [qkv] + [pointwise(spatial(qkv)) for spatial, pointwise in self.aggregations]
        qkv = ops.concatenate(maps, axis=-1) if len(maps) > 1 else qkv
        heads, dim = self.num_heads * len(maps), self.head_dim
        # (batch, pixels, heads, 3 * dim) -> (batch, heads, pixels, 3 * dim)
        qkv = ops.transpose(ops.reshape(qkv, (-1, height * width, heads, 3 * dim)), (0, 2, 1, 3))
        qkv = ops.cast(qkv, "float32")
        q = ops.relu(qkv[..., :dim])
        k = ops.relu(qkv[..., dim : 2 * dim])
        v = qkv[..., 2 * dim :]
        v = ops.concatenate([v, ops.ones_like(v[..., :1])], axis=-1)  # XNNPACK has no PAD with ones
        kv = ops.matmul(ops.transpose(k, (0, 1, 3, 2)), v)  # (batch, heads, dim, dim + 1)
        out = ops.matmul(q, kv)  # (batch, heads, pixels, dim + 1)
        # Divided by the normaliser as two products with its rsqrt: TFLite has no integer DIV
        # that the full-integer graph could use, and its RSQRT stays float in the mixed mode.
        # Not `* (scale * scale)`: where a pixel's query is all zero the square is 1 / epsilon,
        # and a tensor quantized to that range rounds every ordinary value to zero. Here the first
        # product is about v * sqrt(normaliser) and the second about v: far narrower ranges.
        scale = ops.rsqrt(out[..., dim:] + self.epsilon)
        out = ops.cast((out[..., :dim] * scale) * scale, x.dtype)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, height, width, heads * dim))
        return self.proj(out, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "scales": self.scales,
            "epsilon": self.epsilon,
            "norm_epsilon": self.norm_epsilon,
        }


@keras.saving.register_keras_serializable(package="kvit")
class EfficientViTBlock(keras.layers.Layer):
    """timm's `EfficientVitBlock`: residual `LiteMLA` (the context), then a residual MBConv (the local).

    The MBConv's expansion and depthwise convolutions have a bias and no BatchNorm, its
    projection BatchNorm and no bias; its hidden width is `round(channels * expansion_ratio)`.

    Args:
        head_dim: int, the attention's channels per head.
        expansion_ratio: float, the MBConv's hidden width over the block width.
        activation: the MBConv's activation.
        epsilon: float, BatchNorm epsilon.
        drop_path_rate: float, stochastic depth of both residual branches.

    Shape: `(batch, height, width, channels)` in and out.
    """

    def __init__(self, head_dim=32, expansion_ratio=4.0, activation="hard_swish", epsilon=1e-5, drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.head_dim = head_dim
        self.expansion_ratio = expansion_ratio
        self.activation = activation
        self.epsilon = epsilon
        self.drop_path_rate = drop_path_rate
        self.context = LiteMLA(head_dim, norm_epsilon=epsilon, name="context")
        self.drop_path = DropPath(drop_path_rate)

    def build(self, input_shape):
        self.local = InvertedResidual(
            input_shape[-1],
            self.expansion_ratio,
            activation=self.activation,
            epsilon=self.epsilon,
            drop_path_rate=self.drop_path_rate,
            hidden_divisor=1,
            name="local",
            **FEWER_NORM["inverted"],
        )
        self.context.build(input_shape)
        self.local.build(input_shape)

    def call(self, x, training=None):
        x = x + self.drop_path(self.context(x, training=training), training=training)
        return self.local(x, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "expansion_ratio": self.expansion_ratio,
            "activation": self.activation,
            "epsilon": self.epsilon,
            "drop_path_rate": self.drop_path_rate,
        }


def _stage_blocks(series, stage, width, depth, head_dim, activation, epsilon, attention, rates):
    """The layers of one stage, timm's `EfficientVitStage` (B) or `EfficientVitLargeStage` (L).

    Each stage opens with a stride-2 MBConv (not residual). B: then `depth - 1` MBConvs, or in
    an attention stage `depth` EfficientViT blocks; expansion 4 throughout, bias and fewer norms
    in the attention stages' opening block. L: fused MBConvs in the first two stages and
    fewer-norm MBConvs in the third, `depth` of them with expansion 4 after an opening one with
    16; the attention stage opens with expansion 24, then `depth` EfficientViT blocks with 6.
    """
    common = dict(activation=activation, epsilon=epsilon, hidden_divisor=1)
    if series == "b":
        opening = dict(expansion_ratio=4.0, kind="inverted", **(FEWER_NORM["inverted"] if attention else {}))
        local = dict(expansion_ratio=4.0, kind="inverted")
        count, block_expansion = (depth if attention else depth - 1), 4.0
    else:
        kind = "inverted" if stage >= 2 else "fused"
        fewer = FEWER_NORM[kind] if stage >= 2 else {}
        opening = dict(expansion_ratio=24.0 if attention else 16.0, kind=kind, **fewer)
        local = dict(expansion_ratio=4.0, kind=kind, **fewer)
        count, block_expansion = depth, 6.0
    blocks = [InvertedResidual(width, strides=2, name=f"stages_{stage}_0", **opening, **common)]
    for index in range(1, count + 1):
        rate = next(rates)
        if attention:
            blocks.append(EfficientViTBlock(
                head_dim, block_expansion, activation, epsilon, drop_path_rate=rate, name=f"stages_{stage}_{index}"
            ))
        else:
            blocks.append(InvertedResidual(width, drop_path_rate=rate, name=f"stages_{stage}_{index}", **local, **common))
    return blocks


def _blocks_per_stage(series, depths):
    attention_from = NUM_STAGES - SERIES[series]["attention_stages"]
    return [d - 1 if series == "b" and stage < attention_from else d for stage, d in enumerate(depths[1:])]


def _check_arguments(series, widths, depths, head_dim, head_widths):
    """Raises on arguments that timm would fail on later, naming them; returns them checked."""
    series = check_choice("series", series, tuple(SERIES))
    widths = check_ints("widths", widths)
    if not isinstance(depths, (tuple, list)) or not all(is_int(d) and d >= 0 for d in depths):
        raise ValueError(f"`depths` must be a tuple of non-negative ints, got {depths!r}.")
    depths = tuple(int(d) for d in depths)
    if len(widths) != NUM_STAGES + 1 or len(depths) != NUM_STAGES + 1:
        raise ValueError(
            f"`widths` {widths} and `depths` {depths} must have {NUM_STAGES + 1} entries: the stem, then four stages."
        )
    if series == "b" and min(depths[1:]) < 1:
        raise ValueError(f"`depths` {depths}: every stage of the B series needs at least its stride-2 MBConv.")
    head_dim = check_int("head_dim", head_dim)
    for stage in range(NUM_STAGES - SERIES[series]["attention_stages"], NUM_STAGES):
        if widths[stage + 1] % head_dim:
            raise ValueError(
                f"`head_dim`={head_dim} must divide the width of every attention stage; "
                f"stage {stage} has {widths[stage + 1]}."
            )
    head_widths = check_ints("head_widths", head_widths)
    if len(head_widths) != 2:
        raise ValueError(f"`head_widths` must be (conv_width, hidden_width), got {head_widths}.")
    return series, widths, depths, head_dim, head_widths


def EfficientViT(
    input_shape=(224, 224, 3),
    *,
    series="b",
    widths=(8, 16, 32, 64, 128),
    depths=(1, 2, 2, 2, 2),
    head_dim=16,
    head_widths=(1024, 1280),
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
    name="efficientvit",
):
    """Builds an EfficientViT (MIT) as a functional `keras.Model`; the defaults are EfficientViT-B0.

    Args:
        input_shape: `(height, width, channels)`; any size, height and width may be None.
        series: `"b"` (timm's `EfficientVit`: hardswish, BatchNorm eps 1e-5, attention in the
            last two stages) or `"l"` (`EfficientVitLarge`: tanh-GELU, BatchNorm eps 1e-7,
            fused MBConvs early, attention in the last stage); see `SERIES`.
        widths: channels of the stem (stride 2) and of the four stages (strides 4 to 32).
        depths: residual blocks of the stem, then the blocks of each stage: for the B series a
            convolutional stage has `depth` MBConvs (the stride-2 one included) and an attention
            stage a stride-2 MBConv and `depth` EfficientViT blocks; for the L series every stage
            has a stride-2 block and `depth` more.
        head_dim: int, the attention's channels per head; must divide the attention stages' widths.
        head_widths: `(conv_width, hidden_width)` of the classifier: its 1x1 ConvNormAct and its
            bias-free dense layer.
        drop_path_rate: float, stochastic depth of the last residual block, rising linearly from
            0 over the stages' blocks (timm's models have none; for training).
        dropout_rate: float, dropout before the class layer.
        include_top: bool, whether to end in the classifier.
        classes: int, classifier outputs.
        classifier_activation: activation on the classifier output; None for logits.
        pooling: without the top: None returns the last stage's map, `"avg"`/`"max"` pool it.
        input_tensor: optional Keras tensor to build on.
        include_preprocessing: bool, whether the model maps [0, 255] pixels with `mean`/`std`.
        mean, std: per-channel statistics in [0, 1] units of the weights the model will carry.
        name: model name.
    """
    series, widths, depths, head_dim, head_widths = _check_arguments(series, widths, depths, head_dim, head_widths)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    dropout_rate = check_rate("dropout_rate", dropout_rate)
    per_stage = _blocks_per_stage(series, depths)
    layout = SERIES[series]
    activation, epsilon = layout["activation"], layout["epsilon"]
    attention_from = NUM_STAGES - layout["attention_stages"]

    def body(x):
        x = ConvNormAct(widths[0], 3, strides=2, activation=activation, epsilon=epsilon, name="stem_in_conv")(x)
        for index in range(depths[0]):
            x = InvertedResidual(
                widths[0], 1.0, activation=activation, epsilon=epsilon, kind=layout["stem_kind"], hidden_divisor=1,
                name=f"stem_res{index}",
            )(x)
        rates = iter(np.linspace(0.0, drop_path_rate, max(sum(per_stage), 1)).tolist())
        for stage in range(NUM_STAGES):
            for block in _stage_blocks(
                series, stage, widths[stage + 1], depths[stage + 1], head_dim, activation, epsilon,
                stage >= attention_from, rates,
            ):
                x = block(x)
        return x

    def top(x, classes):
        x = ConvNormAct(head_widths[0], 1, activation=activation, epsilon=HEAD_CONV_EPSILON, name="head_in_conv")(x)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(head_widths[1], use_bias=False, name="head_pre_logits")(x)
        x = LayerNorm(layout["head_norm_epsilon"], name="head_norm")(x)
        x = keras.layers.Activation(get_activation(activation), name="head_act")(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name="head_drop")(x)
        return backbone.classifier(x, classes, None)

    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, top=top, name=name,
    )


@register_feature_levels
def feature_levels(model):
    """EfficientViT's feature levels (see `kvit.models.feature_extractor`): the stem and stage outputs.

    `"P1"` is the stem's output (stride 2), `"P2"` to `"P5"` the four stages' (strides 4 to 32),
    as timm's `features_only` gives them; those four are the default. None when `model` is not a
    kvit EfficientViT.
    """
    if not any(isinstance(layer, EfficientViTBlock) for layer in model.layers):
        return None
    ends = {}
    for layer in model.layers:
        match = re.fullmatch(r"stem_(in_conv|res\d+)|stages_(\d+)_\d+", layer.name)
        if match:
            ends[0 if match[1] else int(match[2]) + 1] = layer  # graph order: the last one wins
    levels = {f"P{level + 1}": (2 ** (level + 1), ends[level].output) for level in sorted(ends)}
    return levels, [name for name in levels if name != "P1"]


_MODULE_RENAMES = {
    "inverted_conv": "expand_conv",
    "spatial_conv": "expand_conv",
    "conv1": "expand_conv",
    "depth_conv": "depthwise_conv",
    "point_conv": "project_conv",
    "conv2": "project_conv",
    "context_module": "context",
    "local_module": "local",
}


def convert_timm_checkpoint(state_dict):
    """Maps a timm EfficientViT (MIT) state dict (NumPy arrays) to kvit variable paths.

    `stages.2.blocks.1.context_module.main.qkv.conv.weight` becomes
    `stages_2_1/context/qkv/conv/kernel`; `aggreg.0.0` / `aggreg.0.1` become `aggreg_0_spatial` /
    `aggreg_0_pointwise`; the MBConvs' `inverted_conv` (or fused `spatial_conv`), `depth_conv`
    and `point_conv` become `expand_conv`, `depthwise_conv` and `project_conv`; the stem's
    `in_conv` and `res{i}` become `stem_in_conv` and `stem_res{i}`; the classifier's `in_conv`,
    `classifier.0`, `classifier.1` and `classifier.4` become `head_in_conv`, `head_pre_logits`,
    `head_norm` and `head`.

    Returns:
        dict from kvit variable path to array. Keys it does not know raise, so a checkpoint of
        another architecture is refused, not half-used.
    """
    arrays, unknown = {}, []
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[-1] == "num_batches_tracked":
            continue
        path = _kvit_path(parts)
        if path is None:
            unknown.append(key)
            continue
        module, param = path.rsplit("/", 1)[-1], parts[-1]
        if module == "norm":  # a ConvNormAct's BatchNorm
            if param == "weight":
                arrays.update(batch_norm(key[: -len(".weight")], path.rsplit("/", 1)[0] + "/bn", state_dict))
            elif param not in ("bias", "running_mean", "running_var"):
                unknown.append(key)
        elif path == "head_norm":
            if param not in ("weight", "bias"):
                unknown.append(key)
                continue
            arrays[f"head_norm/{'gamma' if param == 'weight' else 'beta'}"] = value
        elif param == "bias":
            arrays[f"{path}/bias"] = value
        elif param == "weight":
            arrays[f"{path}/kernel"] = _kernel(path, value)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"Not a timm EfficientViT (MIT) checkpoint: unknown tensors {unknown[:8]}.")
    return arrays


def _kvit_path(parts):
    """The kvit layer path of a timm tensor name, its last part dropped; None if it is not one."""
    modules = parts[:-1]
    if len(modules) >= 2 and modules[0] == "stem":
        head = "stem_in_conv" if modules[1] == "in_conv" else f"stem_{modules[1]}"
        rest = modules[2:]
    elif len(modules) >= 4 and modules[0] == "stages" and modules[2] == "blocks" and modules[1].isdigit() and modules[3].isdigit():
        head, rest = f"stages_{modules[1]}_{modules[3]}", modules[4:]
    elif modules[:2] == ["head", "in_conv"]:
        head, rest = "head_in_conv", modules[2:]
    elif modules[:2] == ["head", "classifier"] and len(modules) == 3:
        return {"0": "head_pre_logits", "1": "head_norm", "4": "head"}.get(modules[2])
    else:
        return None
    rest = [m for m in rest if m != "main"]
    if "aggreg" in rest:
        index = rest.index("aggreg")
        if len(rest) != index + 3:
            return None
        rest = [*rest[:index], f"aggreg_{rest[index + 1]}_{('spatial', 'pointwise')[int(rest[index + 2])]}", "conv"]
    rest = [_MODULE_RENAMES.get(m, m) for m in rest]
    return "/".join([head, *rest])


def _kernel(path, value):
    if value.ndim == 2:
        return linear_kernel(value)
    if value.shape[1] == 1 and "pointwise" not in path and not path.startswith("stem_in_conv"):
        return depthwise_kernel(value)
    return conv_kernel(value)
