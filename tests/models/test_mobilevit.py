import keras
import numpy as np
import pytest
from reference import create_timm_model, run_timm
from safetensors.numpy import save_file

import kvit
from kvit.models import mobilevit

RNG = np.random.default_rng(0)

# A small MobileViT of each version, for the tests that are about the code paths, not the sizes.
TINY_V1 = dict(
    stem_width=8, widths=(8, 8, 16, 16, 16), depths=(1, 1, 1, 1, 1), expansion_ratio=2.0,
    transformer_widths=(16, 16, 16), transformer_depths=(1, 1, 1), head_width=32, num_heads=2,
)
TINY_V2 = dict(
    stem_width=8, widths=(8, 8, 16, 16, 16), depths=(1, 1, 1, 1, 1), transformer_depths=(1, 1, 1),
)


def pixels(size, batch=2):
    return RNG.uniform(0.0, 255.0, (batch, *size, 3)).astype("float32")


def timm_checkpoint(tmp_path, timm_name):
    """timm's model with random weights, and the path of its state dict as a `.safetensors` file."""
    model, state = create_timm_model(timm_name)
    path = tmp_path / f"{timm_name}.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    return model, path


def predict(model, x):
    outputs = model.predict_on_batch(x)
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    return keras.ops.convert_to_numpy(outputs)


def assert_matches_timm(tmp_path, application, timm_name, size):
    timm_model, path = timm_checkpoint(tmp_path, timm_name)
    model = application(weights=path, input_shape=(*size, 3), classifier_activation=None)
    x = pixels(size)
    expected = run_timm(timm_model, x / 255.0)
    np.testing.assert_allclose(predict(model, x), expected, atol=1e-4, rtol=0)


PARITY = [
    ("MobileViTXXS", "mobilevit_xxs", (256, 256)),
    ("MobileViTXXS", "mobilevit_xxs", (250, 300)),
    ("MobileViTS", "mobilevit_s", (256, 256)),
    ("MobileViTS", "mobilevit_s", (250, 300)),
    ("MobileViTV2_050", "mobilevitv2_050", (256, 256)),
    ("MobileViTV2_050", "mobilevitv2_050", (250, 300)),
]
SLOW_PARITY = [("MobileViTXS", "mobilevit_xs")] + [
    (f"MobileViTV2_{w}", f"mobilevitv2_{w}") for w in ("075", "100", "125", "150", "175", "200")
]


@pytest.mark.parametrize("name, timm_name, size", PARITY)
def test_matches_timm(tmp_path, name, timm_name, size):
    assert_matches_timm(tmp_path, kvit.applications.APPLICATIONS[name], timm_name, size)


@pytest.mark.slow
@pytest.mark.parametrize("name, timm_name", SLOW_PARITY)
def test_matches_timm_all_variants(tmp_path, name, timm_name):
    assert_matches_timm(tmp_path, kvit.applications.APPLICATIONS[name], timm_name, (256, 256))


@pytest.mark.parametrize("timm_name, application", [
    ("mobilevit_xxs", kvit.applications.MobileViTXXS),
    ("mobilevitv2_050", kvit.applications.MobileViTV2_050),
])
def test_features_match_timm(tmp_path, timm_name, application):
    timm_model, path = timm_checkpoint(tmp_path, timm_name)
    size = (250, 300)
    features = mobilevit.feature_extractor(application(weights=path, input_shape=(*size, 3)))
    x = pixels(size)
    import torch

    with torch.no_grad():
        expected = timm_model.forward_intermediates(
            torch.from_numpy(x.transpose(0, 3, 1, 2) / 255.0), intermediates_only=True
        )
    outputs = predict(features, x)
    assert len(outputs) == len(expected) == 5
    for output, reference in zip(outputs, expected):
        np.testing.assert_allclose(output, reference.numpy().transpose(0, 2, 3, 1), atol=1e-4, rtol=0)


