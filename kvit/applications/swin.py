"""Swin Transformer V1 and V2 named constructors, with the timm checkpoints `weights="imagenet"` loads.

V1 takes the checkpoint `timm.create_model(name, pretrained=True)` takes (timm's default tag):
ImageNet-1k for Swin-T, ImageNet-22k fine-tuned on ImageNet-1k for S, B and L. B and L at
`input_shape=(384, 384, 3)` take the window-12 384 checkpoint. V2 defaults to window 8;
`window_size=16` takes the window-16 checkpoint of the same model.
"""

from kvit.applications.application import make_application
from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
from kvit.models import swin

__all__ = [
    "SwinT",
    "SwinS",
    "SwinB",
    "SwinL",
    "SwinV2T",
    "SwinV2S",
    "SwinV2B",
]

IMAGENET_STATS = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
LICENSE = "MIT"
V1_SUMMARY = "Swin Transformer (Liu et al. 2021), hierarchical with shifted-window attention"
V2_SUMMARY = (
    "Swin Transformer V2 (Liu et al. 2022): cosine window attention, a continuous position bias "
    "and post-norm residuals; trained on ImageNet-1k by the paper authors."
)
IN1K = ", trained on ImageNet-1k by the paper authors."
IN22K = ", pretrained on ImageNet-22k and fine-tuned on ImageNet-1k by the paper authors."


def _preset(title, image_size, hub_id, summary, config, **extra):
    return dict(
        title=title,
        image_size=image_size,
        crop_pct=0.9,
        interpolation="bicubic",
        hub_id=hub_id,
        license=LICENSE,
        summary=summary,
        config=config,
        **IMAGENET_STATS,
        **extra,
    )


def _v1(size, tag, large_resolution=False):
    name = f"swin_{size}_patch4_window7_224"
    extra = {}
    if large_resolution:
        name_384 = f"swin_{size}_patch4_window12_384"
        extra["resolutions"] = {
            384: dict(
                hub_id=f"timm/{name_384}.{tag}",
                crop_pct=1.0,
                config=dict(window_size=swin.SWIN_VARIANTS[name_384]["window_size"]),
            )
        }
    summary = V1_SUMMARY + (IN1K if tag == "ms_in1k" else IN22K)
    return _preset(
        f"Swin-{size[0].upper()}", 224, f"timm/{name}.{tag}", summary, swin.SWIN_VARIANTS[name], **extra
    )


def _v2(size):
    name = f"swinv2_{size}_window8_256"
    window_16 = dict(hub_id=f"timm/swinv2_{size}_window16_256.ms_in1k", config=dict(window_size=16))
    return _preset(
        f"SwinV2-{size[0].upper()} window 8", 256, f"timm/{name}.ms_in1k", V2_SUMMARY,
        swin.SWIN_V2_VARIANTS[name], checkpoints=[window_16],
    )


V1_PRESETS = {
    "SwinT": _v1("tiny", "ms_in1k"),
    "SwinS": _v1("small", "ms_in22k_ft_in1k"),
    "SwinB": _v1("base", "ms_in22k_ft_in1k", large_resolution=True),
    "SwinL": _v1("large", "ms_in22k_ft_in1k", large_resolution=True),
}
V2_PRESETS = {"SwinV2T": _v2("tiny"), "SwinV2S": _v2("small"), "SwinV2B": _v2("base")}
PRESETS = {**V1_PRESETS, **V2_PRESETS}

# Parameters and FLOPs of each model at its default size with the top (one image, a multiply-add
# counted as two; `kvit.applications.flops.count_flops`), for `list_models`; the tests count them again.
FIGURES = {
    "SwinT": (28_288_354, 8_981_133_312),
    "SwinS": (49_606_258, 17_481_750_528),
    "SwinB": (87_768_224, 30_861_893_632),
    "SwinL": (196_532_476, 68_951_519_232),
    "SwinV2T": (28_347_154, 11_879_380_992),
    "SwinV2S": (49_728_418, 23_091_714_048),
    "SwinV2B": (87_918_816, 40_650_268_672),
}

_APPLICATIONS = {
    name: make_application(
        name, preset, swin.SwinTransformer, swin.convert_timm_checkpoint, swin.HEAD_LAYERS, FIGURES[name]
    )
    for name, preset in V1_PRESETS.items()
} | {
    name: make_application(
        name, preset, swin.SwinTransformerV2, swin.convert_timm_v2_checkpoint, swin.HEAD_LAYERS, FIGURES[name]
    )
    for name, preset in V2_PRESETS.items()
}
SwinT = _APPLICATIONS["SwinT"]
SwinS = _APPLICATIONS["SwinS"]
SwinB = _APPLICATIONS["SwinB"]
SwinL = _APPLICATIONS["SwinL"]
SwinV2T = _APPLICATIONS["SwinV2T"]
SwinV2S = _APPLICATIONS["SwinV2S"]
SwinV2B = _APPLICATIONS["SwinV2B"]
