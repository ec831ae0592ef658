"""`weights="imagenet"` end to end: a hub on 127.0.0.1 that this test starts, serving a checkpoint
this test made, reached through huggingface_hub exactly as a user's process reaches the real one
(HF_ENDPOINT, the Hugging Face cache, HF_HUB_OFFLINE), in a fresh interpreter each time."""

import hashlib
import http.server
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

from kvit.applications.vit import PRESETS
from reference import create_timm_model, run_timm

pytestmark = pytest.mark.once

HUB_ID = PRESETS["ViTTi16"]["hub_id"]


class LocalHub:
    """Serves `<repo>/resolve/<revision>/model.safetensors` with the headers the hub sends.

    With `seconds_per_body` the body of each GET is sent in 20 chunks spread over that time, so
    that clients overlap. `requests` lists `(method, path)`, `times` `(method, start, end)`.
    """

    def __init__(self, files, seconds_per_body=0.0):
        self.files = files
        self.seconds_per_body = seconds_per_body
        self.requests = []
        self.times = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, with_body):
                hub.requests.append((self.command, self.path))
                start = time.monotonic()
                body = hub.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("X-Repo-Commit", "0" * 40)
                self.end_headers()
                if with_body:
                    chunk = max(1, -(-len(body) // 20))
                    for offset in range(0, len(body), chunk):
                        self.wfile.write(body[offset : offset + chunk])
                        self.wfile.flush()
                        time.sleep(hub.seconds_per_body / 20)
                hub.times.append((self.command, start, time.monotonic()))

            def do_HEAD(self):
                self._answer(with_body=False)

            def do_GET(self):
                self._answer(with_body=True)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, kvit
    try:
        model = kvit.applications.ViTTi16(
            weights="imagenet", include_preprocessing=False, classifier_activation=None
        )
    except ValueError as error:
        print("ValueError:", error)
        sys.exit(3)
    np.save(sys.argv[2], np.asarray(model(np.load(sys.argv[1]))))
    """
)


def start_user_process(tmp_path, env, out_name="out.npy"):
    images, out = tmp_path / "images.npy", tmp_path / out_name
    if out.exists():
        out.unlink()
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(images), str(out)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return process, out


def finish_user_process(process, out):
    stdout, stderr = process.communicate(timeout=600)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return result, (np.load(out) if result.returncode == 0 else None)


def run_user_process(tmp_path, env):
    return finish_user_process(*start_user_process(tmp_path, env))


def test_imagenet_weights_download_convert_cache_and_load_offline(tmp_path):
    reference, state = create_timm_model("vit_tiny_patch16_224")
    checkpoint = tmp_path / "model.safetensors"
    save_file(state, str(checkpoint))
    images = np.random.RandomState(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    expected = run_timm(reference, images)
    homes = dict(HF_HOME=str(tmp_path / "hf"), KERAS_HOME=str(tmp_path / "keras"))

    with LocalHub({f"/{HUB_ID}/resolve/main/model.safetensors": checkpoint.read_bytes()}) as hub:
        result, first = run_user_process(tmp_path, {**homes, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
        assert result.returncode == 0, result.stderr[-3000:]
        assert ("GET", f"/{HUB_ID}/resolve/main/model.safetensors") in hub.requests
    np.testing.assert_allclose(first, expected, atol=1e-4)
    cached = tmp_path / "keras" / "models" / "kvit" / (HUB_ID.replace("/", "--") + ".safetensors")
    assert cached.is_file()

    # The hub is gone: the converted file in the Keras cache serves.
    result, second = run_user_process(tmp_path, {**homes, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(second, first)


def test_imagenet_weights_offline_without_cache_fail_clearly(tmp_path):
    np.save(tmp_path / "images.npy", np.zeros((1, 224, 224, 3), "float32"))
    env = dict(HF_HOME=str(tmp_path / "hf"), KERAS_HOME=str(tmp_path / "keras"), HF_HUB_OFFLINE="1")
    result, _ = run_user_process(tmp_path, env)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "`weights='imagenet'` needs the checkpoint" in result.stdout
    assert HUB_ID in result.stdout


def test_two_processes_fetching_at_once_share_one_valid_cache(tmp_path):
    reference, state = create_timm_model("vit_tiny_patch16_224")
    checkpoint = tmp_path / "model.safetensors"
    save_file(state, str(checkpoint))
    images = np.random.RandomState(0).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    env = dict(HF_HOME=str(tmp_path / "hf"), KERAS_HOME=str(tmp_path / "keras"), HF_HUB_OFFLINE="0")
    files = {f"/{HUB_ID}/resolve/main/model.safetensors": checkpoint.read_bytes()}
    # The body takes 20 s to stream: both processes (up in a few seconds) ask while it does.
    with LocalHub(files, seconds_per_body=20) as hub:
        env["HF_ENDPOINT"] = hub.url
        started = [start_user_process(tmp_path, env, f"out_{i}.npy") for i in range(2)]
        results = [finish_user_process(*process) for process in started]
    for result, _ in results:
        assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_allclose(results[0][1], run_timm(reference, images), atol=1e-4)
    # They overlapped: the second process asked the hub before the first body was sent.
    gets = sorted(t for t in hub.times if t[0] == "GET")
    assert len([t for t in hub.times if t[1] < gets[0][2]]) >= 2, hub.times
    folder = tmp_path / "keras" / "models" / "kvit"
    assert os.listdir(folder) == [HUB_ID.replace("/", "--") + ".safetensors"]  # no stray temporary file
    from kvit.applications.weights import read_checkpoint

    arrays, is_kvit = read_checkpoint(str(folder / os.listdir(folder)[0]))
    assert is_kvit and "blocks_0/attn/qkv/kernel" in arrays
