import functools

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import kvit
from kvit.models import mobilevit
from kvit.testing import (
    check_feature_levels,
    check_keras_round_trip,
    check_timm_parity,
    noise_weights,
    pixels,
    timm_checkpoint,
)

RNG = np.random.default_rng(0)
# The tests beyond parity use the XXS and v2-0.5 widths too, at small sizes: on JAX every new
# weight shape costs a compile of its random initializer, so they reuse the parity tests' shapes.
XXS = mobilevit.MOBILEVIT_VARIANTS["xxs"]
V2_050 = mobilevit.MOBILEVIT_V2_VARIANTS["050"]


def test_unfold_and_fold_follow_timm():
    import torch

    x = RNG.normal(size=(2, 6, 8, 5)).astype("float32")
    patches = keras.ops.convert_to_numpy(mobilevit.unfold_patches(keras.ops.convert_to_tensor(x), 2))
    # timm's MobileVitBlock.forward unfold, on NCHW: the pixel offset indexes axis 1, the patch axis 2.
    t = torch.from_numpy(x.transpose(0, 3, 1, 2))
    t = t.reshape(2 * 5 * 3, 2, 4, 2).transpose(1, 2).reshape(2, 5, 12, 4).transpose(1, 3)
    np.testing.assert_array_equal(patches, t.numpy())
    folded = mobilevit.fold_patches(keras.ops.convert_to_tensor(patches), (6, 8), 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(folded), x)


def assert_matches_timm(name, timm_name, size):
    """Logits and the five feature maps of a kvit application against timm's, same random weights."""
    build = functools.partial(kvit.applications.APPLICATIONS[name], input_shape=(*size, 3), classifier_activation=None)
    # MobileViT takes RGB in [0, 1]: mean 0, std 1.
    check_timm_parity(build, timm_name, mean=0.0, std=1.0, levels=["P1", "P2", "P3", "P4", "P5"])


@pytest.mark.parametrize("size", [(256, 256), (250, 300)], ids=["256", "250x300"])
@pytest.mark.parametrize("name, timm_name", [
    ("MobileViTXXS", "mobilevit_xxs"),
    ("MobileViTS", "mobilevit_s"),
    ("MobileViTV2_050", "mobilevitv2_050"),
])
def test_matches_timm(name, timm_name, size):
    assert_matches_timm(name, timm_name, size)


@pytest.mark.slow
@pytest.mark.parametrize("name, timm_name", [("MobileViTXS", "mobilevit_xs")] + [
    (f"MobileViTV2_{w}", f"mobilevitv2_{w}") for w in ("075", "100", "125", "150", "175", "200")
])
def test_matches_timm_all_variants(name, timm_name):
    assert_matches_timm(name, timm_name, (256, 256))


def test_feature_shapes():
    model = kvit.models.MobileViT(input_shape=(64, 96, 3), **XXS)
    shapes = {
        "P1": (None, 32, 48, 16), "P2": (None, 16, 24, 24), "P3": (None, 8, 12, 48),
        "P4": (None, 4, 6, 64), "P5": (None, 2, 3, 320),
    }
    check_feature_levels(model, shapes, {"P1": 2, "P2": 4, "P3": 8, "P4": 16, "P5": 32})


@pytest.mark.parametrize("application, input_shape, pooling, output_shape", [
    (kvit.applications.MobileViTXXS, (256, 256, 3), None, (None, 8, 8, 320)),
    (kvit.applications.MobileViTXXS, (256, 256, 3), "avg", (None, 320)),
    (kvit.applications.MobileViTXXS, (256, 256, 3), "max", (None, 320)),
    # 160 / 32 = 5, but the last MobileViTv2 block rounds its map up to whole patches.
    (kvit.applications.MobileViTV2_050, (128, 160, 3), None, (None, 4, 6, 256)),
])
def test_without_top(application, input_shape, pooling, output_shape):
    model = application(include_top=False, pooling=pooling, input_shape=input_shape)
    assert tuple(model.output.shape) == output_shape


@pytest.mark.parametrize("builder, config", [(kvit.models.MobileViT, XXS), (kvit.models.MobileViTV2, V2_050)])
def test_keras_file_round_trip(builder, config):
    # 96 / 32 = 3: the last stage's map needs the resize.
    model = builder(input_shape=(96, 96, 3), drop_path_rate=0.1, dropout_rate=0.1, **config)
    check_keras_round_trip(noise_weights(model), pixels((96, 96), batch=2))


def test_pretrained_weights_need_three_channels():
    with pytest.raises(ValueError, match="channels"):
        kvit.applications.MobileViTXXS(weights="imagenet", input_shape=(256, 256, 1))


def test_any_channel_count_without_weights():
    model = kvit.models.MobileViT(input_shape=(32, 32, 1), **XXS)
    assert tuple(model.get_layer("stem").conv.kernel.shape) == (3, 3, 1, 16)
    assert tuple(model.output.shape) == (None, 1000)


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown model 'MobileViTXXL'"):
        kvit.applications.get("MobileViTXXL")


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    _, _, path = timm_checkpoint(tmp_path, "mobilevitv2_050")
    with pytest.raises(ValueError, match="does not fit 'mobilevitxxs'; nothing was loaded"):
        kvit.applications.MobileViTXXS(weights=path)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "vit.safetensors"
    save_file({"cls_token": np.zeros((1, 1, 8), "float32"), "blocks.0.norm1.weight": np.ones(8, "float32")}, str(path))
    with pytest.raises(ValueError, match="Not a timm MobileViT checkpoint"):
        kvit.applications.MobileViTXXS(weights=path)


def test_keras_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "v2.weights.h5"
    kvit.models.MobileViTV2(input_shape=(64, 64, 3), **V2_050).save_weights(path)
    model = kvit.models.MobileViT(input_shape=(64, 64, 3), **XXS)
    with pytest.raises(ValueError, match="another architecture"):
        kvit.applications.load_weights(model, path, mobilevit.convert_timm_checkpoint)


@pytest.mark.parametrize("kwargs, match", [
    (dict(transformer_widths=(64, 80)), "transformer_widths"),
    (dict(depths=(1, 1, 0, 1, 1)), "depths"),
    (dict(widths=(8, 8)), "widths"),
    (dict(input_shape=(32, 3)), "input_shape"),
    (dict(pooling="sum", include_top=False), "pooling"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kvit.models.MobileViT(**{**XXS, "input_shape": (64, 64, 3), **kwargs})
