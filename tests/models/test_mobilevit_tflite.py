"""MobileViT converts to TFLite builtins only, with every reshape and transpose at rank 4 or below."""

import keras
import numpy as np
import pytest

from kvit.models import MobileViT, MobileViTV2

pytestmark = pytest.mark.tensorflow

RNG = np.random.default_rng(0)
# 80x96 makes the last stage 5x6 (3x3 for v2's rounded-up maps), which 2x2 patches do not tile:
# the resizes are in the graph too.
SIZE = (80, 96)
TINY = {
    "v1": (MobileViT, dict(
        stem_width=8, widths=(8, 8, 16, 16, 24), depths=(1, 2, 1, 1, 1), transformer_widths=(16, 16, 24),
        transformer_depths=(1, 2, 1), head_width=32, num_heads=2, classes=10,
    )),
    "v2": (MobileViTV2, dict(
        stem_width=8, widths=(8, 8, 16, 16, 24), depths=(1, 2, 1, 1, 1), transformer_depths=(1, 2, 1), classes=10,
    )),
}


def tiny_model(version):
    builder, config = TINY[version]
    model = builder(input_shape=(*SIZE, 3), **config)
    for variable in model.weights:  # BatchNorm statistics away from (0, 1), like trained ones
        variable.assign(variable + RNG.normal(0.0, 0.05, variable.shape).astype("float32"))
    return model


def convert(model, tmp_path, **converter_options):
    import tensorflow as tf

    path = tmp_path / "model.tflite"
    model.export(
        str(path),
        format="litert",
        verbose=False,
        input_signature=[keras.InputSpec(shape=(1, *SIZE, 3), dtype="float32")],
        **{"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}, **converter_options},
    )
    return path.read_bytes()


def interpreter(content, delegates=True):
    """A LiteRT interpreter; with `delegates`, XNNPACK takes over the nodes it supports, as on a phone."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=content, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    return interpreter


def ops_and_tensors(content):
    """The graph's ops, and its tensors by index, before any delegate rewrites them."""
    graph = interpreter(content, delegates=False)
    return graph._get_ops_details(), {t["index"]: t for t in graph.get_tensor_details()}


def run(interpreter, x):
    input_detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(input_detail["index"], x.astype(input_detail["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_float_model_is_builtin_rank4_and_matches_keras(tmp_path, version):
    model = tiny_model(version)
    content = convert(model, tmp_path)
    ops, tensors = ops_and_tensors(content)
    names = {op["op_name"] for op in ops}
    assert not [name for name in names if "Flex" in name or name in ("CUSTOM", "DELEGATE")], names
    assert {"TRANSPOSE", "RESHAPE", "CONV_2D", "DEPTHWISE_CONV_2D", "GATHER"} <= names
    for op in ops:
        if op["op_name"] in ("TRANSPOSE", "RESHAPE"):
            ranks = [len(tensors[i]["shape"]) for i in (*op["inputs"], *op["outputs"]) if i >= 0]
            assert max(ranks) <= 4, op
    tflite = interpreter(content)
    for _ in range(2):
        x = RNG.uniform(0.0, 255.0, (1, *SIZE, 3)).astype("float32")
        np.testing.assert_allclose(run(tflite, x), keras.ops.convert_to_numpy(model(x)), atol=1e-4, rtol=0)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_full_integer_quantization(tmp_path, version):
    import tensorflow as tf

    model = tiny_model(version)
    images = RNG.uniform(0.0, 255.0, (8, 1, *SIZE, 3)).astype("float32")
    content = convert(
        model,
        tmp_path,
        optimizations=[tf.lite.Optimize.DEFAULT],
        representative_dataset=lambda: ([image] for image in images),
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        inference_input_type=tf.int8,
        inference_output_type=tf.int8,
    )
    ops, tensors = ops_and_tensors(content)
    float_ops = {
        op["op_name"] for op in ops if any(tensors[i]["dtype"] == np.float32 for i in op["outputs"] if i >= 0)
    }
    assert not float_ops, f"ops left in float: {float_ops}"
    tflite = interpreter(content)
    scale, zero_point = tflite.get_input_details()[0]["quantization"]
    x = np.clip(np.round(images[0] / scale + zero_point), -128, 127)
    assert run(tflite, x).shape == (1, 10)