def test_feature_shapes():
    model = kvit.models.MobileViT(input_shape=(64, 96, 3), **TINY_V1)
    shapes = [tuple(o.shape) for o in mobilevit.feature_extractor(model).outputs]
    assert shapes == [(None, 32, 48, 8), (None, 16, 24, 8), (None, 8, 12, 16), (None, 4, 6, 16), (None, 2, 3, 32)]
    direct = kvit.models.MobileViT(input_shape=(64, 96, 3), return_features=True, **TINY_V1)
    assert [tuple(o.shape) for o in direct.outputs] == shapes
    # A v2 block rounds a map its patches do not tile up (9x8 -> 10x8, 5x4 -> 6x4, 3x2 -> 4x2).
    v2 = kvit.models.MobileViTV2(input_shape=(70, 64, 3), return_features=True, **TINY_V2)
    assert [tuple(o.shape)[1:3] for o in v2.outputs] == [(35, 32), (18, 16), (10, 8), (6, 4), (4, 2)]


@pytest.mark.parametrize("pooling, shape", [(None, (2, 8, 8, 320)), ("avg", (2, 320)), ("max", (2, 320))])
def test_without_top(pooling, shape):
    model = kvit.applications.MobileViTXXS(include_top=False, pooling=pooling)
    assert predict(model, pixels((256, 256))).shape == shape


def test_without_top_v2():
    model = kvit.applications.MobileViTV2_050(include_top=False, input_shape=(128, 160, 3))
    assert tuple(model.output.shape) == (None, 4, 5, 256)


@pytest.mark.parametrize("builder, config", [
    (kvit.models.MobileViT, TINY_V1),
    (kvit.models.MobileViTV2, TINY_V2),
])
def test_keras_file_round_trip(tmp_path, builder, config):
    model = builder(input_shape=(62, 64, 3), classes=5, drop_path_rate=0.1, dropout_rate=0.1, **config)
    for variable in model.weights:  # away from the initial values, so a skipped weight shows
        variable.assign(variable + RNG.normal(0.0, 0.05, variable.shape).astype("float32"))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = pixels((62, 64))
    np.testing.assert_allclose(predict(loaded, x), predict(model, x), atol=1e-6)
    assert loaded.get_config() == model.get_config()


def test_fit_updates_batch_norm_and_trains():
    model = kvit.models.MobileViT(input_shape=(32, 32, 3), classes=3, drop_path_rate=0.1, **TINY_V1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = keras.ops.convert_to_numpy(model.get_layer("stem").bn.moving_mean)
    history = model.fit(pixels((32, 32), batch=4), np.array([0, 1, 2, 0]), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.allclose(keras.ops.convert_to_numpy(model.get_layer("stem").bn.moving_mean), before)


def test_pretrained_weights_need_three_channels():
    with pytest.raises(ValueError, match="channels"):
        kvit.applications.MobileViTXXS(weights="imagenet", input_shape=(256, 256, 1))


def test_any_channel_count_without_weights():
    model = kvit.models.MobileViT(input_shape=(32, 32, 1), **TINY_V1)
    assert predict(model, pixels((32, 32))[..., :1]).shape == (2, 1000)


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown model 'MobileViTXXL'"):
        kvit.applications.get("MobileViTXXL")


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    _, state = create_timm_model("mobilevitv2_050")
    path = tmp_path / "v2.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match="does not fit 'mobilevitxxs'; nothing was loaded"):
        kvit.applications.MobileViTXXS(weights=path)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "vit.safetensors"
    save_file({"cls_token": np.zeros((1, 1, 8), "float32"), "blocks.0.norm1.weight": np.ones(8, "float32")}, str(path))
    with pytest.raises(ValueError, match="Not a timm MobileViT checkpoint"):
        kvit.applications.MobileViTXXS(weights=path)


def test_keras_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "v2.weights.h5"
    kvit.models.MobileViTV2(input_shape=(32, 32, 3), **TINY_V2).save_weights(path)
    model = kvit.models.MobileViT(input_shape=(32, 32, 3), **TINY_V1)
    with pytest.raises(ValueError, match="another architecture"):
        kvit.applications.load_weights(model, path, mobilevit.convert_timm_checkpoint)


@pytest.mark.parametrize("kwargs, match", [
    (dict(transformer_widths=(16, 16)), "transformer_widths"),
    (dict(depths=(1, 1, 0, 1, 1)), "depths"),
    (dict(widths=(8, 8)), "widths"),
    (dict(input_shape=(32, 3)), "input_shape"),
    (dict(pooling="sum", include_top=False), "pooling"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kvit.models.MobileViT(**{**TINY_V1, "input_shape": (32, 32, 3), **kwargs})
