"""Every application of `kvit.applications.APPLICATIONS` converts to builtin-only TFLite.

Each is built with random weights at the small size of `small_applications` and converted in
float32 (whose logits match Keras to 1e-4, and which XNNPACK runs whole), with builtin ops only.
The quantized modes (full int8 with no float op left, dynamic, mixed) run on one application per
family builder: at this size the other variants are the same graph with other widths, and the
int8 calibrator's builtin float kernels make each quantized conversion the slow part.
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


def _check_float32(name, full_depth):
    model, images, expected = _model_and_outputs(name, full_depth)
    content = tflite.convert(model)
    graph = tflite.inspect_model(content)
    assert graph.custom_operators() == [] and graph.inputs[0].shape == (1, *images.shape[1:])
    interpreter = tflite.Interpreter(content)
    np.testing.assert_allclose(interpreter(images), expected, rtol=0, atol=1e-4)
    assert interpreter.delegate_partitions == 1  # XNNPACK runs the whole float graph
    return model, images, expected


def _check_int8(model, images, expected):
    content = tflite.convert(model, quantization="int8", representative_data="digits", calibration_size=8)
    graph = tflite.inspect_model(content)
    assert graph.custom_operators() == [] and graph.float_operators() == []
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int8", "int8"]
    outputs = tflite.Interpreter(content)(images)
    assert outputs.shape == expected.shape and np.isfinite(outputs).all()


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", NAMES)
def test_application_converts(name):
    _check_float32(name, full_depth=False)


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", family_representatives())
def test_family_converts_to_full_int8(name):
    _check_int8(*_model_and_outputs(name))


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
    _check_int8(*_check_float32(name, full_depth=True))
