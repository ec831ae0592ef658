"""EfficientViT and its segmentation head convert to TFLite builtins, reshapes and transposes at rank 4 or below."""

import keras
import numpy as np
import pytest

from kvit import tflite
from kvit.models import EfficientViT, EfficientViTSeg

pytestmark = pytest.mark.tensorflow

RNG = np.random.default_rng(0)
SIZE = (64, 96)
TINY = dict(widths=(8, 8, 16, 16, 32), depths=(1, 1, 2, 1, 1), head_dim=8, head_widths=(32, 32))


def noised(model):
    for variable in model.weights:  # BatchNorm statistics away from (0, 1), like trained ones
        variable.assign(variable + RNG.normal(0.0, 0.05, variable.shape).astype("float32"))
    return model


def assert_builtin_rank4_and_matches_keras(model, expected_types):
    content = tflite.convert(model)
    graph = tflite.inspect_model(content)
    assert not graph.custom_operators()
    assert expected_types <= {op.type for op in graph.operators}
    assert "HARD_SWISH" not in {op.type for op in graph.operators}  # no int8 XNNPACK kernel
    for op in graph.operators:
        if op.type in ("TRANSPOSE", "RESHAPE"):
            assert max(len(t.shape) for t in op.inputs + op.outputs) <= 4, op
    x = RNG.uniform(0.0, 255.0, (2, *SIZE, 3)).astype("float32")
    interpreter = tflite.Interpreter(content)
    np.testing.assert_allclose(interpreter(x), keras.ops.convert_to_numpy(model(x)), atol=1e-4, rtol=0)
    assert interpreter.delegate_partitions == 1


@pytest.mark.parametrize("series", ["b", "l"])
def test_float_model_is_builtin_rank4_and_matches_keras(series):
    model = noised(EfficientViT(input_shape=(*SIZE, 3), series=series, classes=10, **TINY))
    expected = {"CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "TRANSPOSE", "RELU", "RSQRT"}
    assert_builtin_rank4_and_matches_keras(model, expected | ({"GELU"} if series == "l" else set()))


def test_segmentation_model_converts_with_bilinear_resizes():
    backbone = EfficientViT(input_shape=(*SIZE, 3), include_top=False, **TINY)
    model = noised(EfficientViTSeg(backbone, 5, upsample_logits=True))
    assert_builtin_rank4_and_matches_keras(model, {"RESIZE_BILINEAR", "BATCH_MATMUL"})
    images = RNG.uniform(0.0, 255.0, (8, *SIZE, 3)).astype("float32")
    content = tflite.convert(model, quantization="int8", representative_data=images)
    assert not tflite.inspect_model(content).float_operators()
    assert tflite.Interpreter(content)(images[:1]).shape == (1, *SIZE, 5)


def test_int8_attention_survives_a_head_whose_query_is_zero():
    # A trained model has pixels whose ReLU query is all zero: there the normaliser is 0 and its
    # rsqrt 1 / sqrt(epsilon). Calibrated on such a range, a squared rsqrt rounded every ordinary
    # scale to zero, and the int8 model agreed with Keras near chance on real images.
    from kvit.models.efficientvit import LiteMLA

    model = noised(EfficientViT(input_shape=(*SIZE, 3), classes=10, **TINY))
    for layer in model._flatten_layers():
        if isinstance(layer, LiteMLA):
            kernel = keras.ops.convert_to_numpy(layer.qkv.weights[0])
            kernel[..., : layer.head_dim] = 0.0  # the first head's query
            layer.qkv.weights[0].assign(kernel)
    images = RNG.uniform(0.0, 255.0, (16, *SIZE, 3)).astype("float32")
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

    model = noised(EfficientViT(input_shape=(*SIZE, 3), classes=10, **TINY))
    for layer in model._flatten_layers():
        if isinstance(layer, LiteMLA):
            kernel = keras.ops.convert_to_numpy(layer.qkv.weights[0])
            kernel[..., layer.head_dim : 2 * layer.head_dim] *= 30.0  # the first head's keys
            layer.qkv.weights[0].assign(kernel)
    images = RNG.uniform(0.0, 255.0, (16, *SIZE, 3)).astype("float32")
    content = tflite.convert(model, quantization="mixed", representative_data=images)
    operators = tflite.inspect_model(content).operators
    products = [op for op in operators if op.type == "MUL" and "context" in op.outputs[0].name]
    assert products and all(op.outputs[0].dtype == "float32" for op in products)
    expected = keras.ops.convert_to_numpy(model(images[:4]))
    error = np.abs(tflite.Interpreter(content)(images[:4]) - expected).max()
    assert error < 0.1 * np.ptp(expected), (error, np.ptp(expected))
