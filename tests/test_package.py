"""`import kvit` reaches every subpackage; TensorFlow loads on JAX and PyTorch only with kvit.tflite or kvit.recipes."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.once

SCRIPT = textwrap.dedent(
    """
    import sys
    import kvit
    assert {"applications", "layers", "models", "recipes", "tflite"} <= set(dir(kvit))
    before = "tensorflow" in sys.modules
    kvit.applications.ViTTi16, kvit.models.feature_extractor, kvit.layers.LayerNorm
    untouched = "tensorflow" in sys.modules
    touched = sys.argv[1]
    getattr(kvit, touched)
    print(before, untouched, "tensorflow" in sys.modules, getattr(kvit, touched).__name__)
    """
)


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("subpackage", ["tflite", "recipes"])
def test_tensorflow_loads_only_with_tflite_or_recipes(backend, subpackage):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, subpackage],
        env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    before, untouched, after, module = result.stdout.split()
    assert (before, untouched, module) == ("False", "False", f"kvit.{subpackage}")
    # kvit.tflite imports TensorFlow only to convert; kvit.recipes is tf.data.
    assert after == ("True" if subpackage == "recipes" else "False")


def test_unknown_attribute():
    import kvit

    with pytest.raises(AttributeError, match="no attribute 'tflit'"):
        kvit.tflit
