"""The suite runs once per backend (KERAS_BACKEND=tensorflow|jax|torch); see the README.

Markers:
    slow: full-size variants, run only with KVIT_SLOW=1.
    tensorflow: needs TensorFlow itself (tf.data, the TFLite converter); runs in the TensorFlow pass.
    once: backend-independent, or spans the backends itself (subprocesses); runs in the
        TensorFlow pass only, so that the three passes do not repeat it.
"""

import collections
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


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """No hub, and empty Keras and Hugging Face caches under `tmp_path`.

    huggingface_hub reads HF_HUB_OFFLINE and HF_HOME once, when imported: if an earlier test of
    this worker imported it, the variables alone would leave it on the network (a lookup that
    times out after ~20 s) and on the user's cache, so its constants are set too.
    """
    from huggingface_hub import constants

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path


# The fuzz case counts (`tests/fuzz/fuzzing.py`), summed here over the xdist workers that ran them.
WORKER_FUZZ_CASES = collections.Counter()


def _fuzz_cases():
    fuzzing = sys.modules.get("fuzzing")
    return collections.Counter(fuzzing.CASES if fuzzing else {})


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand the counts to the controller
        session.config.workeroutput["fuzz_cases"] = dict(_fuzz_cases())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    WORKER_FUZZ_CASES.update(node.workeroutput.get("fuzz_cases", {}))


def pytest_terminal_summary(terminalreporter):
    cases = _fuzz_cases() + WORKER_FUZZ_CASES
    if cases:
        kind = "KVIT_FUZZ=1" if os.environ.get("KVIT_FUZZ") == "1" else "the CI sample"
        terminalreporter.write_line(f"fuzz cases run: {sum(cases.values())} ({kind})")
        for name, count in sorted(cases.items()):
            terminalreporter.write_line(f"  {count:6d}  {name}")
