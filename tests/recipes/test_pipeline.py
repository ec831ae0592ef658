import keras
import numpy as np
import pytest

from kvit.models import ViT
from kvit.recipes import augment, data, pipeline

RNG = np.random.default_rng(0)


def arrays(count=40, size=12, classes=4):
    images = RNG.uniform(0, 255, (count, size, size, 3)).astype(np.float32)
    return data.load_source((images, np.arange(count) % classes))


def batches(dataset):
    return [tuple(np.asarray(t) for t in batch) for batch in dataset]


def full_pipeline(source, seed):
    return pipeline.train_pipeline(
        source, 8, 8, seed=seed, scale=(0.3, 1.0),
        image_augmentation=augment.rand_augment(num_ops=1, magnitude=5, seed=seed),
        batch_augmentation=augment.BatchAugmentation(mixup=0.8, cutmix=1.0, erasing=0.5, seed=seed),
        one_hot=True,
    )


@pytest.mark.tensorflow
def test_deterministic_under_a_seed():
    source = arrays()
    first, again, other = (batches(full_pipeline(source, seed)) for seed in (1, 1, 2))
    assert len(first) == 5
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])
    # Mixed one-hot labels stay distributions; images stay pixels.
    labels = np.concatenate([y for _, y in first])
    np.testing.assert_allclose(labels.sum(-1), 1.0, atol=1e-5)
    images = np.concatenate([x for x, _ in first])
    assert images.min() >= 0.0 and images.max() <= 255.0


@pytest.mark.tensorflow
def test_epochs_reshuffle_and_training_drops_partial_batches():
    dataset = pipeline.train_pipeline(arrays(30), 8, 8, seed=0)
    first, second = (np.concatenate([y for _, y in batches(dataset)]) for _ in range(2))
    assert len(first) == len(second) == 24 and not np.array_equal(first, second)
    evaluation = batches(pipeline.eval_pipeline(arrays(30), 8, 8))
    assert [len(y) for _, y in evaluation] == [8, 8, 8, 6]


@pytest.mark.tensorflow
def test_repeated_augmentation_keeps_epoch_length():
    labels = np.concatenate([y for _, y in batches(pipeline.train_pipeline(arrays(24, classes=24), 6, 8, repeats=3))])
    assert len(labels) == 24
    # Each image comes three times in a row, each time cropped differently.
    assert all(len(set(labels[i : i + 3])) == 1 for i in range(0, 24, 3))


@pytest.mark.tensorflow
def test_multiscale_and_images_only():
    dataset = pipeline.train_pipeline(arrays(200), 4, 16, multiscale_sizes=(8, 16), labels=False, seed=3)
    shapes = {tuple(x.shape) for x in dataset}
    assert shapes == {(16, 8, 8, 3), (4, 16, 16, 3)}


@pytest.mark.tensorflow
@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size"),
    (dict(crop="center"), "crop"),
    (dict(repeats=0), "repeats"),
    (dict(batch_augmentation=augment.BatchAugmentation(mixup=0.2)), "one_hot=True"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipeline.train_pipeline(arrays(), **(dict(batch_size=4, image_size=8) | kwargs))


def test_fits_on_every_backend():
    source = arrays(48, size=16)
    train = pipeline.train_pipeline(
        source, 8, 16, scale=(0.5, 1.0),
        batch_augmentation=augment.BatchAugmentation(mixup=0.8, cutmix=1.0, erasing=0.25, seed=0), one_hot=True,
    )
    evaluation = pipeline.eval_pipeline(source, 16, 16, crop_pct=0.9, one_hot=True)
    model = ViT(input_shape=(16, 16, 3), patch_size=4, width=16, depth=1, num_heads=2, classes=4)
    model.compile("adamw", keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), metrics=["accuracy"])
    history = model.fit(train, validation_data=evaluation, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["val_loss"]).all()
