"""Every application of `kvit.applications.APPLICATIONS` converts to builtin-only TFLite.

Each is built with random weights at the small size of `small_applications` and converted in
float32 (whose logits match Keras to 1e-4, and which XNNPACK runs whole) and full int8 (no float
op left), with builtin ops only. The dynamic and mixed modes, which quantize a subset of the ops
the other two cover, run on one application per family builder: at this size the other
variants are the same graph with other widths.
To keep CI fast, ViT and DeiT are cut to one block here and run at full depth under `slow`
(KVIT_SLOW=1): at full depth on 2 cores ViT-B takes about 20 s per conversion, ViT-L a minute and
12 GB of memory, ViT-H more than 16 GB; one block takes a second or two.
"""

import keras
import numpy as np
import pytest
from small_applications import NAMES, depth_is_cut, family_representatives, image_size, small_application

from kvit import tflite


def _model_and_outputs(name, full_depth=False):
    size = image_size(name)
    model = small_application(name, full_depth, classes=10, classifier_activation=None)
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    return model, images, keras.ops.convert_to_numpy(model(images, training=False))


def _check_conversions(name, full_depth):
    model, images, expected = _model_and_outputs(name, full_depth)
    size = images.shape[1]

    float32 = tflite.convert(model)
    graph = tflite.inspect_model(float32)
    assert graph.custom_operators() == [] and graph.inputs[0].shape == (1, size, size, 3)
    interpreter = tflite.Interpreter(float32)
    np.testing.assert_allclose(interpreter(images), expected, rtol=0, atol=1e-4)
    assert interpreter.delegate_partitions == 1  # XNNPACK runs the whole float graph

    int8 = tflite.convert(model, quantization="int8", representative_data="digits", calibration_size=8)
    graph = tflite.inspect_model(int8)
    assert graph.custom_operators() == [] and graph.float_operators() == []
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int8", "int8"]
    outputs = tflite.Interpreter(int8)(images)
    assert outputs.shape == expected.shape and np.isfinite(outputs).all()


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", NAMES)
def test_application_converts(name):
    _check_conversions(name, full_depth=False)


@pytest.mark.tensorflow
@pytest.mark.parametrize("mode", ["dynamic", "mixed"])
@pytest.mark.parametrize("name", family_representatives())
def test_family_converts_in_partly_quantized_modes(name, mode):
    model, images, expected = _model_and_outputs(name)
    calibration = "digits" if mode in tflite.CALIBRATED_MODES else None
    content = tflite.convert(model, quantization=mode, representative_data=calibration, calibration_size=8)
    assert tflite.inspect_model(content).custom_operators() == []
    outputs = tflite.Interpreter(content)(images)
    assert outputs.shape == expected.shape and np.isfinite(outputs).all()


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.parametrize("name", [name for name in NAMES if depth_is_cut(name)])
def test_application_converts_at_full_depth(name):
    _check_conversions(name, full_depth=True)
