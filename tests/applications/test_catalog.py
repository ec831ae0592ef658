"""`list_models` and the FLOP count it reports.

The count reads each backend's own trace; checking it against the shapes on every backend
checks that the three backends agree."""

import os

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


def test_list_models_counts_the_built_model_and_caches_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    built = []
    (row,) = kvit.applications.list_models(["ViTTi16"], progress=lambda i, name: built.append(name))
    model = kvit.applications.ViTTi16()
    assert row["params"] == model.count_params() and row["gflops"] == count_flops(model) / 1e9
    preset = kvit.applications.PRESETS["ViTTi16"]
    assert (row["image_size"], row["hub_id"], row["license"]) == (224, preset["hub_id"], preset["license"])
    assert built == ["ViTTi16"]
    assert kvit.applications.list_models(["ViTTi16"], progress=lambda i, name: built.append(name)) == [row]
    assert built == ["ViTTi16"]  # the second call read the cache
    assert os.listdir(tmp_path / "models" / "kvit") == ["catalog.json"]


def test_unknown_model_names_are_refused():
    with pytest.raises(ValueError, match="Unknown model 'SwinXXL'; expected one of"):
        kvit.applications.list_models(["SwinXXL"])
