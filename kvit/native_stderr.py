"""Keeps what native libraries write to the process's stderr out of sight unless asked for it.

TensorFlow's C++ libraries write their start-up lines (oneDNN, CUDA, CPU features) and the
TFLite converter its own (`fully_quantize: 0, inference_type: 6, ...`) straight to file
descriptor 2, where `TF_CPP_MIN_LOG_LEVEL` and Python's logging do not reach all of them. `quiet`
points the descriptor at a temporary file for the length of a block and shows what was written
there only if the block fails, so a failure can still be diagnosed.

This module imports nothing but the standard library: `kvit/__init__.py` imports it before Keras.
"""

import contextlib
import os
import sys
import tempfile

# Set by the `kvit` command (see `kvit_cli`): `import kvit` then loads Keras and TensorFlow quietly.
QUIET_IMPORT_VARIABLE = "KVIT_QUIET_IMPORT"


@contextlib.contextmanager
def quiet(verbose=False):
    """Runs the block with file descriptor 2 captured, unless `verbose`.

    What the block wrote there is written back to stderr if it raises, and dropped otherwise.
    Python's own `sys.stderr` writes in the block (warnings, tracebacks) are captured alike.
    """
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                capture.seek(0)
                sys.stderr.write(capture.read().decode(errors="replace"))
