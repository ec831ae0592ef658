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


def test_every_recipes_module_is_reached_from_import_kvit():
    """`kvit.recipes.sam.SAM`, as the docs write it, after a plain `import kvit`."""
    modules = sorted(
        name.removesuffix(".py")
        for name in os.listdir(os.path.join(os.path.dirname(__file__), "..", "kvit", "recipes"))
        if name.endswith(".py") and name != "__init__.py"
    )
    script = f"import kvit\nfor name in {modules!r}:\n    getattr(kvit.recipes, name)\nkvit.recipes.sam.SAM"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_python_310_gets_tomli():
    """kvit reads TOML with `tomllib` (Python 3.11+) or `tomli`, which setup.cfg must declare below 3.11."""
    with open(os.path.join(os.path.dirname(__file__), "..", "setup.cfg")) as f:
        setup = f.read()
    assert "python_requires = >=3.10" in setup
    assert 'tomli; python_version < "3.11"' in setup
