"""The suite runs once per backend (KERAS_BACKEND=tensorflow|jax|torch); see the README.

Markers:
    slow: full-size variants, run only with KVIT_SLOW=1.
    tensorflow: needs TensorFlow itself (tf.data, the TFLite converter); runs in the TensorFlow pass.
    once: backend-independent, or spans the backends itself (subprocesses); runs in the
        TensorFlow pass only, so that the three passes do not repeat it.
"""

import os
import sys

import keras
import pytest

sys.path.insert(0, os.path.dirname(__file__))


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get("KVIT_SLOW") == "1"
    backend = keras.backend.backend()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: set KVIT_SLOW=1"))
        if ("tensorflow" in item.keywords or "once" in item.keywords) and backend != "tensorflow":
            item.add_marker(pytest.mark.skip(reason="runs in the TensorFlow pass"))


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    yield
