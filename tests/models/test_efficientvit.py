import functools

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import kvit
from kvit.applications import application, weights
from kvit.applications.flops import count_flops
from kvit.models import efficientvit
from kvit.testing import (
    check_feature_levels,
    check_keras_round_trip,
    check_timm_parity,
    import_timm,
    noise_torch_weights,
    noise_weights,
    pixels,
    predict,
    timm_checkpoint,
)

RNG = np.random.default_rng(0)
# Tests beyond parity use this tiny configuration (both series): on JAX every new weight shape
# costs a compile of its random initializer.
TINY = dict(widths=(8, 8, 16, 16, 32), depths=(1, 1, 1, 1, 1), head_dim=8, head_widths=(32, 32), classes=10)
TINY_L = dict(TINY, series="l")


class NumpyRandom:
    """Stands in for `keras.random` inside Keras' random initializers: the same distributions, drawn with NumPy.

    On JAX every new weight shape compiles its random initializer (about 30 s for a full-size
    EfficientViT); NumPy draws cost no compile, and the tests need no particular random stream.
    """

    def __init__(self, module, seed=0):
        self.module = module
        self.rng = np.random.default_rng(seed)

    def __getattr__(self, name):  # seeds and the rest: Keras' own
        return getattr(self.module, name)

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return keras.ops.convert_to_tensor(self.rng.uniform(minval, maxval, shape), dtype or "float32")

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return keras.ops.convert_to_tensor(self.rng.normal(mean, stddev, shape), dtype or "float32")

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        values = np.clip(self.rng.normal(0.0, 1.0, shape), -2.0, 2.0)
        return keras.ops.convert_to_tensor(mean + stddev * values, dtype or "float32")


@pytest.fixture(autouse=True)
def numpy_initializers(monkeypatch):
    from keras.src.initializers import random_initializers

    monkeypatch.setattr(random_initializers, "random", NumpyRandom(random_initializers.random))


def assert_matches_timm(name, size):
    """Logits and the four stage maps of a kvit application against timm's, same random weights.

    Where a pixel's ReLU'd queries are all near zero, the linear attention's output there hangs on
    their rounding: the maps are held to timm's own float32 error (`timm_rounding`).
    """
    build = functools.partial(kvit.applications.APPLICATIONS[name], input_shape=(size, size, 3), classifier_activation=None)
    check_timm_parity(
        build, f"efficientvit_{name[len('EfficientViT'):].lower()}", mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225), levels=["P2", "P3", "P4", "P5"], timm_rounding=True,
    )


@pytest.mark.parametrize("name, size", [
    ("EfficientViTB0", 224), ("EfficientViTB1", 224), ("EfficientViTB1", 288), ("EfficientViTL1", 224),
])
def test_matches_timm(name, size):
    assert_matches_timm(name, size)


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [
    ("EfficientViTB0", 256), ("EfficientViTB2", 224), ("EfficientViTB2", 288), ("EfficientViTB3", 256),
    ("EfficientViTL2", 384), ("EfficientViTL3", 224), ("EfficientViTL3", 320),
])
def test_matches_timm_all_variants(name, size):
    assert_matches_timm(name, size)


def test_lite_mla_matches_timm_on_a_map_that_is_not_square():
    import torch

    import_timm()
    from timm.models.efficientvit_mit import LiteMLA as TimmLiteMLA

    torch.manual_seed(0)
    reference = noise_torch_weights(TimmLiteMLA(16, 16, dim=8, norm_layer=(None, torch.nn.BatchNorm2d)).eval(), stddev=0.1)
    state = {f"stages.2.blocks.1.context_module.main.{k}": v.numpy() for k, v in reference.state_dict().items()}
    arrays = {k.split("/", 2)[2]: v for k, v in efficientvit.convert_timm_checkpoint(state).items()}
    layer = efficientvit.LiteMLA(8, name="context")
    x = RNG.normal(size=(2, 6, 10, 16)).astype("float32")
    layer.build(x.shape)
    for variable in layer.weights:
        variable.assign(arrays[variable.path.split("/", 1)[1]])
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-5, rtol=0)


def test_attention_cost_is_linear_in_pixels():
    # Quadruple the pixels, quadruple every matmul and convolution: never a (pixels, pixels) product.
    small, large = (
        count_flops(kvit.models.EfficientViT(input_shape=(s, s, 3), include_top=False, **TINY)) for s in (64, 128)
    )
    assert large == 4 * small


