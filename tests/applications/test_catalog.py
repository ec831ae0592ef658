"""`list_models`, the figures shipped with the presets, and the FLOP count behind them.

The count reads each backend's own trace; checking it against the shapes on every backend
checks that the three backends agree."""

import keras
import pytest

import kvit
from kvit.applications.flops import count_flops


def expected_vit_flops(size, patch, width, depth, mlp_ratio, classes, batch=1):
    """Two per multiply-add of a ViT's matmuls and convolutions, from its shapes."""
    grid = (size // patch) ** 2
    tokens = grid + 1
    macs = grid * patch * patch * 3 * width  # patch embedding
    per_block = tokens * width * 3 * width + 2 * tokens * tokens * width + tokens * width * width
    per_block += 2 * tokens * width * int(width * mlp_ratio)
    macs += depth * per_block + width * classes
    return 2 * batch * macs


def test_vit_flops_follow_from_its_shapes():
    model = kvit.models.ViT(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2, mlp_ratio=2.0,
                            classes=7)
    assert count_flops(model) == expected_vit_flops(32, 8, 32, 2, 2.0, 7)
    assert count_flops(model, batch_size=3) == expected_vit_flops(32, 8, 32, 2, 2.0, 7, batch=3)


def test_convolution_flops_follow_from_their_shapes():
    inputs = keras.Input((16, 16, 4))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)  # 8x8x8 out
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Conv2D(6, 1, groups=2)(x)
    model = keras.Model(inputs, x)
    assert count_flops(model) == 2 * (8 * 8 * 8 * 9 * 4 + 8 * 8 * 8 * 9 + 8 * 8 * 6 * 4)


def smallest_of_each_builder(names):
    """The application with the fewest parameters of each family builder (MAE: its own kind)."""
    smallest = {}
    for name in names:
        kind = getattr(kvit.applications.APPLICATIONS[name], "builder", "mae")
        if kind not in smallest or kvit.applications.PRESETS[name]["params"] < kvit.applications.PRESETS[smallest[kind]]["params"]:
            smallest[kind] = name
    return sorted(smallest.values())


def check_shipped_figures(name):
    model = kvit.applications.get(name)
    preset = kvit.applications.PRESETS[name]
    assert preset["params"] == model.count_params(), name
    if preset["task"] == "image_classification":
        assert preset["flops"] == count_flops(model), name


@pytest.mark.once
@pytest.mark.parametrize("name", smallest_of_each_builder(kvit.applications.names()))
def test_shipped_figures_are_the_built_models(name):
    check_shipped_figures(name)


@pytest.mark.once
@pytest.mark.slow
@pytest.mark.parametrize("name", kvit.applications.names())
def test_shipped_figures_of_every_application(name):
    check_shipped_figures(name)


def test_list_models_builds_nothing(monkeypatch):
    def refuse(**kwargs):
        raise AssertionError("list_models built a model")

    monkeypatch.setattr(kvit.applications.registry, "APPLICATIONS", {name: refuse for name in kvit.applications.names()})
    rows = kvit.applications.list_models()
    assert [row["name"] for row in rows] == kvit.applications.names()
    (row,) = kvit.applications.list_models(["ViTTi16"])
    preset = kvit.applications.PRESETS["ViTTi16"]
    assert row["params"] == preset["params"] and row["gflops"] == preset["flops"] / 1e9
    assert (row["image_size"], row["hub_id"], row["license"]) == (224, preset["hub_id"], preset["license"])


def test_mae_applications_are_registered():
    mae_names = kvit.applications.names("mae_pretraining")
    assert mae_names == ["MAEViTB16", "MAEViTH14", "MAEViTL16"]
    assert {row["name"] for row in kvit.applications.list_models()} >= set(mae_names)
    assert set(mae_names).isdisjoint(kvit.applications.names("image_classification"))
    model = kvit.applications.get("MAEViTB16", depth=1, decoder_depth=1, input_shape=(32, 32, 3))
    assert isinstance(model, kvit.models.MAE)


def test_unknown_model_names_are_refused():
    with pytest.raises(ValueError, match="Unknown model 'SwinXXL'; expected one of"):
        kvit.applications.list_models(["SwinXXL"])
