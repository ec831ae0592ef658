"""The `kvit` command's entry point: keeps TensorFlow's native start-up lines out, then runs `kvit.cli`.

It sits outside the kvit package on purpose. Importing `kvit` imports Keras, which on the
TensorFlow backend loads TensorFlow, and TensorFlow's C++ libraries write their start-up lines
(oneDNN, CUDA, CPU features) straight to the process's stderr descriptor as they load;
`TF_CPP_MIN_LOG_LEVEL` does not reach all of them. So unless `--verbose` is given, that import
runs with the descriptor pointed at a temporary file, which is shown only if the import fails.
`kvit.cli` runs each TFLite conversion the same way (`quiet`): the converter's C++ lines
(`fully_quantize: 0, inference_type: 6, ...`) go to that descriptor too.
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


@contextlib.contextmanager
def quiet(verbose=False):
    """Runs the block with file descriptor 2 captured unless `verbose`; what it wrote there is
    shown only if the block raises, so that a failure can still be diagnosed."""
    if verbose:
        yield
        return
    failure = None
    try:
        with native_stderr_captured() as captured:
            try:
                yield
            except BaseException:
                failure = captured()
                raise
    finally:
        if failure:
            sys.stderr.write(failure)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    verbose = "--verbose" in argv
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow turns its oneDNN graph rewrites (a matmul, its bias and GELU as one kernel) on by
    # itself only on some CPUs; on an AMD EPYC with AVX2 it left them off, which cost Swin-T 1.4x.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with quiet(verbose):
        from kvit.cli import main as run
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
