"""`EfficientViTSeg`: EfficientViT's semantic segmentation head, on any backbone with P3 to P5."""

import keras
from keras import ops

from kvit.layers import ConvNormAct, InvertedResidual
from kvit.models.efficientvit import EfficientViTBlock
from kvit.models.features import feature_levels


def EfficientViTSeg(
    backbone_model,
    classes,
    *,
    head_width=None,
    head_depth=3,
    expansion_ratio=4.0,
    kind="inverted",
    final_expansion=None,
    dropout_rate=0.0,
    activation=None,
    upsample_logits=False,
    name=None,
):
    """EfficientViT's semantic segmentation head on a backbone, the official `SegHead`.

    The backbone's P3, P4 and P5 maps (strides 8, 16, 32) each go through a 1x1 convolution to
    `head_width` with BatchNorm and no activation; P4 and P5 are upsampled to P3's size and the
    three are added. `head_depth` residual MBConvs (or fused MBConvs) follow, then optionally a
    1x1 ConvNormAct to `head_width * final_expansion`, dropout, and a 1x1 convolution with bias
    to `classes` logits. The official head upsamples bicubically; this one bilinearly (half-pixel
    centres, a TFLite `RESIZE_BILINEAR`), as the official TFLite export does.

    The official configurations: B0 `head_width=32, head_depth=1, final_expansion=4`; B1, B2 and
    B3 head widths 64, 96, 128 with `head_depth=3` (`final_expansion=4` for Cityscapes, None for
    ADE20K); L1/L2 on Cityscapes `head_width=256, expansion_ratio=1, kind="fused"`, depth 3 / 5,
    GELU.

    Args:
        backbone_model: a kvit model with levels P3 to P5 (an EfficientViT; the top, if any, is
            not used): `kvit.applications.EfficientViTB1(include_top=False)`, say.
        classes: int, segmentation classes.
        head_width: int, the head's channels; None for the P3 map's (the official choice for the
            B series).
        head_depth: int, residual blocks of the head.
        expansion_ratio: float, their hidden width over `head_width`.
        kind: `"inverted"` (MBConv, the B series) or `"fused"` (fused MBConv, the L series).
        final_expansion: int or None, width multiplier of the optional 1x1 before the output.
        dropout_rate: float, dropout before the output convolution.
        activation: the head's activation; None for the backbone's (hardswish for the B series,
            tanh-GELU for the L series; hardswish for other families).
        upsample_logits: bool, False returns logits at stride 8, `(batch, ceil(height / 8),
            ceil(width / 8), classes)`, as the official model does; True resizes them
            bilinearly to the input, `(batch, height, width, classes)`.
        name: model name; None for the backbone's with `_seg`.

    Returns:
        A `keras.Model` on the backbone's inputs, sharing its layers.
    """
    if not isinstance(classes, int) or classes <= 0:
        raise ValueError(f"`classes` must be a positive int, got {classes!r}.")
    if kind not in ("inverted", "fused"):
        raise ValueError(f"`kind` must be 'inverted' or 'fused', got {kind!r}.")
    levels, _ = feature_levels(backbone_model)
    missing = [level for level in ("P3", "P4", "P5") if level not in levels]
    if missing:
        raise ValueError(f"`backbone_model` {backbone_model.name!r} has no feature levels {missing}.")
    if activation is None:
        blocks = [layer for layer in backbone_model.layers if isinstance(layer, EfficientViTBlock)]
        activation = blocks[0].activation if blocks else "hard_swish"
    p3 = levels["P3"].output
    width = head_width or p3.shape[-1]
    x = None
    for level in ("P5", "P4", "P3"):
        feature = ConvNormAct(width, 1, activation=None, name=f"seg_head_input_{level}")(levels[level].output)
        if level != "P3":
            feature = ResizeLike(name=f"seg_head_upsample_{level}")([feature, p3])
        x = feature if x is None else keras.layers.Add(name=f"seg_head_add_{level}")([x, feature])
    for index in range(head_depth):
        x = InvertedResidual(
            width, expansion_ratio, activation=activation, kind=kind, hidden_divisor=1, name=f"seg_head_middle_{index}"
        )(x)
    if final_expansion:
        x = ConvNormAct(width * final_expansion, 1, activation=activation, name="seg_head_expand")(x)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name="seg_head_drop")(x)
    x = ConvNormAct(classes, 1, activation=None, use_bias=True, use_norm=False, name="seg_head_output")(x)
    if upsample_logits:
        x = ResizeLike(name="seg_head_upsample_logits")([x, backbone_model.inputs[0]])
    return keras.Model(backbone_model.input, x, name=name or f"{backbone_model.name}_seg")


@keras.saving.register_keras_serializable(package="kvit")
class ResizeLike(keras.layers.Layer):
    """Bilinear resize (half-pixel centres) of a map to the height and width of another.

    Shape: `[(batch, h, w, c), (batch, height, width, ...)]` in, `(batch, height, width, c)` out.
    """

    def call(self, inputs):
        x, reference = inputs
        return ops.image.resize(x, ops.shape(reference)[1:3], interpolation="bilinear")

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[3])
