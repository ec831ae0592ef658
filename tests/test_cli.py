"""The `kvit` command itself: quiet unless --verbose, `kvit list`, and one-line errors."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.once

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kvit_command(*argv, home):
    """Runs the console script's entry point (`kvit_cli`) in a fresh TensorFlow-backend process."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "KERAS_HOME": str(home), "PYTHONPATH": ROOT}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "kvit_cli", *argv], env=env, capture_output=True, text=True,
                          timeout=600)


def test_list_is_quiet_and_verbose_shows_tensorflow(tmp_path):
    result = kvit_command("list", "ViTTi16", "DeiTTi16", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    header, *rows, footer = result.stdout.splitlines()
    assert header.split()[:4] == ["model", "params", "GFLOPs", "size"]
    assert [row.split()[0] for row in rows] == ["ViTTi16", "DeiTTi16"]
    assert rows[0].split()[1:5] == ["5.72M", "2.51", "224", "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"]
    assert footer.startswith("GFLOPs: one image at the default size")

    verbose = kvit_command("list", "ViTTi16", "--verbose", home=tmp_path)
    assert verbose.returncode == 0 and verbose.stdout.splitlines()[1] == rows[0]
    assert "oneDNN" in verbose.stderr or "cpu_feature_guard" in verbose.stderr


def test_errors_are_one_line(tmp_path):
    result = kvit_command("list", "SwinXXL", home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("kvit list: error: Unknown model 'SwinXXL'; expected one of [")
    assert len(result.stderr.strip().splitlines()) == 1
