"""`kvit.tflite.evaluate`: accuracy, and agreement with the Keras model."""

import numpy as np
import pytest

from kvit import tflite

pytestmark = pytest.mark.once


def test_accuracy_and_agreement(vit):
    expected = vit.model.predict(vit.images, verbose=0)
    labels = expected.argmax(-1)
    labels[0] = (labels[0] + 1) % 10
    result = tflite.evaluate(vit.float32, vit.images, labels, keras_model=vit.model)
    assert result["num_images"] == len(vit.images)
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["keras_accuracy"] == pytest.approx(2 / 3)
    assert result["agreement"] == 1.0
    assert result["max_abs_error"] < 1e-4 and result["mean_abs_error"] <= result["max_abs_error"]


def test_int8_errors_are_measured(vit):
    result = tflite.evaluate(vit.int8, vit.images, keras_model=vit.model, xnnpack=False)
    outputs = tflite.Interpreter(vit.int8, xnnpack=False)(vit.images)
    errors = np.abs(outputs - vit.model.predict(vit.images, verbose=0))
    assert result["max_abs_error"] == pytest.approx(errors.max())
    assert result["mean_abs_error"] == pytest.approx(errors.mean())
    assert "accuracy" not in result


def test_bad_labels(vit):
    with pytest.raises(ValueError, match=r"`labels` must be integers of shape \(3,\)"):
        tflite.evaluate(vit.float32, vit.images, labels=np.zeros(4, int))
