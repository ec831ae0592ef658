"""`kvit.tflite.evaluate`: a `.tflite` classifier's accuracy, and how closely it follows Keras."""

import keras
import numpy as np

from kvit.tflite.interpreter import Interpreter


def evaluate(model, images, labels=None, keras_model=None, num_threads=None, xnnpack=True):
    """Runs a `.tflite` classifier on `images` and scores it.

    Args:
        model: path or bytes of a single-output `.tflite` model.
        images: `(n, height, width, channels)` pixels in [0, 255].
        labels: optional `(n,)` integer labels.
        keras_model: optional `keras.Model` the `.tflite` was converted from, on any backend.
        num_threads: int, CPU threads; None uses every available core.
        xnnpack: bool, whether to run on the XNNPACK delegate.

    Returns:
        dict with `num_images`; with `labels`, `accuracy` (top-1); with `keras_model`, `agreement`
        (the fraction of images whose top-1 class is the Keras model's), `max_abs_error` and
        `mean_abs_error` of the outputs against the Keras outputs; with both, `keras_accuracy`.
    """
    if keras_model is not None and not isinstance(keras_model, keras.Model):
        raise ValueError(f"`keras_model` must be None or a keras.Model, got {type(keras_model).__name__}.")
    outputs = Interpreter(model, num_threads=num_threads, xnnpack=xnnpack)(images)
    if isinstance(outputs, list):
        raise ValueError(f"`model` must have one output to be evaluated, it has {len(outputs)}.")
    result = {"num_images": len(outputs)}
    predicted = outputs.argmax(-1)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != predicted.shape or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"`labels` must be integers of shape {predicted.shape}, got {labels.dtype} {labels.shape}."
            )
        result["accuracy"] = float(np.mean(predicted == labels))
    if keras_model is not None:
        expected = np.asarray(keras_model.predict(np.asarray(images, "float32"), verbose=0))
        if expected.shape != outputs.shape:
            raise ValueError(
                f"`keras_model` outputs {expected.shape}, the .tflite model {outputs.shape}: "
                "not the model it was converted from."
            )
        errors = np.abs(outputs - expected)
        result["agreement"] = float(np.mean(predicted == expected.argmax(-1)))
        result["max_abs_error"] = float(errors.max())
        result["mean_abs_error"] = float(errors.mean())
        if labels is not None:
            result["keras_accuracy"] = float(np.mean(expected.argmax(-1) == labels))
    return result
