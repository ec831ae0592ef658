"""ViT and DeiT named constructors, with the timm checkpoints `weights="imagenet"` loads."""

from kvit.applications.application import make_application
from kvit.constants import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD
from kvit.models import vit

__all__ = [
    "ViTTi16",
    "ViTS16",
    "ViTB16",
    "ViTB32",
    "ViTL16",
    "ViTH14",
    "DeiTTi16",
    "DeiTS16",
    "DeiTB16",
]

INCEPTION_STATS = dict(mean=INCEPTION_MEAN, std=INCEPTION_STD)
IMAGENET_STATS = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
AUGREG = "AugReg (Steiner et al. 2021), ImageNet-21k pretrained, fine-tuned on ImageNet-1k"


def _preset(title, variant, patch_size, hub_id, license, summary, stats, distilled=False):
    return dict(
        title=title,
        image_size=224,
        crop_pct=0.9,
        interpolation="bicubic",
        hub_id=hub_id,
        license=license,
        summary=summary,
        config=dict(distilled=distilled, **vit.vit_config(variant, patch_size)),
        **stats,
    )


PRESETS = {
    "ViTTi16": _preset("ViT-Ti/16", "tiny", 16, "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k", "Apache-2.0", AUGREG, INCEPTION_STATS),
    "ViTS16": _preset("ViT-S/16", "small", 16, "timm/vit_small_patch16_224.augreg_in21k_ft_in1k", "Apache-2.0", AUGREG, INCEPTION_STATS),
    "ViTB16": _preset("ViT-B/16", "base", 16, "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", "Apache-2.0", AUGREG, INCEPTION_STATS),
    "ViTB32": _preset("ViT-B/32", "base", 32, "timm/vit_base_patch32_224.augreg_in21k_ft_in1k", "Apache-2.0", AUGREG, INCEPTION_STATS),
    "ViTL16": _preset("ViT-L/16", "large", 16, "timm/vit_large_patch16_224.augreg_in21k_ft_in1k", "Apache-2.0", AUGREG, INCEPTION_STATS),
    "ViTH14": _preset(
        "ViT-H/14", "huge", 14, "timm/vit_huge_patch14_224.orig_in21k", "Apache-2.0",
        "The original ImageNet-21k pretraining (Dosovitskiy et al. 2021); the checkpoint has no "
        "classifier, so with the top the head stays freshly initialised.",
        INCEPTION_STATS,
    ),
    "DeiTTi16": _preset("DeiT-Ti/16 distilled", "tiny", 16, "timm/deit_tiny_distilled_patch16_224.fb_in1k", "Apache-2.0", "DeiT with a distillation token (Touvron et al. 2021), ImageNet-1k.", IMAGENET_STATS, distilled=True),
    "DeiTS16": _preset("DeiT-S/16 distilled", "small", 16, "timm/deit_small_distilled_patch16_224.fb_in1k", "Apache-2.0", "DeiT with a distillation token (Touvron et al. 2021), ImageNet-1k.", IMAGENET_STATS, distilled=True),
    "DeiTB16": _preset("DeiT-B/16 distilled", "base", 16, "timm/deit_base_distilled_patch16_224.fb_in1k", "Apache-2.0", "DeiT with a distillation token (Touvron et al. 2021), ImageNet-1k.", IMAGENET_STATS, distilled=True),
}

# Parameters and FLOPs of each model at its default size with the top (one image, a multiply-add
# counted as two; `kvit.applications.flops.count_flops`), for `list_models`; the tests count them again.
FIGURES = {
    "ViTTi16": (5_717_416, 2_507_366_400),
    "ViTS16": (22_050_664, 9_197_764_608),
    "ViTB16": (86_567_656, 35_127_656_448),
    "ViTB32": (88_224_232, 8_818_372_608),
    "ViTL16": (304_326_632, 123_109_425_152),
    "ViTH14": (632_045_800, 334_590_218_240),
    "DeiTTi16": (5_910_800, 2_522_007_552),
    "DeiTS16": (22_436_432, 9_248_280_576),
    "DeiTB16": (87_338_192, 35_313_623_040),
}

_APPLICATIONS = {
    name: make_application(name, preset, vit.ViT, vit.convert_timm_checkpoint, vit.HEAD_LAYERS, FIGURES[name])
    for name, preset in PRESETS.items()
}
ViTTi16 = _APPLICATIONS["ViTTi16"]
ViTS16 = _APPLICATIONS["ViTS16"]
ViTB16 = _APPLICATIONS["ViTB16"]
ViTB32 = _APPLICATIONS["ViTB32"]
ViTL16 = _APPLICATIONS["ViTL16"]
ViTH14 = _APPLICATIONS["ViTH14"]
DeiTTi16 = _APPLICATIONS["DeiTTi16"]
DeiTS16 = _APPLICATIONS["DeiTS16"]
DeiTB16 = _APPLICATIONS["DeiTB16"]
