"""Named constructors in the keras.applications style: `kvit.applications.ViTS16(weights=...)`."""

from kvit.applications import efficientvit as _efficientvit
from kvit.applications import mobilevit as _mobilevit
from kvit.applications import swin as _swin
from kvit.applications import vit as _vit
from kvit.applications.catalog import list_models
from kvit.applications.efficientvit import (
    EfficientViTB0,
    EfficientViTB1,
    EfficientViTB2,
    EfficientViTB3,
    EfficientViTL1,
    EfficientViTL2,
    EfficientViTL3,
)
from kvit.applications.imagenet import decode_predictions, imagenet_classes
from kvit.applications.mae import MAEViTB16, MAEViTH14, MAEViTL16
from kvit.applications.mobilevit import (
    MobileViTS,
    MobileViTV2_050,
    MobileViTV2_075,
    MobileViTV2_100,
    MobileViTV2_125,
    MobileViTV2_150,
    MobileViTV2_175,
    MobileViTV2_200,
    MobileViTXS,
    MobileViTXXS,
)
from kvit.applications.swin import SwinB, SwinL, SwinS, SwinT, SwinV2B, SwinV2S, SwinV2T
from kvit.applications.vit import (
    DeiTB16,
    DeiTS16,
    DeiTTi16,
    ViTB16,
    ViTB32,
    ViTH14,
    ViTL16,
    ViTS16,
    ViTTi16,
)
from kvit.applications.weights import load_weights

PRESETS = {**_vit.PRESETS, **_mobilevit.PRESETS, **_swin.PRESETS, **_efficientvit.PRESETS}
APPLICATIONS = {name: globals()[name] for name in PRESETS}


def get(name, **kwargs):
    """Builds the application called `name` (e.g. `"ViTS16"`) with `kwargs`."""
    return APPLICATIONS[check_name(name)](**kwargs)


def check_name(name):
    """Returns `name` if it is an application's, else raises a ValueError that lists them."""
    if name not in APPLICATIONS:
        raise ValueError(f"Unknown model {name!r}; expected one of {sorted(APPLICATIONS)}.")
    return name
