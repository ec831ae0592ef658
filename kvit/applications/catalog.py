"""`list_models`: every application with its size and cost, computed from the built model."""

import hashlib
import json
import os

import keras

from kvit.applications.flops import count_flops
from kvit.applications.weights import keras_home
from kvit.files import atomic_write

_SOURCE_FOLDERS = ("layers", "models")


def list_models(names=None, progress=None):
    """Describes applications: parameters and GFLOPs counted on the built model, and the preset.

    Each application is built at its default size, with the top, and measured (`count_flops`, a
    multiply-add counted as two FLOPs). The figures are cached per application in
    `$KERAS_HOME/models/kvit/catalog.json`, keyed by its preset and the source of
    `kvit.models` and `kvit.layers`, so a change of either measures again.

    Args:
        names: application names; None for all of them.
        progress: optional callable `(index, name)` called before each application is built.

    Returns:
        A list of dicts with `name`, `title`, `params`, `gflops`, `image_size`, `hub_id` and
        `license`, in the order of `names` (by default sorted by name).
    """
    from kvit.applications import APPLICATIONS, PRESETS, check_name

    names = sorted(APPLICATIONS) if names is None else [check_name(name) for name in names]
    path = os.path.join(keras_home(), "models", "kvit", "catalog.json")
    cache = _read_cache(path)
    source = _source_digest()
    rows, changed = [], False
    for index, name in enumerate(names):
        preset = PRESETS[name]
        key = hashlib.sha256((source + json.dumps(preset, sort_keys=True, default=str)).encode()).hexdigest()
        if cache.get(name, {}).get("key") != key:
            if progress is not None:
                progress(index, name)
            model = APPLICATIONS[name]()
            cache[name] = dict(key=key, params=model.count_params(), flops=count_flops(model))
            del model
            keras.utils.clear_session()
            changed = True
        rows.append(
            dict(
                name=name,
                title=preset["title"],
                params=cache[name]["params"],
                gflops=cache[name]["flops"] / 1e9,
                image_size=preset["image_size"],
                hub_id=preset["hub_id"],
                license=preset["license"],
            )
        )
    if changed:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, json.dumps(cache, indent=1, sort_keys=True).encode())
    return rows


def _read_cache(path):
    try:
        with open(path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _source_digest():
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for folder in _SOURCE_FOLDERS:
        root = os.path.join(package, folder)
        for name in sorted(os.listdir(root)):
            if name.endswith(".py"):
                with open(os.path.join(root, name), "rb") as f:
                    digest.update(name.encode() + f.read())
    return digest.hexdigest()
