"""Every application of `kvit.applications.APPLICATIONS` converts to builtin-only TFLite.

Each is built with random weights at a small input size and converted in float32 and in full
int8; both run under XNNPACK, and the float32 logits match Keras to 1e-4. Applications are
discovered, so a new family is covered without touching this file. To keep CI fast,
families with a `depth` in their preset (ViT, DeiT) are cut to `FAST_DEPTH` transformer blocks
here, and run at full depth under `slow` (KVIT_SLOW=1): at full depth on 2 cores ViT-B takes
about 20 s per conversion, ViT-L a minute and 12 GB of memory, ViT-H more than 16 GB; one block
takes a second or two.
"""

import keras
import numpy as np
import pytest

from kvit import applications, tflite

APPLICATIONS = sorted(applications.APPLICATIONS)
FAST_DEPTH = 1
DEFAULT_IMAGE_SIZE = 64


def _config(name):
    return applications.PRESETS[name].get("config", {})


def _image_size(name):
    """4x4 patches for a patch-based family, else 64x64 (stride 32: a 2x2 last map)."""
    patch_size = _config(name).get("patch_size")
    return 4 * patch_size if patch_size else DEFAULT_IMAGE_SIZE


def _depth_is_cut(name):
    depth = _config(name).get("depth")
    return isinstance(depth, int) and depth > FAST_DEPTH


def _check_conversions(name, full_depth):
    size = _image_size(name)
    kwargs = {} if full_depth or not _depth_is_cut(name) else {"depth": FAST_DEPTH}
    model = applications.get(
        name, input_shape=(size, size, 3), classes=10, classifier_activation=None, **kwargs
    )
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(images, training=False))

    float32 = tflite.convert(model)
    graph = tflite.inspect_model(float32)
    assert graph.custom_operators() == [] and graph.inputs[0].shape == (1, size, size, 3)
    np.testing.assert_allclose(tflite.Interpreter(float32)(images), expected, rtol=0, atol=1e-4)

    int8 = tflite.convert(model, quantization="int8", representative_data="digits", calibration_size=8)
    graph = tflite.inspect_model(int8)
    assert graph.custom_operators() == [] and graph.float_operators() == []
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int8", "int8"]
    outputs = tflite.Interpreter(int8)(images)
    assert outputs.shape == expected.shape and np.isfinite(outputs).all()


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_application_converts(name):
    _check_conversions(name, full_depth=False)


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.parametrize("name", [name for name in APPLICATIONS if _depth_is_cut(name)])
def test_application_converts_at_full_depth(name):
    _check_conversions(name, full_depth=True)
