"""Every classifier preset's evaluation facts are those of its checkpoint in timm's pretrained configs
(the MAE presets name Hugging Face's whole autoencoders, which timm does not publish)."""

import pytest

from kvit import applications
from kvit.testing import import_timm

CLASSIFIERS = {name: applications.PRESETS[name] for name in applications.names("image_classification")}
PRESETS = [
    (name, size, applications.application.preset_for(preset, (size, size, 3)))
    for name, preset in CLASSIFIERS.items()
    for size in [preset["image_size"], *preset.get("resolutions", {})]
] + [  # the other checkpoints of a resolution (a Swin V2's window 16), picked by builder arguments
    (name, preset["image_size"], applications.application.preset_for(preset, None, overrides["config"]))
    for name, preset in CLASSIFIERS.items()
    for overrides in preset.get("checkpoints", ())
]


@pytest.mark.once
@pytest.mark.parametrize("name, size, preset", PRESETS, ids=[f"{n}-{s}-{p['hub_id']}" for n, s, p in PRESETS])
def test_preset_matches_timms_pretrained_config(name, size, preset):
    config = import_timm().models.get_pretrained_cfg(preset["hub_id"].removeprefix("timm/"))
    assert config is not None, preset["hub_id"]
    assert config.hf_hub_id == preset["hub_id"]
    assert tuple(config.input_size) == (3, size, size)
    assert preset["crop_pct"] == pytest.approx(config.crop_pct)
    assert preset["interpolation"] == config.interpolation
    assert tuple(preset["mean"]) == pytest.approx(config.mean)
    assert tuple(preset["std"]) == pytest.approx(config.std)
