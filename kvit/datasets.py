"""The embedded data sets: real pixels that need no download.

`load_digits` is the 1,797 handwritten digits that ship with scikit-learn (the main job's and the
tests' data); `digit_canvases` pastes them onto larger noisy canvases for a small segmentation
task. Plain NumPy, so `kvit.recipes`, `kvit.tflite` and the benchmarks all sit on it.
"""

import numpy as np

BACKGROUND = 0


def load_digits(image_size=32, test_fraction=0.2, seed=0):
    """Loads the 1,797 8x8 digits as [0, 255] float images, split into train and held-out sets.

    The split is stratified and seeded, so the held-out set is the same on every run. Images are
    upscaled bilinearly to `image_size` (the pipeline's resize, done once here).

    Returns:
        `(train_images, train_labels), (test_images, test_labels)`; images are
        `(n, image_size, image_size, 1)` float32, labels int32 in [0, 10).
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = resize_bilinear(digits.images * (255.0 / 16.0), image_size)[..., None].astype("float32")
    labels = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return (x_train, y_train), (x_test, y_test)


def resize_bilinear(images, size):
    """Bilinear resize of `(n, height, width)` images to `(n, size, size)`, with half-pixel
    centres and edge clamping: `tf.image.resize(..., "bilinear")` without antialiasing."""
    images = np.asarray(images, "float64")
    for axis in (1, 2):
        length = images.shape[axis]
        centres = np.clip((np.arange(size) + 0.5) * (length / size) - 0.5, 0.0, length - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, length - 1)
        shape = [1, 1, 1]
        shape[axis] = size
        weight = (centres - low).reshape(shape)
        images = np.take(images, low, axis=axis) * (1 - weight) + np.take(images, high, axis=axis) * weight
    return images


def digit_canvases(count, canvas_size=64, digit_size=24, held_out=False, threshold=96.0, seed=0):
    """Canvases with one handwritten digit each at a random place, and the digit's stroke mask.

    The digits are those of `load_digits`, upscaled to `digit_size`; the training canvases use
    its training split, the held-out ones (`held_out`) its held-out split, so a model is scored
    on digits it never saw. The background is low uniform noise. The mask labels every pixel: 0
    for the background, `1 + digit` where the digit's stroke is brighter than `threshold` (11
    classes).

    Args:
        count: int, canvases to make.
        canvas_size: int, side of the square canvas.
        digit_size: int, side of the pasted digit; at most `canvas_size`.
        held_out: bool, whether to paste the held-out digits.
        threshold: float in [0, 255], the stroke's brightness cut.
        seed: int, seed of the digits' order, places and noise.

    Returns:
        `(images, masks)`: float32 `(count, canvas_size, canvas_size, 3)` pixels in [0, 255] and
        int32 `(count, canvas_size, canvas_size)` class labels in [0, 11).
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"`count` must be a positive int, got {count!r}.")
    if not 1 <= digit_size <= canvas_size:
        raise ValueError(f"`digit_size` must be in [1, canvas_size={canvas_size}], got {digit_size}.")
    train, test = load_digits(image_size=digit_size)
    digits, labels = test if held_out else train
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 40.0, (count, canvas_size, canvas_size)).astype("float32")
    masks = np.full((count, canvas_size, canvas_size), BACKGROUND, "int32")
    for index, pick in enumerate(rng.integers(0, len(digits), count)):
        top, left = rng.integers(0, canvas_size - digit_size + 1, 2)
        digit = digits[pick, ..., 0]
        window = (slice(top, top + digit_size), slice(left, left + digit_size))
        images[index][window] = np.maximum(images[index][window], digit)
        masks[index][window] = np.where(digit > threshold, 1 + labels[pick], BACKGROUND)
    return np.repeat(images[..., None], 3, axis=-1), masks
