"""The embedded data sets: the digits and the digit canvases."""

import numpy as np
import pytest

from kvit import datasets

pytestmark = pytest.mark.once  # NumPy only: the same on every backend


def test_digits_split_is_stratified_and_fixed():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits(image_size=16)
    assert x_train.shape == (1437, 16, 16, 1) and x_test.shape == (360, 16, 16, 1)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 255
    assert set(np.unique(y_test)) == set(range(10))
    (_, _), (again, _) = datasets.load_digits(image_size=16)
    np.testing.assert_array_equal(x_test, again)


@pytest.mark.tensorflow
@pytest.mark.parametrize("size", [8, 13, 24, 32, 5])
def test_resize_is_tensorflows_bilinear(size):
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8)).astype("float32")
    expected = tf.image.resize(images[..., None], (size, size), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(datasets.resize_bilinear(images, size), expected, atol=1e-3)


def test_canvases_hold_their_digit_and_its_mask():
    images, masks = datasets.digit_canvases(4, canvas_size=32, digit_size=16, seed=1)
    assert images.shape == (4, 32, 32, 3) and masks.shape == (4, 32, 32)
    for image, mask in zip(images, masks):
        labels = set(np.unique(mask)) - {datasets.BACKGROUND}
        assert len(labels) == 1 and 1 <= labels.pop() <= 10
        assert image[mask != datasets.BACKGROUND, 0].min() > 96.0


def test_canvas_arguments_are_checked():
    with pytest.raises(ValueError, match="`digit_size` must be in"):
        datasets.digit_canvases(2, canvas_size=16, digit_size=24)
    with pytest.raises(ValueError, match="`count` must be a positive int"):
        datasets.digit_canvases(0)
