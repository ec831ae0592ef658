"""Vision Transformer (Dosovitskiy et al. 2021) and DeiT (Touvron et al. 2021), as timm builds them.

Reference: `timm/models/vision_transformer.py` and `timm/models/deit.py`.
"""

import keras
import numpy as np

from kvit.constants import INCEPTION_MEAN, INCEPTION_STD
from kvit.layers import (
    LayerNorm,
    PatchEmbedding,
    PositionEmbedding,
    PrefixTokens,
    TokenPooling,
    TokensToGrid,
    TransformerBlock,
)
from kvit.models import backbone
from kvit.models.arguments import check_bool, check_choice, check_float, check_int, check_rate
from kvit.models.features import register_feature_levels
from kvit.models.timm_layout import conv_kernel, linear_kernel

# Widths, depths and heads of timm's `vit_{tiny,small,base,large,huge}_patch*`.
VIT_VARIANTS = {
    "tiny": dict(width=192, depth=12, num_heads=3),
    "small": dict(width=384, depth=12, num_heads=6),
    "base": dict(width=768, depth=12, num_heads=12),
    "large": dict(width=1024, depth=24, num_heads=16),
    "huge": dict(width=1280, depth=32, num_heads=16),
}
PATCH_SIZES = (8, 14, 16, 32)

# Layers that belong to the classifier: fresh when `classes` differs from a checkpoint's, absent
# without the top.
HEAD_LAYERS = ("fc_norm", "head", "head_dist")
LAYER_NORM_EPSILON = 1e-6


def vit_config(variant, patch_size):
    """The builder arguments of a table variant, e.g. `ViT(**vit_config("small", 16))`."""
    if variant not in VIT_VARIANTS:
        raise ValueError(f"Unknown ViT `variant` {variant!r}; expected one of {sorted(VIT_VARIANTS)}.")
    if patch_size not in PATCH_SIZES:
        raise ValueError(f"`patch_size` must be one of {PATCH_SIZES} for a table variant, got {patch_size}.")
    return dict(patch_size=patch_size, **VIT_VARIANTS[variant])


def ViT(
    input_shape=(224, 224, 3),
    *,
    patch_size=16,
    width=768,
    depth=12,
    num_heads=12,
    mlp_ratio=4.0,
    qkv_bias=True,
    global_pool="token",
    distilled=False,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    include_top=True,
    classes=1000,
    classifier_activation=None,
    pooling=None,
    input_tensor=None,
    include_preprocessing=True,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    name="vit",
):
    """Builds a Vision Transformer (or a distilled DeiT) as a functional `keras.Model`.

    Args:
        input_shape: `(height, width, channels)`; `patch_size` must divide height and width.
        patch_size: int, side of the square patches.
        width: int, token width.
        depth: int, number of transformer blocks.
        num_heads: int, attention heads per block.
        mlp_ratio: float, MLP hidden width over `width`.
        qkv_bias: bool, bias on the fused qkv projections.
        global_pool: `"token"` classifies the class token after the final norm; `"avg"` averages
            the grid tokens and normalises after pooling (`fc_norm`), as MAE fine-tunes do.
        distilled: bool, DeiT's distillation token and second head; the output is the mean of
            both heads (see `distillation_outputs` for training on both).
        drop_path_rate: float, stochastic depth of the last block, rising linearly from 0.
        dropout_rate: float, dropout after attention and MLP projections and before the head.
        include_top: bool, whether to end in the classifier.
        classes: int, classifier outputs.
        classifier_activation: activation on the classifier output; None for logits.
        pooling: without the top: None returns the grid tokens as `(batch, h, w, width)`,
            `"avg"`/`"max"` pool them to `(batch, width)`.
        input_tensor: optional Keras tensor to build on.
        include_preprocessing: bool, whether the model maps [0, 255] pixels with `mean`/`std`.
        mean, std: per-channel statistics in [0, 1] units of the weights the model will carry.
        name: model name.
    """
    patch_size = check_int("patch_size", patch_size)
    width = check_int("width", width)
    depth = check_int("depth", depth)
    num_heads = check_int("num_heads", num_heads)
    if width % num_heads:
        raise ValueError(f"`num_heads`={num_heads} must divide `width`={width}.")
    mlp_ratio = check_float("mlp_ratio", mlp_ratio)
    if int(width * mlp_ratio) < 1:
        raise ValueError(f"`mlp_ratio`={mlp_ratio} leaves the MLP of width {width} no hidden unit.")
    qkv_bias = check_bool("qkv_bias", qkv_bias)
    check_choice("global_pool", global_pool, ("token", "avg"))
    distilled = check_bool("distilled", distilled)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    dropout_rate = check_rate("dropout_rate", dropout_rate)
    patch_embed = PatchEmbedding(width, patch_size, name="patch_embed")
    num_prefix_tokens = 2 if distilled else 1

    def body(x):
        x = PrefixTokens(num_prefix_tokens, name="prefix_tokens")(patch_embed(x))
        x = PositionEmbedding(patch_embed.grid_size, num_prefix_tokens, name="pos_embed")(x)
        x = keras.layers.Dropout(dropout_rate, name="pos_drop")(x)
        for i, rate in enumerate(np.linspace(0.0, drop_path_rate, depth)):
            x = TransformerBlock(
                num_heads,
                mlp_ratio,
                qkv_bias,
                epsilon=LAYER_NORM_EPSILON,
                drop_path_rate=float(rate),
                dropout_rate=dropout_rate,
                name=f"blocks_{i}",
            )(x)
        return LayerNorm(LAYER_NORM_EPSILON, name="norm")(x) if global_pool == "token" else x

    def feature_map(tokens):
        return TokensToGrid(patch_embed.grid_size, num_prefix_tokens, name="grid")(tokens)

    def top(tokens, classes):
        if distilled:
            head = _head(TokenPooling("token", 0, name="pool"), tokens, classes, dropout_rate, "head")
            head_dist = _head(TokenPooling("token", 1, name="pool_dist"), tokens, classes, dropout_rate, "head_dist")
            return keras.layers.Average(name="distilled_logits")([head, head_dist])
        pooled = TokenPooling(global_pool, num_prefix_tokens=num_prefix_tokens, name="pool")(tokens)
        if global_pool == "avg":
            pooled = LayerNorm(LAYER_NORM_EPSILON, name="fc_norm")(pooled)
        return _head(None, pooled, classes, dropout_rate, "head")

    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, feature_map=feature_map, top=top, name=name,
    )


