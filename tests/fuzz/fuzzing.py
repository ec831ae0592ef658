"""What the fuzz tests share: example counts, the case counter, the time limit and the checks.

    KVIT_FUZZ=1 python -m pytest -q -p no:cacheprovider tests/fuzz
    KVIT_FUZZ=1 KVIT_FUZZ_SCALE=3 python -m pytest -q -p no:cacheprovider tests/fuzz

CI (no KVIT_FUZZ) draws a few examples per test, derandomized (the same ones every run), without
deadlines. With `KVIT_FUZZ=1` each test draws its `fuzz` count of `examples(ci, fuzz)` times
`KVIT_FUZZ_SCALE` (default 1) from a fresh random seed, and the summary line counts the cases
run (`tests/conftest.py` prints it, summed over the xdist workers). Each case has a time limit
(`CASE_SECONDS`), so a hang fails its test instead of stalling.
"""

import collections
import contextlib
import os
import signal
import tempfile

import numpy as np
from hypothesis import HealthCheck, Phase, settings

FUZZ = os.environ.get("KVIT_FUZZ") == "1"
SCALE = float(os.environ.get("KVIT_FUZZ_SCALE", "1"))
CASE_SECONDS = 600
CASES = collections.Counter()


def examples(ci, fuzz):
    """The settings of a fuzz test: `ci` derandomized examples, or `fuzz` random ones."""
    common = dict(
        deadline=None,
        database=None,
        print_blob=True,
        # No shrinking: a failing case is reported as drawn; shrinking rebuilds models for minutes.
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    if FUZZ:
        return settings(max_examples=max(1, round(fuzz * SCALE)), **common)
    return settings(max_examples=ci, derandomize=True, **common)


@contextlib.contextmanager
def case(name):
    """Counts one case of test `name` and fails it if it runs past `CASE_SECONDS`."""
    CASES[name] += 1

    def expire(signum, frame):
        raise TimeoutError(f"a fuzz case of {name} ran past {CASE_SECONDS} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(CASE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_names_argument(error, names):
    """The error is a ValueError/TypeError whose message names one of `names` (quoted)."""
    assert isinstance(error, (ValueError, TypeError)), f"{type(error).__name__}: {error}"
    message = str(error)
    assert any(f"`{name}`" in message or f"'{name}'" in message for name in names), (
        f"the error names none of {names}: {type(error).__name__}: {message}"
    )


INPUT_DTYPES = ("float32", "float16", "float64", "uint8", "int32")
FILLS = ("random", "zeros", "full")


def images_for(data, shape, batch_sizes=(1, 2, 3)):
    """Draws a batch of `(height, width, channels)` pixels in [0, 255]: random, all 0 or all 255,
    in one of `INPUT_DTYPES`."""
    from hypothesis import strategies as st

    batch = data.draw(st.sampled_from(batch_sizes), label="batch")
    dtype = data.draw(st.sampled_from(INPUT_DTYPES), label="dtype")
    fill = data.draw(st.sampled_from(FILLS), label="fill")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    if fill == "random":
        pixels = np.random.default_rng(seed).uniform(0, 255, (batch, *shape))
    else:
        pixels = np.full((batch, *shape), 0.0 if fill == "zeros" else 255.0)
    return pixels.astype(dtype)


def expected_output_shape(arguments, feature_map, batch):
    """keras.applications' shapes: `(batch, classes)` with the top, `(batch, channels)` pooled,
    else the feature map `(batch, height, width, channels)`."""
    if arguments.get("include_top", True):
        return (batch, arguments.get("classes", 1000))
    height, width, channels = feature_map
    if arguments.get("pooling") is not None:
        return (batch, channels)
    return (batch, height, width, channels)


def check_model(model, images, expected_shape):
    """The model runs on `images` to finite outputs of `expected_shape`, and its `.keras` file
    loads back with `safe_mode=True` to the same outputs."""
    import keras

    outputs = keras.ops.convert_to_numpy(model(images, training=False))
    assert outputs.shape == expected_shape, (outputs.shape, expected_shape)
    assert np.isfinite(outputs).all(), "non-finite outputs"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(images, training=False)), outputs, rtol=1e-5, atol=1e-5
    )
