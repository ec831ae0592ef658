"""A family registers itself: one added here, in a test, is found by `get`, `list_models` and
`feature_extractor` without any central file naming it."""

import keras
import pytest

import kvit
from kvit.applications import registry
from kvit.applications.application import make_application
from kvit.models import backbone, features

pytestmark = pytest.mark.once  # the registries are plain Python, the same on every backend


def TinyConvNet(input_shape=(32, 32, 3), *, width=8, include_top=True, classes=1000, classifier_activation=None,
                pooling=None, input_tensor=None, include_preprocessing=True, mean=(0.5,) * 3, std=(0.5,) * 3,
                name="tiny_conv_net"):
    """A two-stage convolutional family: stage `i` halves the map (strides 2 and 4)."""

    def body(x):
        for stage in range(2):
            x = keras.layers.Conv2D(width * 2**stage, 3, strides=2, padding="same", name=f"tiny_stage_{stage}")(x)
        return x

    return backbone.functional_model(
        body, input_shape=input_shape, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
        mean=mean, std=std, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name,
    )


def tiny_feature_levels(model):
    stages = [layer for layer in model.layers if layer.name.startswith("tiny_stage_")]
    if not stages:
        return None
    levels = {f"P{index + 1}": (2 ** (index + 1), layer.output) for index, layer in enumerate(stages)}
    return levels, list(levels)


@pytest.fixture
def tiny_family():
    features.register_feature_levels(tiny_feature_levels)
    preset = dict(
        title="Tiny", summary="A test family.", image_size=32, hub_id="test/tiny", license="MIT",
        mean=(0.5,) * 3, std=(0.5,) * 3, crop_pct=1.0, interpolation="bilinear", config=dict(width=8),
    )
    try:
        yield make_application("TinyNet", preset, TinyConvNet, lambda state: state, ("head",), (1234, 5678))
    finally:
        features._FAMILY_LEVELS.remove(tiny_feature_levels)
        registry.APPLICATIONS.pop("TinyNet", None)
        registry.PRESETS.pop("TinyNet", None)


def test_a_family_added_outside_kvit_is_found_everywhere(tiny_family):
    assert "TinyNet" in kvit.applications.names("image_classification")
    model = kvit.applications.get("TinyNet", classes=3)
    assert model.output.shape == (None, 3)
    (row,) = [row for row in kvit.applications.list_models() if row["name"] == "TinyNet"]
    assert (row["params"], row["gflops"], row["license"]) == (1234, 5678 / 1e9, "MIT")
    extractor = kvit.models.feature_extractor(kvit.applications.get("TinyNet", include_top=False))
    assert extractor.feature_strides == {"P1": 2, "P2": 4}
    assert tuple(extractor.output["P2"].shape) == (None, 8, 8, 16)


def test_names_are_registered_once(tiny_family):
    with pytest.raises(ValueError, match="'TinyNet' is registered already"):
        registry.register("TinyNet", tiny_family, registry.PRESETS["TinyNet"])


def test_a_preset_without_its_figures_is_refused(tiny_family):
    preset = {key: value for key, value in registry.PRESETS["TinyNet"].items() if key != "flops"}
    with pytest.raises(ValueError, match=r"lacks \['flops'\]"):
        registry.register("TinyNet2", tiny_family, preset)
