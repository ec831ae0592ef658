"""Scoring of semantic segmentation: mean intersection over union (the digit canvases of `kvit.datasets`)."""

import numpy as np


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
