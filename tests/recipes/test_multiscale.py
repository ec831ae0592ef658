import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvit.models import MobileViT
from kvit.recipes.multiscale import PAPER_SIZES, multiscale_batches, multiscale_schedule

RNG = np.random.default_rng(0)


def digits_like(count, size=(10, 12)):
    images = RNG.uniform(0.0, 255.0, (count, *size, 3)).astype("float32")
    return images, np.arange(count)


def test_schedule_scales_batch_size_with_pixels():
    schedule = multiscale_schedule(4, sizes=(16, 32, (24, 48), 1000), base_size=32)
    # 4 * 32 * 32 / (24 * 48) = 3.6 rounds down; huge sizes still get one image.
    assert schedule == [((16, 16), 16), ((32, 32), 4), ((24, 48), 3), ((1000, 1000), 1)]
    paper = dict(multiscale_schedule(128, PAPER_SIZES, 256))
    assert paper[(256, 256)] == 128 and paper[(160, 160)] == 327 and paper[(320, 320)] == 81


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=4, sizes=()), "sizes"),
    (dict(batch_size=4, sizes=(16, (8, -8))), "sizes"),
    (dict(batch_size=4, base_size=(32,)), "base_size"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        multiscale_schedule(**kwargs)


@pytest.mark.tensorflow
def test_batches_follow_the_schedule():
    images, labels = digits_like(1500)
    sizes = (4, 8, (6, 12))
    schedule = dict(multiscale_schedule(2, sizes, base_size=8))
    dataset = multiscale_batches(tf.data.Dataset.from_tensor_slices((images, labels)), 2, sizes, 8, seed=3)
    seen_labels, resolutions = [], []
    for batch_images, batch_labels in dataset:
        resolution = tuple(batch_images.shape[1:3])
        assert batch_images.shape[0] == batch_labels.shape[0] == schedule[resolution]
        first = int(batch_labels[0])
        np.testing.assert_allclose(
            batch_images[0], tf.image.resize(images[first], resolution), atol=1e-4
        )
        seen_labels.extend(batch_labels.numpy())
        resolutions.append(resolution)
    # In order, nothing skipped, only a last incomplete batch dropped.
    np.testing.assert_array_equal(seen_labels, labels[: len(seen_labels)])
    assert len(labels) - len(seen_labels) < max(schedule.values())
    # Each batch draws its resolution uniformly: every one turns up about equally often.
    counts = collections.Counter(resolutions)
    assert set(counts) == set(schedule)
    assert min(counts.values()) > 0.6 * len(resolutions) / len(schedule)


@pytest.mark.tensorflow
def test_resolutions_are_redrawn_each_pass_but_seeded():
    images, labels = digits_like(200)

    def passes(seed):
        dataset = multiscale_batches(tf.data.Dataset.from_tensor_slices((images, labels)), 2, (4, 8), 8, seed=seed)
        return [[tuple(x.shape[1:3]) for x, _ in dataset] for _ in range(2)]

    first, second = passes(seed=5)
    assert first != second
    assert passes(seed=5) == [first, second]


@pytest.mark.tensorflow
def test_custom_resize():
    images, labels = digits_like(64, size=(20, 20))

    def center_crop(image, size):
        return tf.image.resize_with_crop_or_pad(image, size[0], size[1])

    dataset = multiscale_batches(
        tf.data.Dataset.from_tensor_slices((images, labels)), 4, (8, 16), 16, seed=0, resize=center_crop
    )
    for batch_images, batch_labels in dataset:
        side = batch_images.shape[1]
        offset = (20 - side) // 2
        expected = images[batch_labels.numpy()][:, offset : offset + side, offset : offset + side]
        np.testing.assert_array_equal(batch_images.numpy(), expected)


def test_fit_consumes_multiscale_batches():
    # Two stages at strides 2 and 4, the second ending in a MobileViT block: it sees 5x5 and
    # 10x10 maps, the first of which its 2x2 patches do not tile.
    model = MobileViT(
        input_shape=(None, None, 3), stem_width=8, widths=(8, 16), depths=(1, 1), transformer_widths=(16,),
        transformer_depths=(1,), head_width=0, num_heads=2, classes=3, classifier_activation="softmax",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images, labels = digits_like(40, size=(30, 30))
    dataset = multiscale_batches(
        tf.data.Dataset.from_tensor_slices((images, labels % 3)), 2, sizes=(20, 40), base_size=40, seed=0
    ).take(3)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    stem_statistics = keras.ops.convert_to_numpy(model.get_layer("stem").bn.moving_mean)
    assert np.abs(stem_statistics).sum() > 0  # BatchNorm ran in training mode
