"""A small semantic segmentation task on real pixels: the embedded digits pasted onto larger canvases."""

import numpy as np

from kvit.recipes.digits import load_digits

BACKGROUND = 0


def digit_canvases(count, canvas_size=64, digit_size=24, held_out=False, threshold=96.0, seed=0):
    """Canvases with one handwritten digit each at a random place, and the digit's stroke mask.

    The digits are the scikit-learn ones of `kvit.recipes.digits.load_digits`, upscaled to
    `digit_size`; the training canvases use its training split, the held-out ones (`held_out`)
    its held-out split, so a model is scored on digits it never saw. The background is low
    uniform noise. The mask labels every pixel: 0 for the background, `1 + digit` where the
    digit's stroke is brighter than `threshold` (11 classes).

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


def mean_iou(predictions, masks, classes):
    """Mean intersection over union of predicted and true labels, over the classes present in either.

    Args:
        predictions, masks: int arrays of the same shape, labels in [0, classes).
        classes: int, number of classes.

    Returns:
        `(mean, per_class)`: the mean IoU, and a float array of each class's (NaN where a class
        is in neither).
    """
    predictions, masks = np.asarray(predictions).ravel(), np.asarray(masks).ravel()
    confusion = np.bincount(masks * classes + predictions, minlength=classes * classes).reshape(classes, classes)
    intersection = np.diag(confusion).astype("float64")
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(union > 0, intersection / union, np.nan)
    return float(np.nanmean(per_class)), per_class
