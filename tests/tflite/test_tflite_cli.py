"""The `kvit convert`, `kvit bench`, `kvit edgetpu` and `kvit quickstart` commands."""

import os
import subprocess
import sys

import numpy as np
import pytest
from tflite_models import random_images, tiny_convnet

from kvit import cli, tflite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What TensorFlow's converter and calibrator write to the process's stderr while converting.
CONVERTER_LINES = ("fully_quantize", "inference_type", "tf_tfl_flatbuffer_helpers", "flatbuffer_export")


@pytest.mark.tensorflow
def test_convert(vit, tmp_path, capsys):
    model_path = str(tmp_path / "tiny.keras")
    vit.model.save(model_path)
    output = str(tmp_path / "tiny_int8.tflite")
    assert cli.main(["convert", model_path, "--quantization", "int8", "--calibration", "digits", "-o", output]) == 0
    printed = capsys.readouterr().out
    assert f"saved: {output}" in printed and "input int8 (1, 32, 32, 1)" in printed and "fully integer" in printed
    assert tflite.inspect_model(output).float_operators() == []

    calibration = str(tmp_path / "calibration.npy")
    np.save(calibration, random_images(8))
    assert cli.main(["convert", model_path, "--quantization", "int8", "--calibration", calibration, "--io-dtype", "uint8"]) == 0
    default_output = str(tmp_path / "tiny_int8.tflite")
    assert tflite.inspect_model(default_output).inputs[0].dtype == "uint8"


@pytest.mark.once
def test_convert_is_quiet_unless_verbose(vit, tmp_path):
    model, calibration = str(tmp_path / "tiny.keras"), str(tmp_path / "calibration.npy")
    vit.model.save(model)
    np.save(calibration, random_images(8))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ROOT}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)

    def kvit_convert(*flags):
        command = [sys.executable, "-m", "kvit", "convert", model, "--quantization", "int8", "--calibration", calibration]
        result = subprocess.run([*command, *flags], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "saved: " in result.stdout and "fully integer" in result.stdout
        return result.stderr

    quiet = kvit_convert()
    assert not [line for line in quiet.splitlines() if any(text in line for text in CONVERTER_LINES)], quiet
    verbose = kvit_convert("--verbose")
    assert "fully_quantize: 0, inference_type: 6" in verbose and "flatbuffer_export" in verbose


@pytest.mark.tensorflow
def test_python_convert_is_quiet_unless_verbose(vit, capfd):
    images = random_images(8)
    tflite.convert(vit.model, quantization="int8", representative_data=images)
    quiet = capfd.readouterr().err
    assert not [line for line in quiet.splitlines() if any(text in line for text in CONVERTER_LINES)], quiet
    tflite.convert(vit.model, quantization="int8", representative_data=images, verbose=True)
    assert "fully_quantize: 0, inference_type: 6" in capfd.readouterr().err


@pytest.mark.once
def test_bench(vit, tmp_path, capsys):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(vit.float32)
    assert cli.main(["bench", str(path), "--runs", "3", "--warmup", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "batch 1, 1 thread, 3 runs" in lines[0]
    assert [line.split()[0] for line in lines[2:]] == ["xnnpack", "builtin"]


@pytest.mark.once
def test_edgetpu_exit_status(vit, tmp_path, capsys):
    vit_path = tmp_path / "vit.tflite"
    vit_path.write_bytes(vit.int8)
    assert cli.main(["edgetpu", str(vit_path)]) == 1
    assert "did NOT run" in capsys.readouterr().out
    convnet_path = tmp_path / "convnet.tflite"
    convnet_path.write_bytes(tflite.convert(tiny_convnet(), edgetpu=True, representative_data="digits", calibration_size=8))
    assert cli.main(["edgetpu", str(convnet_path)]) == 0
    assert "Every op follows the published rules." in capsys.readouterr().out


@pytest.mark.tensorflow
def test_quickstart_trains_then_ships_to_phones(tmp_path, capsys):
    output = str(tmp_path / "quickstart")
    assert cli.main(["quickstart", "--output", output, "--epochs", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("model "))) + 1 :]
    rows = {line.split()[0]: line.split() for line in table[:4]}
    assert list(rows) == ["keras", "float32", "dynamic", "int8"]
    keras_accuracy = float(rows["keras"][1])
    assert float(rows["float32"][3]) == keras_accuracy  # accuracy column of the float32 model
    assert float(rows["float32"][4]) == 1.0  # its agreement with Keras
    for mode in ("float32", "dynamic", "int8"):
        assert os.path.isfile(os.path.join(output, f"quickstart_vit_{mode}.tflite"))
    sizes = {mode: float(rows[mode][1]) for mode in ("float32", "dynamic", "int8")}
    assert sizes["dynamic"] < sizes["float32"] / 2 and sizes["int8"] < sizes["float32"] / 2
    assert any(line.startswith("full int8 vs float32:") and "point budget" in line for line in lines)
