"""The same weights give the same outputs on TensorFlow, JAX and PyTorch, and a `.keras` file
saved under one backend loads under another."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.once

BACKENDS = ("tensorflow", "jax", "torch")

SCRIPT = textwrap.dedent(
    """
    import sys, keras, numpy as np
    import kvit
    weights, images, out, saved = sys.argv[1:5]
    model = kvit.applications.DeiTTi16(
        input_shape=(64, 64, 3), weights=weights, classes=10, classifier_activation=None
    )
    x = np.load(images)
    np.save(out, keras.ops.convert_to_numpy(model(x)))
    model.save(saved)
    reloaded = keras.saving.load_model(sys.argv[5], safe_mode=True) if len(sys.argv) > 5 else model
    np.save(out + ".reloaded.npy", keras.ops.convert_to_numpy(reloaded(x)))
    """
)


def test_same_weights_same_outputs_on_every_backend(tmp_path):
    import kvit

    weights = str(tmp_path / "deit.weights.h5")
    kvit.applications.DeiTTi16(input_shape=(64, 64, 3), classes=10).save_weights(weights)
    images = str(tmp_path / "images.npy")
    np.save(images, np.random.RandomState(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
    outputs = {}
    for i, backend in enumerate(BACKENDS):
        out = str(tmp_path / f"{backend}.npy")
        # Each backend also reloads the .keras file the previous backend saved.
        previous = [str(tmp_path / f"{BACKENDS[i - 1]}.keras")] if i else []
        args = [weights, images, out, str(tmp_path / f"{backend}.keras"), *previous]
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, *args],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[backend] = np.load(out)
        np.testing.assert_allclose(np.load(out + ".reloaded.npy"), outputs[backend], atol=1e-5)
    for backend in BACKENDS[1:]:
        np.testing.assert_allclose(outputs[backend], outputs["tensorflow"], atol=1e-5, rtol=0)
