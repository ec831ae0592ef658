"""EfficientViT (MIT) named constructors, with the timm checkpoints `weights="imagenet"` loads.

The checkpoints are the paper authors' (mit-han-lab/efficientvit, Apache-2.0) as timm republishes
them, `timm/efficientvit_{variant}.r{size}_in1k`; timm's pretrained cfg says `apache-2.0`. timm
publishes several resolutions of most variants; a square `input_shape` of one of them loads that
checkpoint (`resolutions`). Each is evaluated by timm with ImageNet mean/std, bicubic resizing
and a centre crop of 0.95 (the B series at 224) or 1.0 (every other).
"""

from kvit.applications.application import make_application
from kvit.models import efficientvit

IMAGENET_STATS = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
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

_APPLICATIONS = {
    name: make_application(
        name, preset, efficientvit.EfficientViT, efficientvit.convert_timm_checkpoint, efficientvit.HEAD_LAYERS
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
