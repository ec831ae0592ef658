"""`kvit.tflite.quantization_report` and `kvit convert --report`: per-tensor error, by Keras layer."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from tflite_models import random_images

from kvit import cli, tflite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARK = os.path.join(ROOT, "benchmarks", "real_accuracy.py")
REAL = os.path.join(os.path.dirname(ROOT), "shared", "real")


def _sqnr_db(expected, actual):
    return 10 * math.log10(np.sum(expected.astype("float64") ** 2) / np.sum((actual - expected.astype("float64")) ** 2))


@pytest.mark.tensorflow
def test_int8_report_names_keras_layers_and_ranks_finite_errors(vit):
    images = vit.images[:2]
    report = tflite.quantization_report(
        vit.model, "int8", representative_data=random_images(8, seed=1), images=images, quantized_model=vit.int8
    )
    assert report.quantization == "int8" and report.num_images == 2 and report.unmatched == 0
    layers = {t.layer for t in report.tensors}
    assert {"patch_embed/proj", "blocks_0/norm1", "blocks_0/attn", "blocks_0/mlp/fc2", "norm"} <= layers
    top_level = {layer.name for layer in vit.model.layers}
    assert all(part.split("/")[0] in top_level for layer in layers if layer for part in layer.split(" + "))
    assert all(t.dtype == "int8" and t.scale > 0 for t in report.tensors)  # full int8: every activation
    assert all(math.isfinite(t.total_sqnr_db) and math.isfinite(t.own_sqnr_db) for t in report.tensors)
    own = [t.own_sqnr_db for t in report.worst(None)]
    assert own == sorted(own) and len(own) == len(report.tensors)
    total = [t.total_sqnr_db for t in report.worst(5, by="total")]
    assert total == sorted(total) and total[0] == min(t.total_sqnr_db for t in report.tensors)

    # The logits' error is the one the interpreter's own (dequantized) outputs show.
    expected = tflite.Interpreter(vit.float32, xnnpack=False)(images)
    actual = tflite.Interpreter(vit.int8, xnnpack=False)(images)
    (logits,) = [t for t in report.tensors if t.name == "Identity"]
    assert logits.total_sqnr_db == pytest.approx(_sqnr_db(expected, actual), abs=1e-3)

    lines = str(report).splitlines()
    assert "lowest own SQNR" in lines[0] and len(lines) == 2 + 10
    assert lines[2].split()[0] == f"{report.worst(1)[0].own_sqnr_db:.1f}"


@pytest.mark.tensorflow
def test_mixed_report_keeps_its_float_tensors(vit):
    report = tflite.quantization_report(vit.model, "mixed", representative_data=random_images(8, seed=1), num_images=1)
    softmax = [t for t in report.tensors if t.op == "SOFTMAX"]
    assert softmax and all(t.dtype == "float32" and t.own_sqnr_db == math.inf for t in softmax)
    assert math.isfinite(softmax[0].total_sqnr_db)  # its inputs were quantized upstream
    assert any(t.name == "Identity" for t in report.tensors)  # the float output, matched by name
    assert report.worst(None)[-1].own_sqnr_db == math.inf  # float tensors rank last


@pytest.mark.once
def test_report_refuses_bad_arguments(vit):
    with pytest.raises(ValueError, match="`quantization`"):
        tflite.quantization_report(vit.model, "int4", representative_data=random_images(2))
    with pytest.raises(ValueError, match="`quantization`"):
        tflite.quantization_report(vit.model, "float32", images=random_images(2))
    with pytest.raises(ValueError, match="`representative_data` is required"):
        tflite.quantization_report(vit.model, "int8", images=random_images(2))
    with pytest.raises(ValueError, match="`images` is required"):
        tflite.quantization_report(vit.model, "dynamic")
    with pytest.raises(ValueError, match="`num_images`"):
        tflite.quantization_report(vit.model, "int8", representative_data=random_images(2), num_images=0)
    with pytest.raises(ValueError, match="`by`"):
        tflite.QuantizationReport("int8", 1, (), 0).worst(by="largest")
    with pytest.raises(ValueError, match="`preserve_all_tensors=True` needs `xnnpack=False`"):
        tflite.Interpreter(vit.float32, preserve_all_tensors=True)


@pytest.mark.tensorflow
def test_convert_report(vit, tmp_path, capsys):
    model_path = str(tmp_path / "tiny.keras")
    vit.model.save(model_path)
    calibration = str(tmp_path / "calibration.npy")
    np.save(calibration, random_images(8))
    command = ["convert", model_path, "--quantization", "int8", "--calibration", calibration]
    assert cli.main([*command, "--report", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "fully integer" in lines
    header = next(i for i, line in enumerate(lines) if "lowest own SQNR against float32 (4 images)" in line)
    rows = lines[header + 2 :]
    layer_names = [layer.name for layer in vit.model.layers]
    assert len(rows) == 3 and all(" int8 " in row and any(name in row for name in layer_names) for row in rows)

    assert cli.main([*command[:4], "--report"]) == 2
    assert "`--report` needs `--calibration`" in capsys.readouterr().err


@pytest.mark.once
def test_real_accuracy_benchmark_says_what_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, BENCHMARK, "--real", str(tmp_path / "absent")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped" in result.stdout and "deit_tiny_patch16_224.safetensors" in result.stdout


@pytest.mark.slow
@pytest.mark.tensorflow
def test_deit_tiny_int8_report_on_real_photos():
    if not os.path.isdir(REAL):
        pytest.skip(f"the real weights and photos are not at {REAL} (see benchmarks/real_accuracy.py)")
    sys.path.insert(0, os.path.dirname(BENCHMARK))
    import real_accuracy

    photos = [path for path, _ in real_accuracy.photo_files(REAL)]
    calibration = real_accuracy.load_photos(photos[::50])
    images = real_accuracy.load_photos(photos[1:3])
    model = real_accuracy.deit_tiny(REAL)
    report = tflite.quantization_report(model, "int8", representative_data=calibration, images=images)
    assert len(report.tensors) > 300 and report.unmatched == 0
    assert {f"blocks_{i}/norm1" for i in range(12)} <= {t.layer for t in report.tensors}
    assert all(math.isfinite(t.own_sqnr_db) for t in report.tensors)
