"""Fuzzing `kvit.tflite`: the interpreter with random arrays, the readers with damaged
flatbuffers, the converter with random arguments and calibration arrays.

Either a call works (finite outputs of the documented shape, for finite pixels in [0, 255]) or
it raises a ValueError/TypeError naming the argument; never another exception, a hang, or a
crash of the process (a damaged `.tflite` that crashes LiteRT is caught by the interpreter's
probe process).
"""

import numpy as np
import pytest
from fuzzing import assert_names_argument, case, examples
from hypothesis import given
from hypothesis import strategies as st

from kvit import tflite
from kvit.models import ViT

pytestmark = pytest.mark.once

SHAPE = (32, 32, 1)
CLASSES = 10
ARRAY_DTYPES = ("float16", "float32", "float64", "uint8", "int8", "int32", "int64", "bool", "complex64", "<U3", "object")
FILLS = ("random", "zeros", "full", "nan", "inf", "-inf", "huge", "negative")


@pytest.fixture(scope="module")
def models():
    """A one-block ViT, as Keras and converted: float32, full int8 and float32 at batch 2."""
    import keras

    keras.utils.set_random_seed(0)
    model = ViT(input_shape=SHAPE, patch_size=8, width=32, depth=1, num_heads=2, mlp_ratio=2.0, classes=CLASSES)
    calibration = np.random.default_rng(1).uniform(0, 255, (16, *SHAPE)).astype("float32")
    return dict(
        keras=model,
        float32=tflite.convert(model),
        int8=tflite.convert(model, quantization="int8", representative_data=calibration),
        batch2=tflite.convert(model, batch_size=2),
    )


def _array(data, shape):
    dtype = data.draw(st.sampled_from(ARRAY_DTYPES), label="dtype")
    fill = data.draw(st.sampled_from(FILLS), label="fill")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    values = {
        "random": lambda: rng.uniform(0, 255, shape),
        "zeros": lambda: np.zeros(shape),
        "full": lambda: np.full(shape, 255.0),
        "huge": lambda: np.full(shape, 1e300),
        "negative": lambda: rng.uniform(-1e4, 0, shape),
    }.get(fill, lambda: rng.uniform(0, 255, shape))()
    if fill in ("nan", "inf", "-inf") and values.size:
        values.flat[rng.integers(values.size)] = float(fill)
    with np.errstate(all="ignore"):
        array = values.astype(dtype) if dtype != "object" else values.astype(object)
    return array, fill


def _shape(data):
    if data.draw(st.booleans(), label="documented shape"):
        return (data.draw(st.integers(1, 5), label="n"), *SHAPE)
    return tuple(data.draw(st.lists(st.integers(0, 40), max_size=5), label="shape"))


@examples(ci=6, fuzz=300)
@given(data=st.data())
def test_interpreter_takes_any_array(models, data):
    mode = data.draw(st.sampled_from(("float32", "int8", "batch2")), label="model")
    shape = _shape(data)
    images, fill = _array(data, shape)
    with case("interpreter arrays"):
        interpreter = tflite.Interpreter(models[mode], num_threads=1, xnnpack=data.draw(st.booleans()))
        try:
            outputs = interpreter(images)
        except Exception as error:
            assert_names_argument(error, ["images"])
            return
        assert outputs.shape == (shape[0], CLASSES)
        if fill in ("random", "zeros", "full"):
            assert np.isfinite(outputs).all()


def _damaged(data, content):
    kind = data.draw(st.sampled_from(("flip", "truncate", "overwrite", "random", "empty")), label="damage")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    damaged = bytearray(content)
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 40), label="flips")):
            damaged[rng.integers(len(damaged))] = rng.integers(256)
    elif kind == "truncate":
        damaged = damaged[: rng.integers(0, len(damaged))]
    elif kind == "overwrite":  # the tables near the start: offsets, vector lengths, the version
        position = rng.integers(0, 256)
        damaged[position : position + 4] = rng.integers(0, 256, 4).astype(np.uint8).tobytes()
    elif kind == "random":
        damaged = bytearray(content[:8]) + bytearray(rng.integers(0, 256, rng.integers(0, 4096)).astype(np.uint8))
    else:
        damaged = bytearray()
    return bytes(damaged)


@examples(ci=4, fuzz=250)
@given(data=st.data())
def test_damaged_flatbuffers_are_read_or_refused(models, data, tmp_path_factory):
    content = _damaged(data, models[data.draw(st.sampled_from(("float32", "int8")), label="model")])
    path = tmp_path_factory.mktemp("damaged") / "model.tflite"
    path.write_bytes(content)
    source = data.draw(st.sampled_from((content, str(path))), label="as")
    with case("damaged flatbuffers"):
        for read in (tflite.inspect_model, tflite.edgetpu_report):
            try:
                read(source)
            except Exception as error:
                assert_names_argument(error, ["model"])
        try:
            interpreter = tflite.Interpreter(source, num_threads=1)
        except Exception as error:
            assert_names_argument(error, ["model"])
            return
        images = np.random.default_rng(0).uniform(0, 255, (1, *interpreter.input_shape[1:]))
        try:
            interpreter(images)
        except Exception as error:
            assert_names_argument(error, ["images"])


ANYTHING = st.one_of(st.none(), st.integers(-2, 3), st.floats(allow_nan=True), st.booleans(), st.text(max_size=4))
CONVERT_ARGUMENTS = {
    "quantization": st.one_of(st.sampled_from((None, *tflite.QUANTIZATION_MODES)), ANYTHING),
    "batch_size": st.one_of(st.sampled_from((1, 2)), ANYTHING),
    "io_dtype": st.one_of(st.sampled_from((None, "int8", "uint8", "int16", "float32")), ANYTHING),
    "per_channel": st.one_of(st.booleans(), ANYTHING),
    "edgetpu": st.one_of(st.booleans(), ANYTHING),
    "input_shape": st.one_of(st.sampled_from((None, SHAPE, (28, 28, 1), (32, 32), (32, 32, 3))), ANYTHING),
    "calibration_size": st.one_of(st.sampled_from((1, 4, 16)), ANYTHING),
}


@examples(ci=3, fuzz=60)
@given(data=st.data())
def test_convert_takes_any_arguments(models, data):
    arguments = {}
    for name in data.draw(st.lists(st.sampled_from(sorted(CONVERT_ARGUMENTS)), max_size=4, unique=True), label="set"):
        arguments[name] = data.draw(CONVERT_ARGUMENTS[name], label=name)
    if data.draw(st.booleans(), label="with calibration"):
        shape = (data.draw(st.integers(0, 8), label="n"), *SHAPE) if data.draw(st.booleans()) else _shape(data)
        arguments["representative_data"] = _array(data, shape)[0]
    with case("convert arguments"):
        try:
            content = tflite.convert(models["keras"], **arguments)
        except Exception as error:
            # An argument left out can be the one missing (`representative_data` for int8).
            assert_names_argument(error, [*arguments, "representative_data"])
            return
        interpreter = tflite.Interpreter(content, num_threads=1)
        images = np.random.default_rng(0).uniform(0, 255, (3, *SHAPE)).astype("float32")
        outputs = interpreter(images)
        assert outputs.shape == (3, CLASSES) and np.isfinite(outputs).all()
