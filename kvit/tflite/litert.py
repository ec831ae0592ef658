"""LiteRT (`ai_edge_litert`), imported when first used: `kvit.tflite` loads without it.

LiteRT is the `tflite` extra (`pip install "kvit[tflite]"`). Without it, everything else in kvit
works, and the functions that read or run a `.tflite` say what to install.
"""

import importlib


def litert_module(name):
    """`ai_edge_litert.<name>` (`"interpreter"` or `"schema_py_generated"`), else an ImportError
    that names the extra to install."""
    try:
        return importlib.import_module(f"ai_edge_litert.{name}")
    except ImportError as error:
        raise ImportError(
            'Reading and running .tflite files needs LiteRT: pip install "kvit[tflite]" '
            f"(the ai-edge-litert package). {error}"
        ) from error
