"""EfficientViT (MIT) named constructors, with the timm checkpoints `weights="imagenet"` loads.

The checkpoints are the paper authors' (mit-han-lab/efficientvit, Apache-2.0) as timm republishes
them, `timm/efficientvit_{variant}.r{size}_in1k`; timm's pretrained cfg says `apache-2.0`. timm
publishes several resolutions of most variants; a square `input_shape` of one of them loads that
checkpoint (`resolutions`). Each is evaluated by timm with ImageNet mean/std, bicubic resizing
and a centre crop of 0.95 (the B series at 224) or 1.0 (every other).
"""

from kvit.applications.application import make_application
from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
from kvit.models import efficientvit

__all__ = [
    "EfficientViTB0",
    "EfficientViTB1",
    "EfficientViTB2",
    "EfficientViTB3",
    "EfficientViTL1",
    "EfficientViTL2",
    "EfficientViTL3",
]

IMAGENET_STATS = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
LICENSE = "Apache-2.0"
# Resolutions timm publishes checkpoints of, beyond 224 (`timm.list_pretrained("efficientvit_*")`).
RESOLUTIONS = {
    "b0": (),
    "b1": (256, 288),
    "b2": (256, 288),
    "b3": (256, 288),
    "l1": (),
    "l2": (256, 288, 384),
    "l3": (256, 320, 384),
}


def _hub_id(variant, size):
    return f"timm/efficientvit_{variant}.r{size}_in1k"


def _preset(variant):
    series = efficientvit.EFFICIENTVIT_VARIANTS[variant]["series"]
    return dict(
        title=f"EfficientViT-{variant.upper()}",
        image_size=224,
        crop_pct=0.95 if series == "b" else 1.0,
        interpolation="bicubic",
        hub_id=_hub_id(variant, 224),
        license=LICENSE,
        summary=(
            "EfficientViT (Cai et al. 2023) with lite multi-scale linear attention, trained on "
            "ImageNet-1k by the paper authors."
        ),
        config=efficientvit.EFFICIENTVIT_VARIANTS[variant],
        resolutions={size: dict(hub_id=_hub_id(variant, size), crop_pct=1.0) for size in RESOLUTIONS[variant]},
        **IMAGENET_STATS,
    )


PRESETS = {f"EfficientViT{variant.upper()}": _preset(variant) for variant in efficientvit.EFFICIENTVIT_VARIANTS}

# Parameters and FLOPs of each model at its default size with the top (one image, a multiply-add
# counted as two; `kvit.applications.flops.count_flops`), for `list_models`; the tests count them again.
FIGURES = {
    "EfficientViTB0": (3_415_368, 200_466_432),
    "EfficientViTB1": (9_115_432, 1_038_429_184),
    "EfficientViTB2": (24_357_256, 3_169_875_968),
    "EfficientViTB3": (48_693_864, 7_907_644_416),
    "EfficientViTL1": (52_682_696, 10_516_959_232),
    "EfficientViTL2": (63_742_664, 13_899_724_800),
    "EfficientViTL3": (246_108_584, 55_173_050_368),
}

_APPLICATIONS = {
    name: make_application(
        name,
        preset,
        efficientvit.EfficientViT,
        efficientvit.convert_timm_checkpoint,
        efficientvit.HEAD_LAYERS,
        FIGURES[name],
    )
    for name, preset in PRESETS.items()
}
EfficientViTB0 = _APPLICATIONS["EfficientViTB0"]
EfficientViTB1 = _APPLICATIONS["EfficientViTB1"]
EfficientViTB2 = _APPLICATIONS["EfficientViTB2"]
EfficientViTB3 = _APPLICATIONS["EfficientViTB3"]
EfficientViTL1 = _APPLICATIONS["EfficientViTL1"]
EfficientViTL2 = _APPLICATIONS["EfficientViTL2"]
EfficientViTL3 = _APPLICATIONS["EfficientViTL3"]
