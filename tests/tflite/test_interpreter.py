"""`kvit.tflite.Interpreter`: XNNPACK or not, quantized I/O, batching and bad inputs."""

import numpy as np
import pytest
from tflite_models import IMAGE_SHAPE, random_images

from kvit import tflite

# Backend-independent: the TensorFlow pass runs it once (its fixtures convert in-process).
pytestmark = pytest.mark.once


def test_float_model_matches_keras_with_and_without_xnnpack(vit):
    expected = vit.model.predict(vit.images, verbose=0)
    for xnnpack in (True, False):
        interpreter = tflite.Interpreter(vit.float32, xnnpack=xnnpack)
        assert interpreter.input_shape == (1, *IMAGE_SHAPE)
        assert interpreter.input_dtype == np.float32
        np.testing.assert_allclose(interpreter(vit.images), expected, atol=1e-4)


def test_int8_io_is_quantized_and_dequantized(vit):
    interpreter = tflite.Interpreter(vit.int8, num_threads=1)
    assert interpreter.input_dtype == np.int8 and interpreter.output_dtypes == [np.int8]
    outputs = interpreter(vit.images)
    expected = vit.model.predict(vit.images, verbose=0)
    assert outputs.dtype == np.float32 and outputs.shape == expected.shape
    # Dequantized logits follow the Keras ones; raw int8 codes would be off by orders of magnitude.
    # (A random-weight ViT quantizes coarsely: the bounds are loose, the int8 codes far outside.)
    assert np.abs(outputs - expected).mean() < 0.5 * np.abs(expected).mean()
    assert np.corrcoef(outputs.ravel(), expected.ravel())[0, 1] > 0.9


def test_uint8_pixels_and_any_number_of_images(vit):
    interpreter = tflite.Interpreter(vit.float32)
    pixels = random_images(5).astype(np.uint8)
    outputs = interpreter(pixels)
    assert outputs.shape == (5, 10)
    np.testing.assert_allclose(outputs[3:], interpreter(pixels[3:].astype("float32")), atol=1e-6)


def test_batched_model_pads_the_last_batch(vit):
    interpreter = tflite.Interpreter(tflite.convert(vit.model, batch_size=2))
    images = random_images(3)
    np.testing.assert_allclose(interpreter(images), vit.model.predict(images, verbose=0), atol=1e-4)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.bool_, np.complex64])
def test_wrong_dtype_names_images(vit, dtype):
    with pytest.raises(ValueError, match=f"`images` must be float .* got dtype {np.dtype(dtype)}"):
        tflite.Interpreter(vit.int8)(np.zeros((1, *IMAGE_SHAPE), dtype))


@pytest.mark.parametrize("shape", [IMAGE_SHAPE, (1, 28, 28, 1), (1, 32, 32, 3), (0, *IMAGE_SHAPE)])
def test_wrong_shape_names_images(vit, shape):
    with pytest.raises(ValueError, match=r"`images` must have shape \(n, 32, 32, 1\)"):
        tflite.Interpreter(vit.float32)(np.zeros(shape, "float32"))


def test_corrupt_or_empty_models_name_model(vit, tmp_path):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(vit.float32[: len(vit.float32) // 3])
    garbage = bytearray(vit.float32)
    garbage[4:8] = b"ONNX"
    cases = [
        (str(empty), "is empty"),
        (b"", "is empty"),
        (bytes(garbage), "is not a TFLite flatbuffer"),
        (str(tmp_path / "missing.tflite"), "is not a file"),
        (str(truncated), "could not be loaded|corrupt"),
        (42, "must be the bytes or the path"),
    ]
    for model, match in cases:
        with pytest.raises(ValueError, match=match) as error:
            tflite.Interpreter(model)
        assert "`model`" in str(error.value)
    with pytest.raises(ValueError, match="`model` .*is empty"):
        tflite.inspect_model(str(empty))


def test_bad_num_threads(vit):
    with pytest.raises(ValueError, match="`num_threads` must be None or a positive int"):
        tflite.Interpreter(vit.float32, num_threads=0)
