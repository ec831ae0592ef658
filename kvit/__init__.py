"""kvit: vision transformers for Keras 3 on TensorFlow, JAX and PyTorch, shipped as TFLite.

`kvit.applications`, `kvit.models` and `kvit.layers` load with `import kvit` (so `.keras` files
of kvit models load after it); `kvit.tflite` and `kvit.recipes` load when first touched (PEP
562), since they use TensorFlow, which the JAX and PyTorch backends otherwise never import.
"""

import importlib
import os

from kvit import native_stderr

with native_stderr.quiet(verbose=os.environ.get(native_stderr.QUIET_IMPORT_VARIABLE) != "1"):
    from kvit import applications, datasets, layers, models

__version__ = "0.1.0"

_LAZY_SUBPACKAGES = ("recipes", "tflite")


def __getattr__(name):
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"kvit.{name}")
    raise AttributeError(f"module 'kvit' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY_SUBPACKAGES])
