"""`weights="imagenet"` end to end: a hub on 127.0.0.1 that this test starts, serving a checkpoint
this test made, reached through huggingface_hub exactly as a user's process reaches the real one
(HF_ENDPOINT, the Hugging Face cache, HF_HUB_OFFLINE), in a fresh interpreter each time."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from local_hub import LocalHub
from safetensors.numpy import save_file

from kvit.applications.vit import PRESETS
from kvit.testing import create_timm_model, run_timm

pytestmark = pytest.mark.once

HUB_ID = PRESETS["ViTTi16"]["hub_id"]


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
    # The body takes 15 s to stream: both processes (up in a few seconds) ask while it does.
    with LocalHub(files, seconds_per_body=15) as hub:
        env["HF_ENDPOINT"] = hub.url
        started = [start_user_process(tmp_path, env, f"out_{i}.npy") for i in range(2)]
        results = [finish_user_process(*process) for process in started]
    for result, _ in results:
        assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_allclose(results[0][1], run_timm(reference, images), atol=1e-4)
    # They overlapped: both processes asked the hub (one HEAD each) before the first body was sent.
    first_body_sent = min(end for method, _, end in hub.times if method == "GET")
    assert len([t for t in hub.times if t[0] == "HEAD" and t[1] < first_body_sent]) >= 2, hub.times
    folder = tmp_path / "keras" / "models" / "kvit"
    assert os.listdir(folder) == [HUB_ID.replace("/", "--") + ".safetensors"]  # no stray temporary file
    from kvit.applications.weights import read_checkpoint

    arrays, is_kvit = read_checkpoint(str(folder / os.listdir(folder)[0]))
    assert is_kvit and "blocks_0/attn/qkv/kernel" in arrays