def test_mixed_bfloat16_stays_finite_at_1024():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = kvit.models.EfficientViT(input_shape=(1024, 1024, 3), include_top=False, **TINY)
        output = predict(model, pixels((1024, 1024)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert output.shape == (1, 32, 32, 32) and np.isfinite(output).all()


def test_feature_shapes():
    model = kvit.models.EfficientViT(input_shape=(64, 96, 3), include_top=False, **TINY)
    shapes = {
        "P1": (None, 32, 48, 8), "P2": (None, 16, 24, 8), "P3": (None, 8, 12, 16),
        "P4": (None, 4, 6, 16), "P5": (None, 2, 3, 32),
    }
    check_feature_levels(model, shapes, {"P2": 4, "P3": 8, "P4": 16, "P5": 32})


def test_without_top():
    assert tuple(kvit.applications.EfficientViTB1(include_top=False).output.shape) == (None, 7, 7, 256)
    for pooling in ("avg", "max"):
        model = kvit.models.EfficientViT(input_shape=(64, 64, 3), include_top=False, pooling=pooling, **TINY)
        assert tuple(model.output.shape) == (None, 32)


def test_any_size_and_channel_count_without_weights():
    model = kvit.models.EfficientViT(input_shape=(None, None, 1), **TINY)
    assert tuple(model.get_layer("stem_in_conv").conv.kernel.shape) == (3, 3, 1, 8)
    assert predict(model, pixels((40, 72), channels=1)).shape == (1, 10)


@pytest.mark.parametrize("config", [TINY, TINY_L], ids=["b", "l"])
def test_keras_file_round_trip(config):
    model = kvit.models.EfficientViT(input_shape=(64, 64, 3), drop_path_rate=0.1, dropout_rate=0.1, **config)
    check_keras_round_trip(noise_weights(model), pixels((64, 64), batch=2))


def test_presets_follow_timm_pretrained_cfgs():
    timm = import_timm()
    for name in efficientvit.EFFICIENTVIT_VARIANTS:
        preset = kvit.applications.PRESETS[f"EfficientViT{name.upper()}"]
        published = {f"timm/{tag}" for tag in timm.list_pretrained(f"efficientvit_{name}.*")}
        sizes = [224, *preset["resolutions"]]
        assert {application.preset_for(preset, (s, s, 3))["hub_id"] for s in sizes} == published, name
        for size in sizes:
            resolved = application.preset_for(preset, (size, size, 3))
            cfg = timm.models.get_pretrained_cfg(resolved["hub_id"].removeprefix("timm/"))
            assert cfg.input_size == (3, size, size) and resolved["image_size"] == size
            assert (resolved["crop_pct"], resolved["interpolation"]) == (cfg.crop_pct, cfg.interpolation)
            assert (resolved["mean"], resolved["std"]) == (cfg.mean, cfg.std)
            assert cfg.license == "apache-2.0" and resolved["license"] == "Apache-2.0"


def test_imagenet_weights_of_the_resolution_asked(monkeypatch):
    asked = []

    def pretrained_arrays(hub_id, convert_checkpoint):
        asked.append(hub_id)
        raise ValueError("offline")

    monkeypatch.setattr(weights, "pretrained_arrays", pretrained_arrays)
    for shape in ((288, 288, 3), (240, 240, 3)):
        with pytest.raises(ValueError, match="offline"):
            kvit.applications.EfficientViTB1(weights="imagenet", input_shape=shape, include_top=False)
    assert asked == ["timm/efficientvit_b1.r288_in1k", "timm/efficientvit_b1.r224_in1k"]


def test_backbone_loads_a_classifier_checkpoint(tmp_path):
    # Without the top the classifier's four layers have no place; the rest loads as with it.
    _, _, path = timm_checkpoint(tmp_path, "efficientvit_b0")
    backbone = kvit.applications.EfficientViTB0(weights=path, input_shape=(64, 64, 3), include_top=False)
    classifier = kvit.applications.EfficientViTB0(weights=path, input_shape=(64, 64, 3))
    x = pixels((64, 64))
    last_map = classifier.get_layer(backbone.layers[-1].name).output
    np.testing.assert_array_equal(predict(backbone, x), predict(keras.Model(classifier.input, last_map), x))


def test_bad_application_arguments():
    with pytest.raises(ValueError, match="channels"):
        kvit.applications.EfficientViTB0(weights="imagenet", input_shape=(224, 224, 1))
    with pytest.raises(ValueError, match="Unknown model 'EfficientViTB9'"):
        kvit.applications.get("EfficientViTB9")


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    _, _, path = timm_checkpoint(tmp_path, "efficientvit_b0")
    model = kvit.models.EfficientViT(input_shape=(64, 64, 3), **{**TINY, "classes": 1000})
    before = [keras.ops.convert_to_numpy(v) for v in model.weights]
    with pytest.raises(ValueError, match="does not fit 'efficientvit'; nothing was loaded"):
        kvit.applications.load_weights(model, path, efficientvit.convert_timm_checkpoint, efficientvit.HEAD_LAYERS)
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "mobilevit.safetensors"
    save_file({"stem.conv.weight": np.zeros((16, 3, 3, 3), "float32"), "stages.0.0.conv1_1x1.conv.weight": np.zeros((8, 16, 1, 1), "float32")}, str(path))
    with pytest.raises(ValueError, match="Not a timm EfficientViT"):
        kvit.applications.EfficientViTB0(weights=path)


def test_bad_arguments():
    for kwargs, match in [
        (dict(head_dim=12), "`head_dim`=12 must divide"),
        (dict(series="m"), "`series`"),
        (dict(widths=(8, 8, 16, 16)), "`widths`"),
        (dict(depths=(1, 1, 0, 1, 1)), "`depths`"),
        (dict(head_widths=(32,)), "`head_widths`"),
        (dict(input_shape=(32, 3)), "input_shape"),
        (dict(pooling="sum", include_top=False), "pooling"),
        (dict(classes=0), "classes"),
    ]:
        with pytest.raises(ValueError, match=match):
            kvit.models.EfficientViT(**{**TINY, "input_shape": (64, 64, 3), **kwargs})
    with pytest.raises(ValueError, match="`head_dim`=6 must be a positive int that divides"):
        efficientvit.LiteMLA(6)(np.zeros((1, 4, 4, 16), "float32"))


def test_segmentation_head_shapes():
    backbone = kvit.models.EfficientViT(input_shape=(64, 96, 3), include_top=False, **TINY)
    seg = kvit.models.EfficientViTSeg(backbone, 11, final_expansion=2, dropout_rate=0.1)
    assert tuple(seg.output.shape) == (None, 8, 12, 11)
    assert seg.get_layer("seg_head_input_P5").filters == 16  # P3's width
    upsampled = kvit.models.EfficientViTSeg(backbone, 11, head_width=24, upsample_logits=True, name="up")
    assert tuple(upsampled.output.shape) == (None, 64, 96, 11)
    any_size = kvit.models.EfficientViTSeg(kvit.models.EfficientViT(input_shape=(None, None, 3), include_top=False, **TINY_L), 3)
    assert predict(any_size, pixels((40, 72))).shape == (1, 5, 9, 3)
    for kwargs, match in [(dict(classes=0), "`classes`"), (dict(kind="separable"), "`kind`")]:
        with pytest.raises(ValueError, match=match):
            kvit.models.EfficientViTSeg(backbone, **{"classes": 3, **kwargs})


def test_segmentation_head_learns_digit_strokes():
    from kvit.datasets import digit_canvases

    keras.utils.set_random_seed(0)
    backbone = kvit.models.EfficientViT(input_shape=(32, 32, 3), include_top=False, **TINY)
    seg = kvit.models.EfficientViTSeg(backbone, 11, head_depth=1, upsample_logits=True)
    images, masks = digit_canvases(32, canvas_size=32, digit_size=16)
    # XLA would compile TensorFlow's training step for longer than the whole test takes without it.
    seg.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() == "jax",
    )
    losses = seg.fit(images, masks, batch_size=8, epochs=4, verbose=0).history["loss"]
    print(f"segmentation training loss by epoch {np.round(losses, 3).tolist()} ({keras.backend.backend()})")
    assert losses[-1] < 0.5 * losses[0]
    check_keras_round_trip(seg, images[:2], atol=1e-5)
