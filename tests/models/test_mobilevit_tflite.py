"""MobileViT converts to TFLite builtins only, with every reshape and transpose at rank 4 or below."""

import pytest

from kvit import tflite
from kvit.models import MobileViT, MobileViTV2
from kvit.testing import check_tflite, noise_weights, pixels

pytestmark = pytest.mark.tensorflow

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


def tiny_model(version, size=SIZE):
    builder, config = TINY[version]
    return noise_weights(builder(input_shape=(*size, 3), **config))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_float_model_is_builtin_rank4_and_matches_keras(version):
    graph, _ = check_tflite(tiny_model(version), pixels(SIZE, batch=2))
    assert {"TRANSPOSE", "RESHAPE", "CONV_2D", "DEPTHWISE_CONV_2D", "GATHER"} <= {op.type for op in graph.operators}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_xnnpack_runs_the_whole_graph_when_patches_tile_every_map(version):
    # 64x64 needs no resize; the resizes' GATHERs (other sizes) are the only ops XNNPACK leaves out.
    assert tflite.Interpreter(tflite.convert(tiny_model(version, (64, 64)))).delegate_partitions == 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_full_integer_quantization(version):
    model = tiny_model(version)
    images = pixels(SIZE, batch=8)
    content = tflite.convert(model, quantization="int8", representative_data=images)
    graph = tflite.inspect_model(content)
    assert not graph.float_operators(), f"ops left in float: {graph.float_operators()}"
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int8", "int8"]
    assert tflite.Interpreter(content)(images[:1]).shape == (1, 10)
