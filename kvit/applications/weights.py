"""Weight loading for every family: None, "imagenet" (the reference checkpoint) or a path.

Every source is loaded strictly and atomically: each tensor of the file is used, each weight of the
model is set, shapes are checked, and on any error the model keeps the weights it had. The one
exception is the classifier: when the checkpoint's has another number of classes (or none), the
model's head stays freshly initialised and a warning names it.
"""

import contextlib
import io
import os
import warnings
import zipfile

import h5py
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

from kvit.files import atomic_write

KVIT_FORMAT = "kvit"
TORCH_SUFFIXES = (".pth", ".pt", ".bin")


def load_weights(model, weights, convert_checkpoint, head_layers=(), hub_id=None):
    """Loads `weights` into `model`.

    Args:
        model: the freshly built `keras.Model`.
        weights: None, `"imagenet"`, or a path to a `.weights.h5`, `.keras`, `.safetensors`
            (kvit or timm layout) or `.pth`/`.pt`/`.bin` (timm layout) file.
        convert_checkpoint: the family's map from a timm state dict to kvit variable paths.
        head_layers: names of the classifier layers (see the module docstring).
        hub_id: the Hugging Face repository `"imagenet"` downloads from.
    """
    if weights is None:
        return model
    if weights == "imagenet":
        if hub_id is None:
            raise ValueError(f"`weights='imagenet'` is not available for {model.name!r}.")
        assign_weights(model, pretrained_arrays(hub_id, convert_checkpoint), head_layers, "imagenet")
        return model
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise ValueError(
            f"`weights` must be None, 'imagenet' or the path of a weights file; {path!r} does not exist."
        )
    if path.endswith((".weights.h5", ".keras")):
        load_keras_weights(model, path)
    elif path.endswith((".safetensors", *TORCH_SUFFIXES)):
        arrays, is_kvit = read_checkpoint(path)
        if not is_kvit:
            arrays = _convert(convert_checkpoint, arrays, path)
        assign_weights(model, arrays, head_layers, path)
    else:
        raise ValueError(
            f"`weights` file {path!r} has an unknown type; expected .weights.h5, .keras, "
            f".safetensors, .pth, .pt or .bin."
        )
    return model


def read_checkpoint(path):
    """Reads a `.safetensors` or PyTorch file into NumPy arrays.

    Returns:
        `(arrays, is_kvit)`: a dict of name to array, and whether the names are already kvit
        variable paths (a file written by `save_kvit_checkpoint`).
    """
    try:
        if path.endswith(".safetensors"):
            with safe_open(path, framework="numpy") as f:
                metadata = f.metadata() or {}
                arrays = {key: f.get_tensor(key) for key in f.keys()}
            return arrays, metadata.get("format") == KVIT_FORMAT
        import torch

        # weights_only: the unpickler builds tensors and plain containers only, and refuses any
        # other object a pickle names (a payload that would run code) before it runs.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors, zip, pickle and torch errors: each means unreadable
        raise ValueError(
            f"`weights` file {path!r} could not be read: {type(error).__name__}: {error}"
        ) from error
    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_ema"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"`weights` file {path!r} does not hold a state dict of tensors.")
    return {k: v.detach().float().numpy() for k, v in state.items()}, False


def save_kvit_checkpoint(arrays, path, source):
    """Writes kvit-path arrays as `.safetensors`, marked so `read_checkpoint` knows their layout."""
    content = save(
        {k: np.ascontiguousarray(v) for k, v in arrays.items()},
        metadata={"format": KVIT_FORMAT, "source": source},
    )
    atomic_write(path, content)


def pretrained_arrays(hub_id, convert_checkpoint):
    """The converted reference checkpoint: from the cache, or downloaded, converted and cached.

    The download goes through `huggingface_hub`, so `HF_ENDPOINT`, `HF_HUB_OFFLINE` and the
    Hugging Face cache behave as usual; the converted file is cached under the Keras home
    (`KERAS_HOME`, default `~/.keras`) in `models/kvit/`.
    """
    cache = os.path.join(keras_home(), "models", "kvit", hub_id.replace("/", "--") + ".safetensors")
    if os.path.isfile(cache):
        try:
            return read_checkpoint(cache)[0]
        except ValueError as error:  # kvit writes it atomically; a damaged disk may still break it
            warnings.warn(f"The cached checkpoint is unreadable, so it is made again: {error}", stacklevel=3)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(hub_id, "model.safetensors")
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise ValueError(
            f"`weights='imagenet'` needs the checkpoint {hub_id!r}, which is neither cached in "
            f"{cache!r} nor downloadable: {error}. Connect to the hub (or set HF_ENDPOINT to a "
            "mirror), or pass `weights=` the path of a downloaded checkpoint."
        ) from error
    arrays = _convert(convert_checkpoint, read_checkpoint(path)[0], hub_id)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    save_kvit_checkpoint(arrays, cache, hub_id)
    return arrays


