"""`kvit.tflite.convert`: quantization modes, builtin-only graphs, backends, bad arguments."""

import os

import keras
import numpy as np
import pytest
from tflite_models import IMAGE_SHAPE, random_images, tiny_convnet, tiny_vit

from kvit import tflite
from kvit.tflite import converter

INTEGER_ACTIVATIONS = {"int8": {"int8", "int32"}, "int16x8": {"int16", "int8", "int32", "int64"}}


def _types(graph):
    return {t.dtype for op in graph.operators for t in op.inputs + op.outputs}


@pytest.mark.tensorflow
def test_float_modes_op_and_tensor_types(vit):
    float32 = tflite.inspect_model(vit.float32)
    assert _types(float32) == {"float32", "int32"}
    assert not {"QUANTIZE", "DEQUANTIZE"} & {op.type for op in float32.operators}

    float16 = tflite.inspect_model(tflite.convert(vit.model, quantization="float16"))
    dequantize = [op for op in float16.operators if op.type == "DEQUANTIZE"]
    # float16 weights, each dequantized once to feed float32 compute.
    assert dequantize and all(op.signature() == "DEQUANTIZE(float16->float32)" for op in dequantize)
    assert all(t.data is not None for op in dequantize for t in op.inputs)
    assert _types(float16) == {"float16", "float32", "int32"}

    dynamic = tflite.inspect_model(tflite.convert(vit.model, quantization="dynamic"))
    # int8 weights, float activations, no quantize ops: the kernels quantize on the fly.
    hybrid = {
        op.type
        for op in dynamic.operators
        if len(op.inputs) > 1
        and op.inputs[0].dtype == op.outputs[0].dtype == "float32"
        and op.inputs[1].dtype == "int8"
    }
    assert hybrid == {"FULLY_CONNECTED", "CONV_2D"}
    assert not {"QUANTIZE", "DEQUANTIZE"} & {op.type for op in dynamic.operators}
    assert [t.dtype for t in dynamic.inputs + dynamic.outputs] == ["float32", "float32"]


@pytest.mark.tensorflow
def test_int8_is_fully_integer(vit):
    graph = tflite.inspect_model(vit.int8)
    assert graph.float_operators() == []
    assert _types(graph) == INTEGER_ACTIVATIONS["int8"]
    assert not {"QUANTIZE", "DEQUANTIZE"} & {op.type for op in graph.operators}
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int8", "int8"]
    # The transformer's own ops all run in int8, LayerNorm included (no NEG left in float).
    assert {"BATCH_MATMUL", "SOFTMAX", "GELU", "RSQRT", "MEAN", "SUB"} <= {op.type for op in graph.operators}


@pytest.mark.tensorflow
def test_int8_with_uint8_io_requantizes_only_at_the_boundary(vit):
    content = tflite.convert(vit.model, quantization="int8", representative_data="digits", io_dtype="uint8", calibration_size=16)
    graph = tflite.inspect_model(content)
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["uint8", "uint8"]
    quantize = [op for op in graph.operators if op.type == "QUANTIZE"]
    assert [op.signature() for op in quantize] == ["QUANTIZE(uint8->int8)", "QUANTIZE(int8->uint8)"]
    assert quantize[0].inputs[0].index == graph.inputs[0].index
    assert quantize[1].outputs[0].index == graph.outputs[0].index
    assert graph.float_operators() == []


@pytest.mark.tensorflow
def test_int16x8_is_fully_integer():
    model = tiny_convnet()
    content = tflite.convert(model, quantization="int16x8", representative_data="digits", calibration_size=16)
    graph = tflite.inspect_model(content)
    assert graph.float_operators() == []
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int16", "int16"]
    conv = [op for op in graph.operators if op.type == "CONV_2D"]
    assert conv and all(op.signature() == "CONV_2D(int16,int8,int64->int16)" for op in conv)
    assert _types(graph) <= INTEGER_ACTIVATIONS["int16x8"]
    images = random_images(4)
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(tflite.Interpreter(content)(images), expected, atol=2e-3)


@pytest.mark.tensorflow
def test_int16x8_vit_runs(vit):
    content = tflite.convert(vit.model, quantization="int16x8", representative_data="digits", calibration_size=16)
    assert tflite.inspect_model(content).float_operators() == []


@pytest.mark.tensorflow
def test_per_tensor_option(vit):
    per_channel = tflite.inspect_model(vit.int8)
    per_tensor = tflite.inspect_model(
        tflite.convert(vit.model, quantization="int8", representative_data="digits", per_channel=False, calibration_size=16)
    )

    def weight_scales(graph):
        return [op.inputs[1].scales for op in graph.operators if op.type in ("CONV_2D", "FULLY_CONNECTED")]

    assert max(weight_scales(per_channel)) > 1
    assert set(weight_scales(per_tensor)) == {1}


@pytest.mark.tensorflow
def test_edgetpu_conversion_is_batch_one_uint8():
    content = tflite.convert(tiny_convnet(), edgetpu=True, representative_data="digits", calibration_size=16)
    graph = tflite.inspect_model(content)
    assert graph.inputs[0].shape == (1, *IMAGE_SHAPE)
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["uint8", "uint8"]
    assert graph.float_operators() == []


@pytest.mark.tensorflow
def test_batch_size_is_static(vit):
    content = tflite.convert(vit.model, batch_size=4)
    graph = tflite.inspect_model(content)
    assert graph.inputs[0].shape == (4, *IMAGE_SHAPE) and graph.inputs[0].static
    assert not {"SHAPE", "GATHER", "PACK"} & {op.type for op in graph.operators}
    images = random_images(4)
    np.testing.assert_allclose(tflite.Interpreter(content)(images), vit.model.predict(images, verbose=0), atol=1e-4)


