import warnings

import keras
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import kvit
from kvit.applications.weights import read_checkpoint
from kvit.models import vit
from kvit.testing import create_timm_model

SMALL = dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2, classes=5)


def small_vit(**kwargs):
    return vit.ViT(**{**SMALL, **kwargs})


def load(model, path):
    return kvit.applications.load_weights(model, path, vit.convert_timm_checkpoint, vit.HEAD_LAYERS)


def outputs(model):
    x = np.random.RandomState(0).uniform(0, 255, (2, *model.inputs[0].shape[1:])).astype("float32")
    return keras.ops.convert_to_numpy(model(x))


@pytest.fixture
def timm_state():
    _, state = create_timm_model(
        "vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5
    )
    return state


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_kvit_files_load(tmp_path, suffix):
    source = small_vit()
    path = str(tmp_path / f"model{suffix}")
    source.save_weights(path) if suffix == ".weights.h5" else source.save(path)
    target = load(small_vit(), path)
    np.testing.assert_allclose(outputs(target), outputs(source), atol=1e-6)


def test_kvit_file_of_another_image_size_resamples_position_embedding(tmp_path):
    source = small_vit()
    path = str(tmp_path / "model.weights.h5")
    source.save_weights(path)
    target = load(small_vit(input_shape=(48, 48, 3)), path)
    assert target.get_layer("pos_embed").embedding.shape == (1, 1 + 36, 32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(target.get_layer("blocks_1").weights[0]),
        keras.ops.convert_to_numpy(source.get_layer("blocks_1").weights[0]),
    )


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".bin"])
def test_timm_checkpoints_load(tmp_path, timm_state, suffix):
    path = str(tmp_path / f"model{suffix}")
    if suffix == ".safetensors":
        save_file(timm_state, path)
    else:
        torch.save({"state_dict": {k: torch.from_numpy(v) for k, v in timm_state.items()}}, path)
    model = load(small_vit(), path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.get_layer("head").kernel), timm_state["head.weight"].T
    )


def test_other_class_count_leaves_a_fresh_head_with_a_warning(tmp_path, timm_state):
    path = str(tmp_path / "model.safetensors")
    save_file(timm_state, path)
    model = small_vit(classes=7)
    fresh_head = keras.ops.convert_to_numpy(model.get_layer("head").kernel)
    with pytest.warns(UserWarning, match=r"\['head'\] keep their fresh initialisation"):
        load(model, path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("head").kernel), fresh_head)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.get_layer("patch_embed").weights[1]), timm_state["patch_embed.proj.bias"]
    )


def test_without_top_uses_the_backbone_silently(tmp_path, timm_state):
    path = str(tmp_path / "model.safetensors")
    save_file(timm_state, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(small_vit(include_top=False), path)


def assert_untouched(model, before):
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def snapshot(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def test_checkpoint_of_another_architecture_is_refused_whole(tmp_path, timm_state):
    wider = {k: v for k, v in timm_state.items()}
    wider["blocks.1.mlp.fc2.weight"] = np.zeros((32, 256), "float32")
    wider["blocks.1.ls1.gamma"] = np.ones((32,), "float32")
    path = str(tmp_path / "other.safetensors")
    save_file(wider, path)
    model = small_vit()
    before = snapshot(model)
    with pytest.raises(ValueError, match="not a checkpoint of this architecture"):
        load(model, path)
    del wider["blocks.1.ls1.gamma"]
    save_file(wider, path)
    with pytest.raises(ValueError, match=r"nothing was loaded(.|\n)*blocks_1/mlp/fc2/kernel"):
        load(model, path)
    assert_untouched(model, before)


def test_missing_tensors_are_named(tmp_path, timm_state):
    del timm_state["blocks.1.norm2.bias"]
    path = str(tmp_path / "partial.safetensors")
    save_file(timm_state, path)
    with pytest.raises(ValueError, match="lacks: blocks_1/norm2/beta"):
        load(small_vit(), path)


def test_kvit_file_of_another_architecture_is_refused_whole(tmp_path):
    path = str(tmp_path / "deeper.weights.h5")
    small_vit(depth=3).save_weights(path)
    model = small_vit()
    before = snapshot(model)
    with pytest.raises(ValueError, match="another architecture"):
        load(model, path)
    small_vit(width=48, num_heads=2).save_weights(path)
    with pytest.raises(ValueError, match="nothing was loaded"):
        load(model, path)
    assert_untouched(model, before)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".weights.h5", ".keras"])
@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 10], ids=["empty", "corrupt"])
def test_empty_or_corrupt_files(tmp_path, suffix, content):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="could not be read"):
        load(small_vit(), str(path))


def test_truncated_file(tmp_path, timm_state):
    path = tmp_path / "truncated.safetensors"
    save_file(timm_state, str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="could not be read"):
        load(small_vit(), str(path))


def test_bad_weights_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(small_vit(), str(tmp_path / "missing.safetensors"))
    (tmp_path / "weights.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown type"):
        load(small_vit(), str(tmp_path / "weights.npz"))
    with pytest.raises(ValueError, match="`weights` must be"):
        kvit.applications.ViTTi16(weights=3)


def test_kvit_checkpoint_layout_is_recognised(tmp_path, timm_state):
    from kvit.applications.weights import save_kvit_checkpoint

    path = str(tmp_path / "converted.safetensors")
    save_kvit_checkpoint(vit.convert_timm_checkpoint(timm_state), path, "test")
    arrays, is_kvit = read_checkpoint(path)
    assert is_kvit and "blocks_0/attn/qkv/kernel" in arrays
    np.testing.assert_allclose(outputs(load(small_vit(), path)), outputs(load(small_vit(), path)))