def keras_home():
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _convert(convert_checkpoint, arrays, source):
    try:
        return convert_checkpoint(arrays)
    except (KeyError, ValueError) as error:
        raise ValueError(f"`weights` {source!r} is not a checkpoint of this architecture: {error}") from error


def assign_weights(model, arrays, head_layers=(), source="weights"):
    """Sets every weight of `model` from `arrays` (kvit path -> array), all or nothing.

    A layer may resample a stored value for its own shape through a `convert_weight(variable,
    value)` method (the position embedding does, for another image size).
    """
    owners = {v.path: (layer, v) for layer in model.layers for v in layer.weights}
    values, unexpected, mismatched, fresh_heads = {}, [], [], set()
    for path, value in arrays.items():
        layer_name = path.split("/")[0]
        if path not in owners:
            if layer_name not in head_layers:
                unexpected.append(path)
            continue
        layer, variable = owners[path]
        if hasattr(layer, "convert_weight"):
            value = layer.convert_weight(variable, value)
        if tuple(value.shape) == tuple(variable.shape):
            values[path] = value
        elif layer_name in head_layers:
            fresh_heads.add(layer_name)
        else:
            mismatched.append(f"{path}: file {tuple(value.shape)}, model {tuple(variable.shape)}")
    missing = [p for p in owners if p not in values]
    fresh_heads.update(p.split("/")[0] for p in missing if p.split("/")[0] in head_layers)
    missing = [p for p in missing if p.split("/")[0] not in fresh_heads]
    if unexpected or mismatched or missing:
        raise ValueError(
            f"`weights` {source!r} does not fit {model.name!r}; nothing was loaded."
            + _listing("tensors the model has no place for", unexpected)
            + _listing("shapes that differ", mismatched)
            + _listing("model weights the file lacks", missing)
        )
    if fresh_heads:
        warnings.warn(
            f"`weights` {source!r} has a classifier for another number of classes: "
            f"{sorted(fresh_heads)} keep their fresh initialisation.",
            stacklevel=3,
        )
    for path, value in values.items():
        if path.split("/")[0] not in fresh_heads:
            variable = owners[path][1]
            variable.assign(np.asarray(value, dtype=variable.dtype))


def load_keras_weights(model, path):
    """Loads a `.weights.h5` or `.keras` file with Keras' loader, strictly and atomically.

    Keras checks that every weight is set with the right shape, but ignores tensors of layers the
    model lacks; counting the file's tensors closes that gap.
    """
    try:
        stored = _count_stored_tensors(path)
    except Exception as error:  # h5py, zip and key errors: each means unreadable
        raise ValueError(f"`weights` file {path!r} could not be read: {error}") from error
    if stored != len(model.weights):
        raise ValueError(
            f"`weights` file {path!r} holds {stored} tensors but {model.name!r} has "
            f"{len(model.weights)} weights; it was saved from another architecture. Nothing was loaded."
        )
    snapshot = [v.numpy() for v in model.weights]
    try:
        model.load_weights(path)
    except Exception as error:
        for variable, value in zip(model.weights, snapshot):
            variable.assign(value)
        raise ValueError(
            f"`weights` file {path!r} does not fit {model.name!r}; nothing was loaded: {error}"
        ) from error


def _count_stored_tensors(path):
    with contextlib.ExitStack() as stack:
        if path.endswith(".keras"):
            archive = stack.enter_context(zipfile.ZipFile(path))
            source = io.BytesIO(archive.read("model.weights.h5"))
        else:
            source = path
        f = stack.enter_context(h5py.File(source, "r"))
        count = 0

        def visit(name, obj):
            nonlocal count
            if isinstance(obj, h5py.Dataset) and name.split("/")[-2:-1] == ["vars"]:
                count += 1

        f.visititems(visit)
        return count


def _listing(title, items):
    if not items:
        return ""
    shown = ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")
    return f"\n  {title}: {shown}"
