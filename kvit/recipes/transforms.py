"""Image decoding and the evaluation transform of timm's checkpoints, in TensorFlow (tf.data)."""

import math

import tensorflow as tf

INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")


def decode_image(contents, channels=3):
    """Decodes JPEG, PNG, GIF or BMP bytes to a `(height, width, channels)` uint8 tensor.

    Raises `tf.errors.InvalidArgumentError` when the bytes are not an image of those formats.
    """
    return tf.io.decode_image(contents, channels=channels, expand_animations=False)


def eval_transform(image, size, crop_pct=0.875, interpolation="bicubic"):
    """timm's evaluation transform: resize the shorter side to `size / crop_pct`, center crop `size`.

    What `timm.data.create_transform(is_training=False)` does with a checkpoint's `crop_pct` and
    `interpolation` (`kvit.applications.PRESETS[name]`): the shorter side goes to
    `floor(size / crop_pct)` (the longer in proportion, as torchvision's `Resize` does), then the
    center `size` x `size` is cut out, rounding its offset as torchvision's `CenterCrop` does.
    Resizing is antialiased, as PIL's is.

    Args:
        image: `(height, width, channels)` tensor, any real or integer dtype, pixels in [0, 255].
        size: int, or `(height, width)`, of the output.
        crop_pct: float in (0, 1], the fraction of the resized image the crop keeps.
        interpolation: one of `INTERPOLATIONS`.

    Returns:
        `(height, width, channels)` float32 tensor of pixels in [0, 255].
    """
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"`crop_pct` must be in (0, 1], got {crop_pct!r}.")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    source_height, source_width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    if height == width:
        short = float(math.floor(height / crop_pct))
        scale = short / tf.minimum(source_height, source_width)
        # torchvision keeps the shorter side exact and truncates the longer one.
        resized = tf.where(
            source_height <= source_width,
            tf.stack([short, tf.floor(source_width * scale)]),
            tf.stack([tf.floor(source_height * scale), short]),
        )
    else:
        resized = tf.constant([math.floor(height / crop_pct), math.floor(width / crop_pct)], tf.float64)
    resized = tf.cast(resized, tf.int32)
    image = tf.image.resize(image, resized, method=interpolation, antialias=interpolation != "nearest")
    top = tf.cast(tf.round(tf.cast(resized[0] - height, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(resized[1] - width, tf.float32) / 2.0), tf.int32)
    image = tf.image.crop_to_bounding_box(image, top, left, height, width)
    return tf.clip_by_value(image, 0.0, 255.0)
