"""`kvit.models.feature_extractor`, the one feature API, on every application."""

import keras
import numpy as np
import pytest
from small_applications import NAMES, image_size, small_application

import kvit

RNG = np.random.default_rng(0)


def train_head_step(extractor, size, run_eagerly=False):
    """Trains a small dense head on every level of `extractor` (its backbone frozen) one step."""
    pooled = [keras.layers.GlobalAveragePooling2D()(output) for output in extractor.output.values()]
    features = keras.layers.Concatenate()(pooled) if len(pooled) > 1 else pooled[0]
    head = keras.Model(extractor.inputs, keras.layers.Dense(3)(features))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    head.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, run_eagerly=run_eagerly)
    before = [keras.ops.convert_to_numpy(w) for w in head.trainable_weights]
    x = RNG.uniform(0, 255, (2, size, size, 3)).astype("float32")
    history = head.fit(x, np.array([0, 2]), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in head.trainable_weights]
    assert len(after) == 2 and all(not np.array_equal(b, a) for b, a in zip(before, after))


# Levels are symbolic, so one backend checks them on every application; building every one on
# JAX alone would take minutes (each new weight shape compiles its initializer). The head's
# training step runs on every backend in `test_a_head_trains_on_the_features`; here it runs
# eagerly, so that no train function is traced for a single step.
@pytest.mark.once
@pytest.mark.parametrize("name", NAMES)
def test_every_application_has_named_levels_that_train(name):
    size = image_size(name)
    model = small_application(name, include_top=False)
    model.trainable = False
    extractor = kvit.models.feature_extractor(model)
    levels, default = kvit.models.feature_levels(model)
    assert list(extractor.output) == default and set(default) <= set(levels)
    assert extractor.feature_strides == {level: levels[level].stride for level in default}
    for level, stride in extractor.feature_strides.items():
        if level.startswith("P"):
            assert stride == 2 ** int(level[1:])
        height, width = -(-size // stride), -(-size // stride)
        assert tuple(extractor.output[level].shape)[1:3] == (height, width), level
    train_head_step(extractor, size, run_eagerly=True)


@pytest.mark.parametrize("builder, config", [
    (kvit.models.ViT, dict(patch_size=8, width=32, depth=4, num_heads=2)),
    (kvit.models.MobileViT, kvit.models.MOBILEVIT_VARIANTS["xxs"]),
])
def test_a_head_trains_on_the_features(builder, config):
    model = builder(input_shape=(64, 64, 3), include_top=False, **config)
    model.trainable = False
    train_head_step(kvit.models.feature_extractor(model), 64)


def test_vit_levels_are_the_block_outputs_on_the_grid():
    model = kvit.models.ViT(input_shape=(32, 32, 3), patch_size=8, width=32, depth=4, num_heads=2, include_top=False)
    extractor = kvit.models.feature_extractor(model, levels=["blocks_0", "blocks_3"])
    x = RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    maps = {k: keras.ops.convert_to_numpy(v) for k, v in extractor(x).items()}
    tokens = keras.Model(model.inputs, model.get_layer("blocks_3").output)(x)
    np.testing.assert_allclose(maps["blocks_3"], keras.ops.convert_to_numpy(tokens)[:, 1:].reshape(2, 4, 4, 32), atol=1e-6)
    assert extractor.feature_strides == {"blocks_0": 8, "blocks_3": 8}
    assert list(kvit.models.feature_extractor(model).output) == ["blocks_0", "blocks_1", "blocks_2", "blocks_3"]


@pytest.mark.parametrize("levels, match", [
    (["P9"], "`levels` must be a non-empty list of level names"),
    ([], "`levels`"),
    ("P2", "`levels`"),
])
def test_unknown_levels_are_refused(levels, match):
    model = kvit.models.MobileViT(input_shape=(64, 64, 3), **kvit.models.MOBILEVIT_VARIANTS["xxs"])
    with pytest.raises(ValueError, match=match):
        kvit.models.feature_extractor(model, levels=levels)


def test_a_model_of_no_family_is_refused():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="stem")(inputs), name="plain")
    with pytest.raises(ValueError, match="'plain' is not a model of a kvit family"):
        kvit.models.feature_extractor(model)
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        kvit.models.feature_extractor("vit.keras")
