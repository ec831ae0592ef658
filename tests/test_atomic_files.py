"""Files a later call reads are written atomically: a process killed (SIGKILL) while writing one
leaves the old file or none, never a truncated one that a later call would trust.

The tests kill real processes in the middle of a real write: a watcher polls the folder every
half millisecond and kills the writer the moment its temporary file appears, then checks that
the kill did land before the rename (the temporary file is still there). A control shows that a
plain `open(...).write(...)` killed the same way does leave a truncated file.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kvit.files import atomic_write

pytestmark = pytest.mark.once

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATTEMPTS = 3


def start(script, *args, backend="numpy"):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def kill_when(process, condition, timeout=600):
    """SIGKILLs `process` as soon as `condition()` holds; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.0005)
    process.kill()
    raise AssertionError(f"the writer neither wrote nor ended in {timeout} s")


def temporaries(folder, name):
    return [f for f in os.listdir(folder) if f.startswith(f".{name}.") and ".tmp" in f]


def writing(folder, name):
    """Whether a temporary file of `name` with some bytes in it is in `folder`."""
    for stray in temporaries(folder, name):
        try:
            if os.path.getsize(os.path.join(folder, stray)):
                return True
        except OSError:  # renamed meanwhile
            pass
    return False


def kill_mid_write(start_writer, folder, name):
    """Starts writers until one is killed with its temporary file of `name` still in `folder`
    (so before the rename); the temporary file stays, as after a real crash."""
    for _ in range(ATTEMPTS):
        process = start_writer()
        if kill_when(process, lambda: writing(folder, name)) and temporaries(folder, name):
            return
        for stray in temporaries(folder, name):
            os.unlink(os.path.join(folder, stray))
    raise AssertionError(f"no kill landed mid-write in {ATTEMPTS} attempts: {process.stderr.read()[-2000:]}")


WRITE = """
import sys
from kvit.files import atomic_write
atomic_write(sys.argv[1], b"x" * (512 * 2**20))
"""


def test_a_plain_write_killed_half_way_leaves_a_truncated_file(tmp_path):
    """The control: the window the atomic write closes is real, and the watcher hits it."""
    path = tmp_path / "plain.bin"
    script = 'import sys\nwith open(sys.argv[1], "wb") as f:\n    f.write(b"x" * (512 * 2**20))\n'
    for _ in range(ATTEMPTS):
        process = start(script, path)
        started = lambda: path.exists() and path.stat().st_size > 0  # noqa: E731
        caught = kill_when(process, started) and path.stat().st_size < 512 * 2**20
        path.unlink(missing_ok=True)
        if caught:
            return
    raise AssertionError("the plain write was never caught half way")


def test_an_atomic_write_killed_half_way_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"the old content")
    kill_mid_write(lambda: start(WRITE, path), tmp_path, "model.bin")
    assert path.read_bytes() == b"the old content"
    for stray in temporaries(tmp_path, "model.bin"):
        os.unlink(tmp_path / stray)
    atomic_write(path, b"new")  # a later write is not hindered by the stray temporary file
    assert path.read_bytes() == b"new"


CACHE_WRITE = """
import sys
import numpy as np
from kvit.applications.weights import save_kvit_checkpoint
arrays = {f"blocks_{i}/kernel": np.ones((4096, 4096), "float32") for i in range(4)}
save_kvit_checkpoint(arrays, sys.argv[1], "test")
"""


def test_a_cache_write_killed_half_way_is_not_trusted(tmp_path, offline_hub):
    from kvit.applications.vit import PRESETS
    from kvit.applications.weights import pretrained_arrays
    from kvit.models.vit import convert_timm_checkpoint

    hub_id = PRESETS["ViTTi16"]["hub_id"]
    folder = tmp_path / "keras" / "models" / "kvit"
    folder.mkdir(parents=True)
    name = hub_id.replace("/", "--") + ".safetensors"
    kill_mid_write(lambda: start(CACHE_WRITE, folder / name), folder, name)
    assert not (folder / name).exists()
    for stray in temporaries(folder, name):
        os.unlink(folder / stray)
    with pytest.raises(ValueError, match="neither cached"):
        pretrained_arrays(hub_id, convert_timm_checkpoint)


CONVERT = """
import sys
import keras
import kvit
inputs = keras.Input((1, 1, 2048))
outputs = keras.layers.Dense(4096)(keras.layers.Flatten()(inputs))
kvit.tflite.convert(keras.Model(inputs, outputs), sys.argv[1])
"""


@pytest.mark.tensorflow
def test_a_conversion_killed_while_writing_leaves_no_tflite(tmp_path):
    from kvit import tflite

    path = tmp_path / "model.tflite"
    kill_mid_write(lambda: start(CONVERT, path, backend="tensorflow"), tmp_path, "model.tflite")
    assert not path.exists()
    with pytest.raises(ValueError, match="`model` .* is not a file"):
        tflite.Interpreter(str(path))