class ErfGate(keras.layers.Layer):
    """`x * erf(x)`: erf has no TFLite builtin, so it would need a Flex op."""

    def call(self, x):
        return x * keras.ops.erf(x)


@pytest.mark.tensorflow
def test_flex_op_is_refused_naming_op_and_layer():
    inputs = keras.Input(IMAGE_SHAPE)
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = ErfGate(name="erf_gate")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match=r"Erf \(layer 'erf_gate'\).*builtin ops only"):
        tflite.convert(model)


@pytest.mark.tensorflow
def test_converts_a_keras_file_and_writes_output_path(vit, tmp_path):
    keras_path = str(tmp_path / "tiny.keras")
    vit.model.save(keras_path)
    output_path = str(tmp_path / "tiny.tflite")
    content = tflite.convert(keras_path, output_path)
    with open(output_path, "rb") as f:
        assert f.read() == content
    outputs = tflite.Interpreter(output_path)(vit.images)
    np.testing.assert_allclose(outputs, vit.model.predict(vit.images, verbose=0), atol=1e-4)


@pytest.mark.tensorflow
def test_models_too_large_to_freeze_go_through_a_saved_model(vit, monkeypatch):
    # As ViT-B and larger do: the weights then follow the flatbuffer (buffer offsets).
    monkeypatch.setattr(converter, "FROZEN_GRAPH_BYTES", 0)
    content = tflite.convert(vit.model)
    weights = [t for op in tflite.inspect_model(content).operators for t in op.inputs if t.name.endswith("MatMul")]
    assert weights and all(t.data is not None and t.data.shape == t.shape for t in weights)
    np.testing.assert_allclose(
        tflite.Interpreter(content)(vit.images), vit.model.predict(vit.images, verbose=0), atol=1e-4
    )
    int8 = tflite.convert(vit.model, quantization="int8", representative_data=random_images(16, seed=1))
    assert tflite.inspect_model(int8).float_operators() == []


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="the worker path serves JAX and PyTorch")
def test_other_backends_convert_in_a_tensorflow_worker(tmp_path):
    model = tiny_vit()
    images = random_images(3)
    expected = keras.ops.convert_to_numpy(model(images))
    float32 = tflite.convert(model)
    np.testing.assert_allclose(tflite.Interpreter(float32)(images), expected, atol=1e-4)

    keras_path = str(tmp_path / "tiny.keras")
    model.save(keras_path)
    int8 = tflite.convert(keras_path, quantization="int8", representative_data=random_images(16, seed=1))
    graph = tflite.inspect_model(int8)
    assert graph.float_operators() == [] and graph.inputs[0].dtype == "int8"
    assert tflite.Interpreter(int8)(images).shape == expected.shape


@pytest.mark.once
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(quantization="int4"), "`quantization` must be None or one of"),
        (dict(quantization="int8"), "`representative_data` is required"),
        (dict(quantization="dynamic", representative_data="digits"), "`representative_data` is only used"),
        (dict(representative_data=np.zeros((0, *IMAGE_SHAPE)), quantization="int8"), "at least one image"),
        (dict(representative_data=np.zeros((4, 28, 28, 1)), quantization="int8"), r"shape \(28, 28, 1\)"),
        (dict(edgetpu=True, quantization="dynamic", representative_data="digits"), "`edgetpu=True` needs"),
        (dict(edgetpu=True, batch_size=2, representative_data="digits"), "`batch_size` must be 1"),
        (dict(batch_size=0), "`batch_size` must be a positive int"),
        (dict(quantization="int8", io_dtype="int16", representative_data="digits"), "`io_dtype` must be one of"),
        (dict(input_shape=(28, 28, 1)), "`input_shape`"),
    ],
)
def test_bad_arguments_name_the_argument(vit, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tflite.convert(vit.model, **kwargs)


@pytest.mark.once
def test_bad_model_argument(tmp_path):
    with pytest.raises(ValueError, match="`model` .* is not an existing .keras file"):
        tflite.convert(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        tflite.convert(np.zeros(3))
    assert not os.listdir(tmp_path)


@pytest.mark.tensorflow
def test_mixed_keeps_only_its_ops_in_float(vit):
    content = tflite.convert(vit.model, quantization="mixed", representative_data=random_images(64, seed=1))
    graph = tflite.inspect_model(content)
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["float32", "float32"]
    float_ops = [op for op in graph.float_operators() if op.type not in ("QUANTIZE", "DEQUANTIZE")]
    # A ViT has every op of the list but RELU (a standalone one: EfficientViT's attention kernel).
    assert {op.type for op in float_ops} - {"ADD"} == set(converter.FLOAT_OPS_OF_MIXED) - {"RELU"}
    # The float ADDs are the norms' `variance + epsilon`, each read by an RSQRT: XNNPACK has no int8
    # kernel for them, and with them in float it runs the whole graph.
    rsqrt_inputs = {op.inputs[0].index for op in graph.operators if op.type == "RSQRT"}
    float_adds = {op.outputs[0].index for op in float_ops if op.type == "ADD"}
    assert float_adds == rsqrt_inputs
    assert tflite.Interpreter(content).delegate_partitions == 1
    dense = [op for op in graph.operators if op.type in ("CONV_2D", "FULLY_CONNECTED")]
    assert dense and all(op.inputs[0].dtype == op.inputs[1].dtype == op.outputs[0].dtype == "int8" for op in dense)
    # Random weights: the error says the scales are sane (about 9% of the output range), not how
    # accurate a trained model stays (benchmarks/tflite_latency.py measures that).
    expected = vit.model.predict(vit.images, verbose=0)
    error = np.abs(tflite.Interpreter(content)(vit.images) - expected).max()
    assert error < 0.15 * np.abs(expected).max()
