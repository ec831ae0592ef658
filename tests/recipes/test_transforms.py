import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kvit.recipes import transforms

pytestmark = pytest.mark.tensorflow


def timm_eval_crop(image, size, crop_pct):
    """timm's eval transform as torchvision runs it on a PIL image: Resize(shorter side) then CenterCrop."""
    height, width = image.shape[:2]
    scale_size = math.floor(size / crop_pct)
    if width <= height:
        new_width, new_height = scale_size, int(scale_size * height / width)
    else:
        new_width, new_height = int(scale_size * width / height), scale_size
    resized = np.asarray(Image.fromarray(image).resize((new_width, new_height), Image.BICUBIC), dtype=np.float32)
    top, left = int(round((new_height - size) / 2.0)), int(round((new_width - size) / 2.0))
    return resized[top : top + size, left : left + size]


@pytest.mark.parametrize("shape, size, crop_pct", [((300, 200, 3), 224, 0.875), ((97, 131, 3), 64, 0.9), ((64, 64, 3), 64, 1.0)])
def test_eval_transform_is_timms(shape, size, crop_pct):
    # A smooth image: interpolation kernels differ a little between PIL and TensorFlow, crops must not.
    y, x = np.mgrid[: shape[0], : shape[1]]
    image = np.stack([x * 255 / shape[1], y * 255 / shape[0], (x + y) * 127 / (shape[0] + shape[1])], -1).astype(np.uint8)
    ours = transforms.eval_transform(image, size, crop_pct, "bicubic").numpy()
    assert ours.shape == (size, size, 3) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, timm_eval_crop(image, size, crop_pct), atol=3.0)


def test_eval_crop_offsets_round_half_to_even():
    # At crop_pct 1 nothing is resized, and each pixel holds its column index: the crop's first
    # column is its left offset, (9 - 5) / 2 = 2, and (8 - 5) / 2 = 1.5 rounded half to even, 2.
    image = np.tile(np.arange(9, dtype=np.float32)[None, :, None], (5, 1, 1))
    crop = transforms.eval_transform(image, 5, 1.0, "nearest").numpy()
    assert crop[0, :, 0].tolist() == [2, 3, 4, 5, 6]
    image = np.tile(np.arange(8, dtype=np.float32)[None, :, None], (5, 1, 1))
    assert transforms.eval_transform(image, 5, 1.0, "nearest").numpy()[0, 0, 0] == 2


def test_eval_transform_of_a_non_square_size_resizes_each_side():
    # timm's Resize((h / crop_pct, w / crop_pct)) then CenterCrop((h, w)): at crop_pct 0.5 a constant
    # image stays constant and the output takes the requested shape.
    crop = transforms.eval_transform(np.full((50, 70, 3), 9, np.uint8), (16, 24), 0.5, "bilinear").numpy()
    assert crop.shape == (16, 24, 3)
    np.testing.assert_allclose(crop, 9.0, atol=1e-4)


def test_random_resized_crop_is_seeded():
    image = tf.random.stateless_uniform((40, 60, 3), (0, 0), maxval=255.0)
    first = transforms.random_resized_crop(image, 16, tf.constant([1, 2]), scale=(0.2, 0.5))
    assert first.shape == (16, 16, 3)
    np.testing.assert_array_equal(first, transforms.random_resized_crop(image, 16, tf.constant([1, 2]), scale=(0.2, 0.5)))
    assert not np.array_equal(first, transforms.random_resized_crop(image, 16, tf.constant([1, 3]), scale=(0.2, 0.5)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=0), "size"), (dict(crop_pct=0.0), "crop_pct"), (dict(crop_pct=1.5), "crop_pct"), (dict(interpolation="lanczos7"), "interpolation"),
])
def test_eval_transform_bad_arguments(kwargs, match):
    arguments = dict(image=np.zeros((8, 8, 3), np.uint8), size=4, crop_pct=0.9, interpolation="bicubic") | kwargs
    with pytest.raises(ValueError, match=match):
        transforms.eval_transform(**arguments)
