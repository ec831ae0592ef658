"""The `kvit` command's entry point: sets TensorFlow's environment, then runs `kvit.cli`.

It sits outside the kvit package because these variables must be set before `import kvit`
imports Keras and, on the TensorFlow backend, TensorFlow. Unless `--verbose` is given it also
asks `import kvit` to keep TensorFlow's native start-up lines out (`kvit.native_stderr`).
"""

import os
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--verbose" not in argv:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KVIT_QUIET_IMPORT", "1")
    # TensorFlow turns its oneDNN graph rewrites (a matmul, its bias and GELU as one kernel) on by
    # itself only on some CPUs; on an AMD EPYC with AVX2 it left them off, which cost Swin-T 1.4x.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    from kvit.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
