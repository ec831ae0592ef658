"""`kvit.tflite.representative_images`: every kind of calibration data, and every bad one."""

import numpy as np
import pytest

from kvit.datasets import load_digits
from kvit.tflite import representative_images

# Backend-independent: the TensorFlow pass runs it once.
pytestmark = pytest.mark.once

SHAPE = (24, 20, 3)


def test_arrays_are_kept_up_to_the_limit():
    images = np.random.default_rng(0).uniform(0, 255, (10, *SHAPE))
    result = representative_images(images, SHAPE, limit=4)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, images[:4].astype("float32"))


@pytest.mark.tensorflow
def test_digits_are_resized_and_repeated_over_channels():
    result = representative_images("digits", SHAPE, limit=7)
    assert result.shape == (7, *SHAPE)
    np.testing.assert_array_equal(result[..., 0], result[..., 2])
    (train, _), _ = load_digits(image_size=8)
    assert 0 <= result.min() and result.max() <= 255
    # The training split, in order: the held-out digits stay unseen.
    np.testing.assert_allclose(result[..., 0].mean(axis=(1, 2)), train[:7].mean(axis=(1, 2, 3)), rtol=0.05)


@pytest.mark.tensorflow
def test_image_folders_are_read_recursively_and_resized(tmp_path):
    import tensorflow as tf

    pixels = np.random.default_rng(0).integers(0, 256, (3, 12, 16, 3), dtype=np.uint8)
    for i, image in enumerate(pixels):
        folder = tmp_path / f"class_{i % 2}"
        folder.mkdir(exist_ok=True)
        tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(image))
    (tmp_path / "notes.txt").write_text("not an image")
    result = representative_images(str(tmp_path), SHAPE)
    assert result.shape == (3, *SHAPE)
    assert abs(result[0].mean() - pixels[0].mean()) < 3


@pytest.mark.tensorflow
@pytest.mark.parametrize("batched", [False, True])
def test_datasets_of_images_or_pairs(batched):
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(0, 255, (9, *SHAPE)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(9)))
    if batched:
        dataset = dataset.batch(4)
    result = representative_images(dataset, SHAPE, limit=6)
    np.testing.assert_array_equal(result, images[:6])


@pytest.mark.parametrize(
    "data, match",
    [
        (np.zeros((0, *SHAPE)), "at least one image"),
        (np.zeros(SHAPE), r"at least one image of shape \(n, 24, 20, 3\)"),
        (np.ones((2, 20, 24, 3)), r"images have shape \(20, 24, 3\), but the model takes \(24, 20, 3\)"),
        (np.full((2, *SHAPE), np.nan), "NaN"),
        ({"images": 1}, "must be a NumPy array, a tf.data.Dataset, an image folder or 'digits'"),
        ("/no/such/folder", "neither 'digits' nor an existing image folder"),
    ],
)
def test_bad_data_names_the_argument(data, match):
    with pytest.raises(ValueError, match=match) as error:
        representative_images(data, SHAPE)
    assert "`representative_data`" in str(error.value)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="`representative_data` folder .* holds no image files"):
        representative_images(str(tmp_path), SHAPE)


@pytest.mark.tensorflow
def test_empty_dataset():
    import tensorflow as tf

    with pytest.raises(ValueError, match="`representative_data` is an empty dataset"):
        representative_images(tf.data.Dataset.from_tensor_slices(np.zeros((0, *SHAPE))), SHAPE)


def test_unit_range_images_warn():
    with pytest.warns(UserWarning, match=r"lies in \[0, 1\]"):
        representative_images(np.full((2, *SHAPE), 0.5), SHAPE)
