"""Hostile and broken files, at every kvit entry point that reads one.

Each gets one clear ValueError naming the argument (or, on the command line, that message and
exit status 2), nothing in it runs, and the model's weights, the cache and the output folder are
as they were. Payloads would create a marker file; the tests assert that it does not exist (and,
where it can be done safely, that the same file loaded unsafely does create it, so the payload
is real).
"""

import json
import os
import pickle
import struct
import zipfile

import h5py
import keras
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import kvit
from kvit import cli, tflite
from kvit.applications import weights as weights_module
from kvit.models import vit

pytestmark = pytest.mark.once

SMALL = dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=1, num_heads=2, classes=5)


def small_vit():
    return vit.ViT(**SMALL)


def snapshot(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def assert_untouched(model, before):
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def load(model, path):
    return kvit.applications.load_weights(model, str(path), vit.convert_timm_checkpoint, vit.HEAD_LAYERS)


def listing(folder):
    return sorted(os.listdir(folder))


class Payload:
    """Unpickling it runs `exec`, which creates `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def assert_refused(call, match, *folders):
    before = [listing(folder) for folder in folders]
    with pytest.raises(ValueError, match=match):
        call()
    assert [listing(folder) for folder in folders] == before


# Pickles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["zip", "legacy", "plain pickle"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, layout):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "model.pth"
    state = {"state_dict": {"patch_embed.proj.bias": torch.zeros(32)}, "extra": Payload(marker)}
    if layout == "plain pickle":
        path.write_bytes(pickle.dumps(state))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=layout == "zip")
    model = small_vit()
    before = snapshot(model)
    assert_refused(lambda: load(model, path), r"`weights` file .*model.pth.* could not be read", tmp_path)
    with pytest.raises(ValueError, match="could not be read"):
        kvit.applications.DeiTTi16(input_shape=(32, 32, 3), weights=str(path))
    assert not marker.exists()
    assert_untouched(model, before)
    # The payload is real: an unsafe load runs it.
    if layout == "plain pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


# .keras configs ----------------------------------------------------------------------------------


def lambda_model(marker):
    """A model whose Lambda, if its Python code were loaded and run, would create `marker`."""
    inputs = keras.Input((32, 32, 3))
    path = str(marker)
    x = keras.layers.Lambda(lambda t: (open(path, "w").close(), t)[1], name="payload")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def with_config(path, edit):
    """Rewrites the `config.json` of the `.keras` file at `path` with `edit(config)`."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def arbitrary_module(config):
    layer = config["config"]["layers"][1]
    layer.update(module="os", class_name="system", registered_name=None)


@pytest.mark.parametrize("kind", ["lambda", "arbitrary module"])
def test_keras_file_naming_code_is_refused_everywhere(tmp_path, kind, capsys):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "hostile.keras"
    model = lambda_model(marker)
    marker.unlink(missing_ok=True)  # building the model ran the Lambda once
    model.save(path)
    if kind == "arbitrary module":
        with_config(path, arbitrary_module)
    output = tmp_path / "out"
    output.mkdir()
    convert = lambda: tflite.convert(str(path), str(output / "hostile.tflite"))  # noqa: E731
    assert_refused(convert, r"`model` .*hostile.keras", output)
    assert cli.main(["convert", str(path), "-o", str(output / "hostile.tflite")]) == 2
    assert "kvit convert: error: `model`" in capsys.readouterr().err
    assert listing(output) == []
    # As `weights=`, only the weights are read: the config (and its code) is never deserialized.
    target = small_vit()
    before = snapshot(target)
    assert_refused(lambda: load(target, path), "holds 0 tensors", tmp_path)
    assert_untouched(target, before)
    assert not marker.exists()
    if kind == "lambda":  # the payload is real: an unsafe load runs it
        keras.saving.load_model(path, safe_mode=False)
        assert marker.exists()


# safetensors --------------------------------------------------------------------------------------


def lying_header(path):
    """A header that promises 1000 float32 values where the body holds 4."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 16)


def overlong_header(path):
    """A header length of 2**40 bytes, in a file of a few."""
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")


def truncated_body(path):
    save_file({f"blocks.{i}": np.ones((64, 64), "float32") for i in range(4)}, str(path))
    path.write_bytes(path.read_bytes()[:-1000])


@pytest.mark.parametrize("write", [lying_header, overlong_header, truncated_body])
def test_broken_safetensors_are_refused(tmp_path, write):
    path = tmp_path / "broken.safetensors"
    write(path)
    model = small_vit()
    before = snapshot(model)
    match = r"`weights` file .*broken.safetensors.* could not be read"
    assert_refused(lambda: load(model, path), match, tmp_path)
    assert_untouched(model, before)


@pytest.mark.parametrize("write", [lying_header, truncated_body])
def test_broken_cache_is_made_again_not_trusted(tmp_path, offline_hub, write):
    hub_id = kvit.applications.PRESETS["DeiTTi16"]["hub_id"]
    cache = tmp_path / "keras" / "models" / "kvit" / (hub_id.replace("/", "--") + ".safetensors")
    cache.parent.mkdir(parents=True)
    write(cache)
    content = cache.read_bytes()
    with pytest.warns(UserWarning, match="cached checkpoint is unreadable"):
        with pytest.raises(ValueError, match="`weights='imagenet'` needs the checkpoint"):
            weights_module.pretrained_arrays(hub_id, vit.convert_timm_checkpoint)
    assert cache.read_bytes() == content and listing(cache.parent) == [cache.name]


# .h5 ------------------------------------------------------------------------------------------------


def renamed(dataset_path, f):
    f.move(dataset_path, dataset_path.rsplit("/", 1)[0] + "/7")


def reshaped(dataset_path, f):
    value = f[dataset_path][()]
    del f[dataset_path]
    f[dataset_path] = value.reshape(-1)[: value.size // 2]


@pytest.mark.parametrize("damage", [renamed, reshaped])
def test_h5_with_a_renamed_or_reshaped_tensor_is_refused(tmp_path, damage):
    path = tmp_path / "model.weights.h5"
    small_vit().save_weights(path)
    with h5py.File(path, "r+") as f:
        datasets = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        damage(next(name for name in datasets if "transformer_block/attn/qkv" in name), f)
    model = small_vit()
    before = snapshot(model)
    match = r"`weights` file .*model.weights.h5.*(does not fit|could not be read)"
    assert_refused(lambda: load(model, path), match, tmp_path)
    assert_untouched(model, before)


# .tflite --------------------------------------------------------------------------------------------


def with_num_splits(content, value):
    """`content` with its first SPLIT claiming `value` splits: it keeps its three outputs, and
    LiteRT's XNNPACK delegate crashes the process (SIGSEGV) on it while allocating."""
    from ai_edge_litert import schema_py_generated as schema

    damaged = bytearray(content)
    root = schema.Model.GetRootAs(content, 0)
    graph = root.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if root.OperatorCodes(op.OpcodeIndex()).BuiltinCode() == schema.BuiltinOperator.SPLIT:
            options = op.BuiltinOptions()
            struct.pack_into("<i", damaged, options.Pos + options.Offset(4), value)
            return bytes(damaged)
    raise AssertionError("the model has no SPLIT")


NOT_FLATBUFFERS = {
    "text": b"this is not a model\n" * 10,
    "png": bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 64,
    "zip": b"PK\x03\x04" + b"\x00" * 64,
    "header only": b"\x18\x00\x00\x00TFL3",
}


@pytest.fixture(scope="module")
def tiny_tflite():
    return tflite.convert(small_vit())


@pytest.mark.parametrize("kind", [*NOT_FLATBUFFERS, "crashes LiteRT"])
def test_broken_tflite_is_refused_everywhere(tmp_path, kind, tiny_tflite, capsys):
    content = with_num_splits(tiny_tflite, 1) if kind == "crashes LiteRT" else NOT_FLATBUFFERS[kind]
    path = tmp_path / "broken.tflite"
    path.write_bytes(content)
    images = np.zeros((1, 32, 32, 3), "float32")
    calls = [
        lambda: tflite.Interpreter(str(path)),
        lambda: tflite.Interpreter(content),
        lambda: tflite.benchmark(str(path), runs=1, warmup_runs=0),
        lambda: tflite.evaluate(str(path), images),
    ]
    if kind != "crashes LiteRT":  # its flatbuffer is well formed: only running it fails
        calls += [lambda: tflite.inspect_model(str(path)), lambda: tflite.edgetpu_report(str(path))]
    for call in calls:
        assert_refused(call, "`model`", tmp_path)
    commands = [["bench", str(path)]] + ([["edgetpu", str(path)]] if kind != "crashes LiteRT" else [])
    for command in commands:
        assert cli.main(command) == 2
        assert f"kvit {command[0]}: error: `model`" in capsys.readouterr().err
    assert listing(tmp_path) == ["broken.tflite"]


def test_crashing_tflite_would_crash_the_process(tmp_path, tiny_tflite):
    """The crashing file of the test above does crash a process that loads it unguarded."""
    import subprocess
    import sys

    path = tmp_path / "crash.tflite"
    path.write_bytes(with_num_splits(tiny_tflite, 1))
    script = (
        "import sys; from ai_edge_litert import interpreter as litert; "
        "litert.Interpreter(model_path=sys.argv[1]).allocate_tensors()"
    )
    assert subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True).returncode < 0


# Calibration images -----------------------------------------------------------------------------------


@pytest.mark.tensorflow
def test_image_file_that_is_not_an_image(tmp_path):
    import tensorflow as tf

    folder = tmp_path / "images"
    folder.mkdir()
    tf.io.write_file(str(folder / "good.png"), tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)))
    (folder / "bad.png").write_bytes(b"not an image at all")
    output = tmp_path / "out"
    output.mkdir()
    match = r"`representative_data` folder holds .*bad.png.*not a readable image"
    assert_refused(lambda: tflite.representative_images(str(folder), (32, 32, 3)), match, folder)
    convert = lambda: tflite.convert(  # noqa: E731
        small_vit(), str(output / "m.tflite"), quantization="int8", representative_data=str(folder)
    )
    assert_refused(convert, match, folder, output)