def _head(pooling_layer, x, classes, dropout_rate, name):
    if pooling_layer is not None:
        x = pooling_layer(x)
    x = keras.layers.Dropout(dropout_rate, name=f"{name}_drop")(x)
    return backbone.classifier(x, classes, None, name=name)


def distillation_outputs(model):
    """The training view of a distilled DeiT: the same layers, outputs `(class_logits, distillation_logits)`.

    The model itself returns the mean of its two heads, timm's inference output; a distillation
    recipe trains this view, whose second output learns from the teacher.
    """
    try:
        heads = [model.get_layer("head").output, model.get_layer("head_dist").output]
    except ValueError as error:
        raise ValueError(f"`model` {model.name!r} is not a distilled ViT with its top.") from error
    return keras.Model(model.inputs, heads, name=f"{model.name}_distillation")


@register_feature_levels
def feature_levels(model):
    """ViT's feature levels (see `kvit.models.feature_extractor`): every block's output on the grid.

    Level `"blocks_{i}"` is block i's tokens, prefix tokens dropped, laid out as `(batch, grid_h,
    grid_w, width)` at the patch stride; the default is four evenly spaced blocks ending with the
    last, as for ViTDet-style necks. None when `model` is not a kvit ViT.
    """
    layers = {layer.name: layer for layer in model.layers}
    pos_embed = layers.get("pos_embed")
    if not isinstance(pos_embed, PositionEmbedding):
        return None
    blocks = [layers[f"blocks_{i}"] for i in range(len(layers)) if f"blocks_{i}" in layers]
    stride = layers["patch_embed"].patch_size
    levels = {
        block.name: (
            stride,
            TokensToGrid(pos_embed.grid_size, pos_embed.num_prefix_tokens, name=f"{block.name}_grid")(block.output),
        )
        for block in blocks
    }
    default = [blocks[len(blocks) * (i + 1) // 4 - 1].name for i in range(4)]
    return levels, list(dict.fromkeys(default))


def convert_timm_checkpoint(state_dict):
    """Maps a timm ViT/DeiT state dict (NumPy arrays) to kvit variable paths.

    Returns:
        dict from kvit variable path (e.g. `blocks_0/attn/qkv/kernel`) to array. Keys it does not
        know raise, so a checkpoint of another architecture is refused, not half-used.
    """
    arrays, unknown = {}, []
    prefix_tokens = [state_dict[k] for k in ("cls_token", "dist_token") if k in state_dict]
    if prefix_tokens:
        arrays["prefix_tokens/tokens"] = np.concatenate(prefix_tokens, axis=1)
    for key, value in state_dict.items():
        parts = key.split(".")
        if key in ("cls_token", "dist_token"):
            continue
        if key == "pos_embed":
            arrays["pos_embed/embedding"] = value
        elif key == "patch_embed.proj.weight":
            arrays["patch_embed/proj/kernel"] = conv_kernel(value)
        elif key == "patch_embed.proj.bias":
            arrays["patch_embed/proj/bias"] = value
        elif parts[0] == "blocks" and len(parts) in (4, 5) and parts[-1] in ("weight", "bias"):
            layer = "/".join([f"blocks_{parts[1]}", *parts[2:-1]])
            arrays[f"{layer}/{_variable_name(parts[-2], parts[-1])}"] = _dense_or_norm(value)
        elif parts[0] in ("norm", "fc_norm", "head", "head_dist") and parts[1:] in (["weight"], ["bias"]):
            arrays[f"{parts[0]}/{_variable_name(parts[0], parts[1])}"] = _dense_or_norm(value)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"Not a timm ViT/DeiT checkpoint: unknown tensors {unknown[:8]}.")
    return arrays


def _variable_name(module, param):
    if module.startswith("norm") or module == "fc_norm":
        return {"weight": "gamma", "bias": "beta"}[param]
    return {"weight": "kernel", "bias": "bias"}[param]


def _dense_or_norm(value):
    return linear_kernel(value) if value.ndim == 2 else value
