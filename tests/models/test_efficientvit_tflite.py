"""EfficientViT and its segmentation head convert to TFLite builtins, reshapes and transposes at rank 4 or below."""

import keras
import numpy as np
import pytest

from kvit import tflite
from kvit.models import EfficientViT, EfficientViTSeg
from kvit.testing import check_tflite, noise_weights, pixels

pytestmark = pytest.mark.tensorflow

SIZE = (64, 96)
TINY = dict(widths=(8, 8, 16, 16, 32), depths=(1, 1, 2, 1, 1), head_dim=8, head_widths=(32, 32))


def assert_builtin_for_xnnpack(model, expected_types):
    """`check_tflite`, and XNNPACK takes the whole graph."""
    graph, interpreter = check_tflite(model, pixels(SIZE, batch=2))
    types = {op.type for op in graph.operators}
    assert expected_types <= types
    assert "HARD_SWISH" not in types  # no int8 XNNPACK kernel
    assert interpreter.delegate_partitions == 1


@pytest.mark.parametrize("series", ["b", "l"])
def test_float_model_is_builtin_rank4_and_matches_keras(series):
    model = noise_weights(EfficientViT(input_shape=(*SIZE, 3), series=series, classes=10, **TINY))
    expected = {"CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "TRANSPOSE", "RELU", "RSQRT"}
    assert_builtin_for_xnnpack(model, expected | ({"GELU"} if series == "l" else set()))


def test_segmentation_model_converts_with_bilinear_resizes():
    backbone = EfficientViT(input_shape=(*SIZE, 3), include_top=False, **TINY)
    model = noise_weights(EfficientViTSeg(backbone, 5, upsample_logits=True))
    assert_builtin_for_xnnpack(model, {"RESIZE_BILINEAR", "BATCH_MATMUL"})
    images = pixels(SIZE, batch=8)
    content = tflite.convert(model, quantization="int8", representative_data=images)
    assert not tflite.inspect_model(content).float_operators()
    assert tflite.Interpreter(content)(images[:1]).shape == (1, *SIZE, 5)


def test_int8_attention_survives_a_head_whose_query_is_zero():
    # A trained model has pixels whose ReLU query is all zero: there the normaliser is 0 and its
    # rsqrt 1 / sqrt(epsilon). Calibrated on such a range, a squared rsqrt rounded every ordinary
    # scale to zero, and the int8 model agreed with Keras near chance on real images.
    from kvit.models.efficientvit import LiteMLA

    model = noise_weights(EfficientViT(input_shape=(*SIZE, 3), classes=10, **TINY))
    for layer in model._flatten_layers():
        if isinstance(layer, LiteMLA):
            kernel = keras.ops.convert_to_numpy(layer.qkv.weights[0])
            kernel[..., : layer.head_dim] = 0.0  # the first head's query
            layer.qkv.weights[0].assign(kernel)
    images = pixels(SIZE, batch=16)
    content = tflite.convert(model, quantization="int8", representative_data=images, io_dtype="float32")
    expected = keras.ops.convert_to_numpy(model(images[:4]))
    error = np.abs(tflite.Interpreter(content)(images[:4]) - expected).max()
    assert error < 0.1 * np.ptp(expected), (error, np.ptp(expected))


def test_mixed_keeps_the_attention_normalisers_float():
    # The attention's last matmul yields every head's numerators and normalisers in one tensor.
    # Where one head's keys are large, its normalisers run into the hundreds and, quantized,
    # would set one int8 scale for all: the other heads' small normalisers and numerators round
    # to a few codes before the division. "mixed" keeps that matmul float, and the slices and
    # products that take only its outputs stay float with it.
    from kvit.models.efficientvit import LiteMLA

    model = noise_weights(EfficientViT(input_shape=(*SIZE, 3), classes=10, **TINY))
    for layer in model._flatten_layers():
        if isinstance(layer, LiteMLA):
            kernel = keras.ops.convert_to_numpy(layer.qkv.weights[0])
            kernel[..., layer.head_dim : 2 * layer.head_dim] *= 30.0  # the first head's keys
            layer.qkv.weights[0].assign(kernel)
    images = pixels(SIZE, batch=16)
    content = tflite.convert(model, quantization="mixed", representative_data=images)
    operators = tflite.inspect_model(content).operators
    products = [op for op in operators if op.type == "MUL" and "context" in op.outputs[0].name]
    assert products and all(op.outputs[0].dtype == "float32" for op in products)
    expected = keras.ops.convert_to_numpy(model(images[:4]))
    error = np.abs(tflite.Interpreter(content)(images[:4]) - expected).max()
    assert error < 0.1 * np.ptp(expected), (error, np.ptp(expected))
