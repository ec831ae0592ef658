import functools

import keras
import numpy as np
import pytest

import kvit
from kvit.models import vit
from kvit.testing import check_keras_round_trip, check_timm_parity, import_timm, noise_weights, pixels, predict


def application(name, **kwargs):
    """`build(weights=...)` of the application `name`, returning logits, for `check_timm_parity`."""
    return functools.partial(kvit.applications.get, name, classifier_activation=None, **kwargs)


def stats(name):
    preset = kvit.applications.PRESETS[name]
    return dict(mean=preset["mean"], std=preset["std"])


PARITY_CASES = [
    pytest.param("ViTTi16", "vit_tiny_patch16_224", id="vit_ti16"),
    pytest.param("ViTS16", "vit_small_patch16_224", id="vit_s16"),
    pytest.param("DeiTTi16", "deit_tiny_distilled_patch16_224", id="deit_ti16_distilled"),
    pytest.param("ViTB16", "vit_base_patch16_224", marks=pytest.mark.slow, id="vit_b16"),
    pytest.param("ViTB32", "vit_base_patch32_224", marks=pytest.mark.slow, id="vit_b32"),
    pytest.param("ViTL16", "vit_large_patch16_224", marks=pytest.mark.slow, id="vit_l16"),
    pytest.param("ViTH14", "vit_huge_patch14_224", marks=pytest.mark.slow, id="vit_h14"),
    pytest.param("DeiTS16", "deit_small_distilled_patch16_224", marks=pytest.mark.slow, id="deit_s16"),
    pytest.param("DeiTB16", "deit_base_distilled_patch16_224", marks=pytest.mark.slow, id="deit_b16"),
]


@pytest.mark.parametrize("name,timm_name", PARITY_CASES)
def test_matches_timm(name, timm_name):
    check_timm_parity(application(name), timm_name, batch=2, **stats(name))


def test_resampled_position_embedding_matches_timm():
    # A 224 checkpoint loaded at 384: both sides resample the 14x14 position grid to 24x24.
    def timm_at_384(path):
        return import_timm().create_model(
            "vit_tiny_patch16_384", pretrained=True, pretrained_cfg_overlay=dict(file=path)
        ).eval()

    check_timm_parity(
        application("ViTTi16", input_shape=(384, 384, 3)), "vit_tiny_patch16_224", batch=2,
        timm_reference=timm_at_384, **stats("ViTTi16"),
    )


def test_global_average_pooling_matches_timm():
    def build(weights):
        model = vit.ViT(input_shape=(64, 64, 3), global_pool="avg", **stats("ViTTi16"), **vit.vit_config("tiny", 16))
        return kvit.applications.load_weights(model, weights, vit.convert_timm_checkpoint, vit.HEAD_LAYERS)

    check_timm_parity(
        build, "vit_tiny_patch16_224", batch=2, global_pool="avg", img_size=64, **stats("ViTTi16")
    )


def small_vit(**kwargs):
    config = dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2, classes=5)
    return vit.ViT(**{**config, **kwargs})


def test_preprocessing_takes_pixels_in_0_255():
    with_pre = small_vit()
    without = small_vit(include_preprocessing=False)
    without.set_weights(with_pre.get_weights())
    x = pixels((32, 32), batch=2)
    np.testing.assert_allclose(predict(with_pre, x), predict(without, x / 127.5 - 1.0), atol=1e-5)


@pytest.mark.parametrize(
    "pooling,shape", [(None, (2, 4, 4, 32)), ("avg", (2, 32)), ("max", (2, 32))]
)
def test_without_top(pooling, shape):
    model = small_vit(include_top=False, pooling=pooling)
    assert predict(model, pixels((32, 32), batch=2)).shape == shape


def test_input_tensor_and_other_channel_counts():
    inputs = keras.Input((32, 32, 5))
    x = keras.layers.Rescaling(2.0)(inputs)
    model = small_vit(input_shape=(32, 32, 5), input_tensor=x)
    assert model.inputs[0] is inputs
    assert predict(model, pixels((32, 32), batch=2, channels=5)).shape == (2, 5)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model)).count_params() == model.count_params()


def test_keras_file_round_trip():
    model = noise_weights(small_vit(distilled=True, drop_path_rate=0.1, dropout_rate=0.1))
    check_keras_round_trip(model, pixels((32, 32), batch=2))


def test_distilled_training_view_shares_weights():
    model = small_vit(distilled=True, classifier_activation=None)
    heads = vit.distillation_outputs(model)
    x = pixels((32, 32), batch=2)
    cls, dist = (keras.ops.convert_to_numpy(t) for t in heads(x))
    np.testing.assert_allclose(predict(model, x), (cls + dist) / 2, atol=1e-6)
    assert not np.allclose(cls, dist)
    with pytest.raises(ValueError, match="not a distilled ViT"):
        vit.distillation_outputs(small_vit())


def test_fit_trains_a_few_steps():
    model = small_vit(drop_path_rate=0.1, classifier_activation="softmax")
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    y = rng.randint(0, 5, 16)
    before = model.get_weights()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_drop_path_is_stochastic_only_in_training():
    # Depth 4 and 8 images: 8 x 6 branches can drop, so two identical training passes would mean
    # drop path never fired.
    model = small_vit(depth=4, drop_path_rate=0.5)
    x = np.random.RandomState(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(predict(model, x), predict(model, x))
    trained = [keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(2)]
    assert not np.allclose(*trained)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="patch_size"):
        small_vit(input_shape=(30, 30, 3))
    with pytest.raises(ValueError, match="input_shape"):
        kvit.applications.ViTTi16(weights="imagenet", input_shape=(224, 224, 1))
    with pytest.raises(ValueError, match="Unknown model 'ViTZ16'"):
        kvit.applications.get("ViTZ16")
    with pytest.raises(ValueError, match="Unknown ViT `variant` 'gigantic'"):
        vit.vit_config("gigantic", 16)
    with pytest.raises(ValueError, match="patch_size"):
        vit.vit_config("small", 12)
    with pytest.raises(ValueError, match="global_pool"):
        small_vit(global_pool="max")
    with pytest.raises(ValueError, match="pooling"):
        small_vit(include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="num_heads"):
        small_vit(num_heads=3)
