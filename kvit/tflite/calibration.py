"""Representative images: what full-integer quantization calibrates its activation ranges on."""

import os
import warnings

import numpy as np

from kvit.models.arguments import is_int

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def representative_images(data, input_shape, limit=200):
    """Collects calibration images as [0, 255] float pixels of the model's input shape.

    Args:
        data: one of
            - a NumPy array (or array-like) `(n, height, width, channels)`, exactly the model's
              input shape;
            - a `tf.data.Dataset` of images or of `(images, labels)` pairs, batched or not,
              exactly the model's input shape;
            - the path of a folder of image files (`.png`, `.jpg`, ..., searched recursively, in
              sorted order), resized bilinearly to the input;
            - `"digits"`: the training split of scikit-learn's handwritten digits
              (`kvit.datasets.load_digits`), resized bilinearly to the input and repeated over its
              channels; the held-out split stays unseen for evaluation.
        input_shape: `(height, width, channels)` of the model.
        limit: int, at most this many images are kept, the first ones.

    Returns:
        float32 array `(n, height, width, channels)` with `1 <= n <= limit`.

    Raises:
        ValueError: naming `representative_data`, for an empty set, a wrong shape, a missing
            folder, or an unknown kind of data.
    """
    input_shape = tuple(input_shape)
    if not is_int(limit) or limit < 1:
        raise ValueError(f"The calibration `limit` must be a positive int, got {limit!r}.")
    if isinstance(data, str) and data == "digits":
        images = _digits(input_shape, limit)
    elif isinstance(data, (str, os.PathLike)):
        images = _image_folder(os.fspath(data), input_shape, limit)
    elif _is_dataset(data):
        images = _dataset_images(data, limit)
    else:
        try:
            images = np.asarray(data, dtype="float32")[:limit]
        except (TypeError, ValueError) as error:
            raise ValueError(
                "`representative_data` must be a NumPy array, a tf.data.Dataset, an image folder "
                f"or 'digits'; got {type(data).__name__} that is none of them ({error})."
            ) from error
    return _checked(images, input_shape)


def _checked(images, input_shape):
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            "`representative_data` must hold at least one image of shape "
            f"(n, {', '.join(map(str, input_shape))}); got an array of shape {images.shape}."
        )
    if images.shape[1:] != input_shape:
        raise ValueError(
            f"`representative_data` images have shape {images.shape[1:]}, but the model takes "
            f"{input_shape}. Resize them, or pass an image folder or 'digits', which kvit resizes."
        )
    if not np.isfinite(images).all():
        raise ValueError("`representative_data` holds NaN or infinite values.")
    if images.max() <= 1.0:
        warnings.warn(
            "`representative_data` lies in [0, 1]; kvit models take [0, 255] pixels and normalise "
            "them themselves, so the calibrated ranges will be wrong unless the model expects [0, 1].",
            stacklevel=3,
        )
    return images


def _digits(input_shape, limit):
    import tensorflow as tf

    from kvit.datasets import load_digits

    (images, _), _ = load_digits(image_size=8)
    images = tf.image.resize(images[:limit], input_shape[:2], method="bilinear").numpy()
    return np.repeat(images, input_shape[2], axis=-1)


def _image_folder(folder, input_shape, limit):
    import tensorflow as tf

    if not os.path.isdir(folder):
        raise ValueError(
            f"`representative_data` {folder!r} is neither 'digits' nor an existing image folder."
        )
    if input_shape[2] not in (1, 3, 4):
        raise ValueError(
            f"`representative_data` is an image folder, but the model takes {input_shape[2]} "
            "channels; image files decode to 1, 3 or 4. Pass a NumPy array instead."
        )
    files = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith(IMAGE_SUFFIXES)
    )[:limit]
    if not files:
        raise ValueError(
            f"`representative_data` folder {folder!r} holds no image files ({', '.join(IMAGE_SUFFIXES)})."
        )
    images = [
        tf.image.resize(_decode(path, input_shape[2]), input_shape[:2], method="bilinear").numpy()
        for path in files
    ]
    return np.stack(images).astype("float32")


def _decode(path, channels):
    """The image file `path` as a `(height, width, channels)` tensor; a file that does not decode
    is refused by name."""
    import tensorflow as tf

    try:
        return tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    except tf.errors.OpError as error:
        raise ValueError(
            f"`representative_data` folder holds {path!r}, which is not a readable image: {error.message}"
        ) from error


def _is_dataset(data):
    return type(data).__module__.startswith("tensorflow") and hasattr(data, "element_spec")


def _dataset_images(dataset, limit):
    images, count = [], 0
    for element in dataset:
        if isinstance(element, (tuple, list)):
            element = element[0]
        if isinstance(element, dict):
            raise ValueError(
                "`representative_data` yields dicts; map it to images or (images, labels) first."
            )
        batch = np.asarray(element, dtype="float32")
        batch = batch[None] if batch.ndim == 3 else batch
        if images and batch.shape[1:] != images[0].shape[1:]:
            raise ValueError(
                f"`representative_data` yields images of shapes {images[0].shape[1:]} and "
                f"{batch.shape[1:]}; they must all have the model's input shape."
            )
        images.append(batch)
        count += len(batch)
        if count >= limit:
            break
    if not images:
        raise ValueError("`representative_data` is an empty dataset.")
    return np.concatenate(images)[:limit]
