"""The conversion worker: `python -m kvit.tflite REQUEST.json`, run with KERAS_BACKEND=tensorflow.

`kvit.tflite.convert` starts it for models of the JAX and PyTorch backends; see `converter.py`.
"""

import sys

from kvit.tflite.converter import run_request

if __name__ == "__main__":
    run_request(sys.argv[1])
