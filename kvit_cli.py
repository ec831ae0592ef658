"""The `kvit` command's entry point: keeps TensorFlow's native start-up lines out, then runs `kvit.cli`.

It sits outside the kvit package on purpose. Importing `kvit` imports Keras, which on the
TensorFlow backend loads TensorFlow, and TensorFlow's C++ libraries write their start-up lines
(oneDNN, CUDA, CPU features) straight to the process's stderr descriptor as they load;
`TF_CPP_MIN_LOG_LEVEL` does not reach all of them. So unless `--verbose` is given, that import
runs with the descriptor pointed at a temporary file, which is shown only if the import fails.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured():
    """Points file descriptor 2 at a temporary file; yields a function that returns what it got."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)

        def captured():
            capture.seek(0)
            return capture.read().decode(errors="replace")

        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--verbose" in argv:
        from kvit.cli import main as run

        return run(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    failure = None
    try:
        with native_stderr_captured() as captured:
            try:
                from kvit.cli import main as run
            except BaseException:
                failure = captured()
                raise
    finally:
        if failure:
            sys.stderr.write(failure)
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
