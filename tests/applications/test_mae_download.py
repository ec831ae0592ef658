"""The official MAE weights through the weights mechanism: `weights="imagenet"` fetches the whole
MAE in Hugging Face's layout from `facebook/vit-mae-base`, `encoder_weights="imagenet"` timm's
encoder from `timm/vit_base_patch16_224.mae`, both from a hub on 127.0.0.1 that this test starts,
in a fresh interpreter, as a user's process would (small layouts of the same names, for time)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from local_hub import LocalHub
from mae_reference import hf_model, normalized, run_hf
from safetensors.numpy import save

from kvit.applications.mae import PRESETS
from kvit.testing import create_timm_model

pytestmark = pytest.mark.once

LAYOUT_ENCODER = dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2)
LAYOUT_DECODER = dict(decoder_dim=32, decoder_depth=2, decoder_heads=2)
LAYOUT = {**LAYOUT_ENCODER, **LAYOUT_DECODER}
SCRIPT = textwrap.dedent(
    f"""
    import sys, warnings, numpy as np, keras, kvit
    layout = {LAYOUT!r}
    images, noise = np.load(sys.argv[1]), np.load(sys.argv[2])
    model = kvit.applications.MAEViTB16(weights="imagenet", norm_pix_loss=True, **layout)
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model(images, noise=noise)["predictions"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder_only = kvit.applications.MAEViTB16(encoder_weights="imagenet", **layout)
    assert any("decoder is freshly initialised" in str(w.message) for w in caught)
    np.save(sys.argv[4], keras.ops.convert_to_numpy(encoder_only.encoder.get_layer("blocks_1").attn.qkv.kernel))
    """
)


def test_official_checkpoints_download_and_load(tmp_path):
    reference = hf_model((LAYOUT_ENCODER, LAYOUT_DECODER))
    reference.save_pretrained(str(tmp_path / "hf"))
    _, timm_state = create_timm_model(
        "vit_base_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=0
    )
    random = np.random.RandomState(0)
    images = random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    noise = random.uniform(size=(2, 16)).astype("float32")
    for name, array in (("images", images), ("noise", noise)):
        np.save(tmp_path / f"{name}.npy", array)
    preset = PRESETS["MAEViTB16"]
    files = {
        f"/{preset['hub_id']}/resolve/main/model.safetensors": (tmp_path / "hf" / "model.safetensors").read_bytes(),
        f"/{preset['encoder_hub_id']}/resolve/main/model.safetensors": save(timm_state),
    }
    outputs = [str(tmp_path / "predictions.npy"), str(tmp_path / "qkv.npy")]
    with LocalHub(files) as hub:
        env = {
            **os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf_home"), "KERAS_HOME": str(tmp_path / "keras"),
        }
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "images.npy"), str(tmp_path / "noise.npy"), *outputs],
            env=env, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert {path for _, path in hub.requests} >= set(files)
    expected = run_hf(reference, normalized(images), noise)[0]
    np.testing.assert_allclose(np.load(outputs[0]), expected, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(np.load(outputs[1]), timm_state["blocks.1.attn.qkv.weight"].T)
