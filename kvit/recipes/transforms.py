"""Per-image transforms of the input pipelines: decoding, training crops and flips, evaluation crops.

Every function takes and returns one image `(height, width, channels)` as a TensorFlow tensor and
runs inside `tf.data` maps as well as eagerly. Outputs are float32 pixels in [0, 255], the range
every kvit model takes. Random transforms are stateless: they take a `seed`, a `(2,)` int tensor,
so a pipeline seeded once gives the same images on every run (see `kvit.recipes.pipeline`).
"""

import math

import tensorflow as tf

from kvit.constants import DEFAULT_CROP_PCT

INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")


def decode_image(data, channels=3):
    """Decodes an encoded JPEG, PNG, BMP or GIF (first frame) into `(height, width, channels)` uint8.

    Grey images are repeated to 3 channels and RGBA loses its alpha when `channels` is 3.
    Corrupt data raises `InvalidArgumentError`, which `kvit.recipes.data` turns into a skip.
    """
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def to_channels(image, channels):
    """Brings a decoded image to `channels`: grey to RGB by repetition, RGBA to RGB by dropping alpha."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1 and channels == 3:
        return tf.repeat(image, 3, axis=-1)
    if have == 4 and channels == 3:
        return image[..., :3]
    if have == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(image)
    raise ValueError(f"Cannot bring images of {have} channels to `channels`={channels}.")


def resize(image, size, interpolation="bilinear"):
    """Resizes to `size` `(height, width)` with `interpolation`, antialiased when shrinking (as PIL does)."""
    method = _method(interpolation)
    image = tf.image.resize(tf.cast(image, tf.float32), size, method=method, antialias=method != "nearest")
    return tf.clip_by_value(image, 0.0, 255.0)  # bicubic overshoots


def random_resized_crop(image, size, seed, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation="bilinear"):
    """Inception-style crop: a random box of `scale` of the area and `ratio` of aspect, resized to `size`.

    The box is drawn as timm's `RandomResizedCrop` draws it (up to 10 tries; the whole image when
    none fits), with `tf.image.stateless_sample_distorted_bounding_box`.

    Args:
        image: `(height, width, channels)`, any dtype.
        size: int or `(height, width)`, the output size.
        seed: `(2,)` int tensor.
        scale: `(min, max)` fraction of the image area the box covers.
        ratio: `(min, max)` width over height of the box.
        interpolation: one of `INTERPOLATIONS`.
    """
    begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, box_size)
    crop.set_shape([None, None, image.shape[-1]])
    return resize(crop, size if tf.is_tensor(size) else _pair(size), interpolation)


def random_flip(image, seed, probability=0.5):
    """Flips left-right with `probability`."""
    if not probability:
        return image
    flip = tf.random.stateless_uniform([], seed) < probability
    return tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)


def eval_transform(image, size, crop_pct=DEFAULT_CROP_PCT, interpolation="bicubic"):
    """timm's evaluation transform: resize the shorter side to `size / crop_pct`, then center-crop `size`.

    As timm's `transforms_imagenet_eval` with `crop_mode="center"` does through torchvision: the
    shorter side becomes `floor(size / crop_pct)` and the longer side keeps the aspect ratio
    (rounded down), then a `size` square is cut from the centre (offsets rounded half to even,
    as Python's `round`). A `(height, width)` size resizes each side to `floor(side / crop_pct)`,
    as timm does for a non-square input. A model's own values are in its preset:
    `kvit.applications.PRESETS[name]["crop_pct"]` and `["interpolation"]`.

    Args:
        image: one decoded image `(height, width, channels)`, any dtype, pixels in [0, 255].
        size: int, the side of the square output, or `(height, width)`.
        crop_pct: float in (0, 1], the fraction of the resized image the crop keeps.
        interpolation: one of `INTERPOLATIONS`.

    Returns:
        float32 `(height, width, channels)` in [0, 255].
    """
    crop_height, crop_width = _pair(size)
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"`crop_pct` must be in (0, 1], got {crop_pct!r}.")
    image = tf.convert_to_tensor(image)
    if crop_height == crop_width:
        scale_size = math.floor(crop_height / crop_pct)
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        short, long = tf.minimum(height, width), tf.maximum(height, width)
        new_long = tf.cast(scale_size * long // short, tf.int32)
        new_height = tf.where(height <= width, scale_size, new_long)
        new_width = tf.where(height <= width, new_long, scale_size)
    else:
        new_height = tf.constant(math.floor(crop_height / crop_pct))
        new_width = tf.constant(math.floor(crop_width / crop_pct))
    image = resize(image, tf.stack([new_height, new_width]), interpolation)
    top = tf.cast(tf.round(tf.cast(new_height - crop_height, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(new_width - crop_width, tf.float32) / 2.0), tf.int32)
    crop = tf.slice(image, tf.stack([top, left, 0]), tf.stack([crop_height, crop_width, -1]))
    crop.set_shape([crop_height, crop_width, image.shape[-1]])
    return crop


def _method(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    return interpolation


def _pair(size):
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise ValueError(f"`size` must be a positive int or a (height, width) pair of them, got {size!r}.")
    return pair
