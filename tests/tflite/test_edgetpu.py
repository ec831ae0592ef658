"""`kvit.tflite.edgetpu_report`: the static Edge TPU lint."""

import keras
import pytest
from tflite_models import IMAGE_SHAPE, tiny_convnet

from kvit import tflite

pytestmark = pytest.mark.once

NOT_RUN = "The Edge TPU compiler did NOT run"


def test_a_relu_convnet_maps_entirely():
    report = tflite.edgetpu_report(
        tflite.convert(tiny_convnet(), edgetpu=True, representative_data="digits", calibration_size=16)
    )
    assert report.model_problems == ()
    assert report.first_fallback is None
    assert report.mapped_operators == len(report.operators) > 4
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= {c.type for c in report.operators}
    text = str(report)
    assert text.startswith("Edge TPU static check. " + NOT_RUN)
    assert "Every op follows the published rules." in text


def test_a_vit_falls_back_at_its_first_transformer_op(vit):
    report = tflite.edgetpu_report(vit.int8)
    first = report.first_fallback
    assert report.mapped_operators == first.index < len(report.operators)
    assert all(check.supported for check in report.operators[: first.index])
    reasons = {check.type: check.problems for check in report.operators if check.problems}
    assert "google-coral/edgetpu#24" in reasons["BATCH_MATMUL"][0]
    assert "builtin_code out of range: 150" in reasons["GELU"][0]
    # Attention runs heads first, (heads, batch, tokens, tokens): the rank rule refuses it already.
    assert "outside its 3 innermost dimensions" in reasons["SOFTMAX"][0]
    assert "not in the op table" in reasons["TRANSPOSE"][0]
    text = str(report)
    assert NOT_RUN in text
    assert f"First op to fall back to the CPU: #{first.index} {first.type}" in text


def test_float_models_are_rejected_whole(vit):
    report = tflite.edgetpu_report(vit.float32)
    assert report.mapped_operators == 0
    assert any("is float32, not int8/uint8" in problem for problem in report.model_problems)
    assert all("computes in float32" in " ".join(c.problems) for c in report.operators if c.type == "CONV_2D")


def test_shape_rules():
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Reshape((30 * 30, 8))(x)
    x = keras.layers.Dense(4, name="token_dense")(x)
    x = keras.layers.Softmax(name="token_softmax")(x)
    outputs = keras.layers.Flatten()(x)
    model = keras.Model(inputs, outputs)
    report = tflite.edgetpu_report(tflite.convert(model, edgetpu=True, representative_data="digits", calibration_size=8))
    first = report.first_fallback
    assert first.type == "FULLY_CONNECTED"
    assert "not one-dimensional" in first.problems[0]
    assert "token_dense" in first.layer
    (softmax,) = [check for check in report.operators if check.type == "SOFTMAX"]
    assert "(1, 900, 4) is not 1-D of at most 16,000 elements" in softmax.problems[0]
    # A batch-2 model breaks the batch rule before any op is looked at.
    batched = tflite.convert(model, quantization="int8", batch_size=2, representative_data="digits", calibration_size=8)
    assert any("static batch of 1" in problem for problem in tflite.edgetpu_report(batched).model_problems)
