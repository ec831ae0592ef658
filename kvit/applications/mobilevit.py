"""MobileViT and MobileViTv2 named constructors, with the timm checkpoints `weights="imagenet"` loads.

The checkpoints are Apple's (trained with ml-cvnets by the paper authors) as timm republishes them;
they carry Apple's ml-cvnets licence, not Apache-2.0 (the Hugging Face model cards say `license:
other` and point to it; timm's pretrained cfg says `cvnets-license`). timm's cfg feeds them [0, 1]
RGB pixels, mean 0 and std 1, at 256x256 (crop 0.9 for v1, 0.888 for v2, bicubic); so validated,
MobileViT-S scores 78.3% top-1 in timm's `results-imagenet.csv`. (The Hugging Face Transformers
port, `apple/mobilevit-*`, is a different conversion whose processor flips images to BGR.)
"""

from kvit.applications.application import make_application
from kvit.models import mobilevit

__all__ = [
    "MobileViTXXS",
    "MobileViTXS",
    "MobileViTS",
    "MobileViTV2_050",
    "MobileViTV2_075",
    "MobileViTV2_100",
    "MobileViTV2_125",
    "MobileViTV2_150",
    "MobileViTV2_175",
    "MobileViTV2_200",
]

# In [0, 1] units: the model only divides [0, 255] pixels by 255.
UNIT_RANGE_STATS = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
LICENSE = "Apple ml-cvnets licence (not Apache-2.0)"
V1_SUMMARY = "MobileViT (Mehta & Rastegari 2022), trained on ImageNet-1k by the paper authors."
V2_SUMMARY = (
    "MobileViTv2 with separable self-attention (Mehta & Rastegari 2023), trained on ImageNet-1k "
    "by the paper authors."
)


def _preset(title, config, hub_id, summary, crop_pct):
    return dict(
        title=title,
        image_size=256,
        crop_pct=crop_pct,
        interpolation="bicubic",
        hub_id=hub_id,
        license=LICENSE,
        summary=summary,
        config=config,
        **UNIT_RANGE_STATS,
    )


def _v1(size):
    return _preset(
        f"MobileViT-{size.upper()}",
        mobilevit.MOBILEVIT_VARIANTS[size],
        f"timm/mobilevit_{size}.cvnets_in1k",
        V1_SUMMARY,
        crop_pct=0.9,
    )


def _v2(width):
    return _preset(
        f"MobileViTv2-{int(width) / 100:.2f}",
        mobilevit.MOBILEVIT_V2_VARIANTS[width],
        f"timm/mobilevitv2_{width}.cvnets_in1k",
        V2_SUMMARY,
        crop_pct=0.888,
    )


V1_PRESETS = {"MobileViTXXS": _v1("xxs"), "MobileViTXS": _v1("xs"), "MobileViTS": _v1("s")}
V2_PRESETS = {f"MobileViTV2_{width}": _v2(width) for width in mobilevit.MOBILEVIT_V2_VARIANTS}
PRESETS = {**V1_PRESETS, **V2_PRESETS}

# Parameters and FLOPs of each model at its default size with the top (one image, a multiply-add
# counted as two; `kvit.applications.flops.count_flops`), for `list_models`; the tests count them again.
FIGURES = {
    "MobileViTXXS": (1_276_136, 814_728_192),
    "MobileViTXS": (2_326_296, 2_051_823_616),
    "MobileViTS": (5_590_888, 4_001_662_976),
    "MobileViTV2_050": (1_378_369, 929_189_888),
    "MobileViTV2_075": (2_877_673, 2_055_960_576),
    "MobileViTV2_100": (4_917_393, 3_624_181_760),
    "MobileViTV2_125": (7_497_529, 5_633_853_440),
    "MobileViTV2_150": (10_618_081, 8_084_975_616),
    "MobileViTV2_175": (14_279_049, 10_977_548_288),
    "MobileViTV2_200": (18_480_433, 14_311_571_456),
}

_APPLICATIONS = {
    name: make_application(
        name,
        preset,
        mobilevit.MobileViT if name in V1_PRESETS else mobilevit.MobileViTV2,
        mobilevit.convert_timm_checkpoint,
        mobilevit.HEAD_LAYERS,
        FIGURES[name],
    )
    for name, preset in PRESETS.items()
}
MobileViTXXS = _APPLICATIONS["MobileViTXXS"]
MobileViTXS = _APPLICATIONS["MobileViTXS"]
MobileViTS = _APPLICATIONS["MobileViTS"]
MobileViTV2_050 = _APPLICATIONS["MobileViTV2_050"]
MobileViTV2_075 = _APPLICATIONS["MobileViTV2_075"]
MobileViTV2_100 = _APPLICATIONS["MobileViTV2_100"]
MobileViTV2_125 = _APPLICATIONS["MobileViTV2_125"]
MobileViTV2_150 = _APPLICATIONS["MobileViTV2_150"]
MobileViTV2_175 = _APPLICATIONS["MobileViTV2_175"]
MobileViTV2_200 = _APPLICATIONS["MobileViTV2_200"]
