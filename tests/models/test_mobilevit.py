import json

import keras
import numpy as np
import pytest
from reference import create_timm_model
from safetensors.numpy import save_file

import kvit
from kvit.models import mobilevit

RNG = np.random.default_rng(0)
# The tests beyond parity use the XXS and v2-0.5 widths too, at small sizes: on JAX every new
# weight shape costs a compile of its random initializer, so they reuse the parity tests' shapes.
XXS = mobilevit.MOBILEVIT_VARIANTS["xxs"]
V2_050 = mobilevit.MOBILEVIT_V2_VARIANTS["050"]


def pixels(size, batch=1):
    return RNG.uniform(0.0, 255.0, (batch, *size, 3)).astype("float32")


def timm_checkpoint(tmp_path, timm_name):
    """timm's model with random weights, and the path of its state dict as a `.safetensors` file."""
    model, state = create_timm_model(timm_name)
    path = tmp_path / f"{timm_name}.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    return model, path


def predict(model, x):
    # TensorFlow runs a single batch fastest eagerly; JAX compiles one graph faster than its ops one
    # by one, and PyTorch needs predict's no_grad.
    if keras.backend.backend() == "tensorflow":
        outputs = model(x, training=False)
    else:
        outputs = model.predict_on_batch(x)
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    return keras.ops.convert_to_numpy(outputs)


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


def assert_matches_timm(tmp_path, name, timm_name, size):
    """Logits and the five feature maps of a kvit application against timm's, same random weights."""
    import torch

    timm_model, path = timm_checkpoint(tmp_path, timm_name)
    model = kvit.applications.APPLICATIONS[name](
        weights=path, input_shape=(*size, 3), classifier_activation=None
    )
    features = kvit.models.feature_extractor(model).output
    x = pixels(size)
    logits, *maps = predict(keras.Model(model.input, [model.output, *features.values()]), x)
    with torch.no_grad():
        final, expected = timm_model.forward_intermediates(torch.from_numpy(x.transpose(0, 3, 1, 2) / 255.0))
        expected_logits = timm_model.forward_head(final).numpy()
    np.testing.assert_allclose(logits, expected_logits, atol=1e-4, rtol=0)
    assert len(maps) == len(expected) == 5
    for output, reference in zip(maps, expected):
        reference = reference.numpy().transpose(0, 2, 3, 1)
        # Deep maps grow to ~70 with random weights; float32 rounding grows with them.
        scale = max(1.0, np.abs(reference).max())
        np.testing.assert_allclose(output, reference, atol=1e-4 * scale, rtol=0)


@pytest.mark.parametrize("size", [(256, 256), (250, 300)], ids=["256", "250x300"])
@pytest.mark.parametrize("name, timm_name", [
    ("MobileViTXXS", "mobilevit_xxs"),
    ("MobileViTS", "mobilevit_s"),
    ("MobileViTV2_050", "mobilevitv2_050"),
])
def test_matches_timm(tmp_path, name, timm_name, size):
    assert_matches_timm(tmp_path, name, timm_name, size)


@pytest.mark.slow
@pytest.mark.parametrize("name, timm_name", [("MobileViTXS", "mobilevit_xs")] + [
    (f"MobileViTV2_{w}", f"mobilevitv2_{w}") for w in ("075", "100", "125", "150", "175", "200")
])
def test_matches_timm_all_variants(tmp_path, name, timm_name):
    assert_matches_timm(tmp_path, name, timm_name, (256, 256))


def test_feature_shapes():
    model = kvit.models.MobileViT(input_shape=(64, 96, 3), **XXS)
    features = kvit.models.feature_extractor(model)
    shapes = {name: tuple(output.shape) for name, output in features.output.items()}
    assert shapes == {
        "P1": (None, 32, 48, 16), "P2": (None, 16, 24, 24), "P3": (None, 8, 12, 48),
        "P4": (None, 4, 6, 64), "P5": (None, 2, 3, 320),
    }
    assert features.feature_strides == {"P1": 2, "P2": 4, "P3": 8, "P4": 16, "P5": 32}


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
def test_keras_file_round_trip(tmp_path, builder, config):
    # 96 / 32 = 3: the last stage's map needs the resize.
    model = builder(input_shape=(96, 96, 3), drop_path_rate=0.1, dropout_rate=0.1, name="original", **config)
    for variable in model.weights:  # away from the initial values, so a skipped weight shows
        noise = RNG.normal(0.0, 0.05, variable.shape).astype("float32")
        variable.assign(keras.ops.convert_to_numpy(variable) + noise)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(model.get_config(), sort_keys=True)
    loaded.name = "loaded"
    images = keras.Input((96, 96, 3))
    both = keras.Model(images, [model(images), loaded(images)])  # one graph: one compile on JAX
    original_output, loaded_output = predict(both, pixels((96, 96), batch=2))
    np.testing.assert_allclose(loaded_output, original_output, atol=1e-6)


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
