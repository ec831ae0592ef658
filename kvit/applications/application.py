"""Turns a family's preset table into keras.applications-style named constructors."""

import os

from kvit.applications import registry
from kvit.applications.weights import load_weights
from kvit.models import backbone

_DOC = """Builds {title}.

{summary}

Args:
    include_top: bool, whether to end in the classifier.
    weights: None (random initialisation), `"imagenet"` (the reference checkpoint `{hub_id}`,
        {license}; downloaded once, converted and cached), or the path of a `.weights.h5`,
        `.keras`, `.safetensors`, `.pth`, `.pt` or `.bin` file.
    input_shape: `(height, width, channels)`; default `{default_shape}`.{resolutions} Other sizes
        adapt the weights where the family allows it (ViT resamples its position embedding).
        Pretrained weights need 3 channels.
    input_tensor: optional Keras tensor to build the model on.
    pooling: without the top: None returns the last feature map `(batch, height, width,
        channels)`; `"avg"` or `"max"` pools it to `(batch, channels)`.
    classes: int, classifier outputs; with pretrained weights of another count the head stays
        freshly initialised (with a warning).
    classifier_activation: activation of the top, `"softmax"` by default; None for logits.
    include_preprocessing: bool, whether the model takes [0, 255] pixels and normalises them
        itself with the checkpoint's statistics (mean {mean}, std {std}).
    **kwargs: further arguments of the family builder `{builder}` (e.g. `drop_path_rate`).

Returns:
    A `keras.Model`.
"""


def preset_for(preset, input_shape, kwargs=None):
    """The preset of the resolution `input_shape` asks for: a published one, else `preset` itself.

    A preset may list other resolutions timm publishes checkpoints for, `{"resolutions": {384:
    overrides}}`; a square `input_shape` of that size takes its `hub_id`, `crop_pct` and the
    `config` entries it changes (a Swin's window size, say). It may also list other checkpoints
    of its resolution, `{"checkpoints": [overrides]}`, each with the `config` entries it differs
    in: builder `kwargs` that give all of them (a Swin V2's `window_size=16`) take that one.
    """
    size = tuple(input_shape[:2]) if input_shape is not None else None
    for resolution, overrides in preset.get("resolutions", {}).items():
        if size == (resolution, resolution):
            config = {**preset["config"], **overrides.get("config", {})}
            return {**preset, **overrides, "image_size": resolution, "config": config}
    for overrides in preset.get("checkpoints", ()):
        if all(k in (kwargs or {}) and kwargs[k] == v for k, v in overrides["config"].items()):
            return {**preset, **overrides, "config": {**preset["config"], **overrides["config"]}}
    return preset


def make_application(name, preset, builder, convert_checkpoint, head_layers, figures):
    """Returns the named constructor for one preset, registered under `name`.

    The constructor's `builder` and `convert_checkpoint` attributes are the family's.

    Args:
        name: the constructor's name, e.g. `"ViTS16"`.
        preset: dict with `title`, `summary`, `image_size`, `hub_id`, `license`, `mean`, `std`,
            `crop_pct` and `interpolation` (timm's evaluation transform of the checkpoint),
            `config`, the builder's architecture arguments, and optionally `resolutions` and
            `checkpoints` (see `preset_for`).
        builder: the family builder, e.g. `kvit.models.ViT`.
        convert_checkpoint: the family's timm state-dict map.
        head_layers: the family's classifier layer names.
        figures: `(params, flops)` of the model at the preset's size with the top (see
            `registry.register`).
    """
    params, flops = figures
    preset = {"task": registry.CLASSIFICATION, **preset, "params": params, "flops": flops}

    def constructor(
        include_top=True,
        weights=None,
        input_shape=None,
        input_tensor=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        include_preprocessing=True,
        **kwargs,
    ):
        if not (weights is None or isinstance(weights, (str, os.PathLike))):
            raise ValueError(f"`weights` must be None, 'imagenet' or a file path, got {weights!r}.")
        backbone.check_input_tensor(input_tensor)
        size = preset["image_size"]
        if input_shape is None:
            input_shape = tuple(input_tensor.shape[1:]) if input_tensor is not None else (size, size, 3)
        input_shape = backbone.check_input_shape(input_shape)
        backbone.check_head(include_top, pooling, classes, classifier_activation)
        resolved = preset_for(preset, input_shape, kwargs)
        if weights is not None and input_shape[-1] != 3:
            raise ValueError(
                f"`input_shape` {tuple(input_shape)} has {input_shape[-1]} channels; pretrained "
                "`weights` expect 3. Use `weights=None` for other channel counts."
            )
        model = builder(
            input_shape=input_shape,
            include_top=include_top,
            classes=classes,
            classifier_activation=classifier_activation,
            pooling=pooling,
            input_tensor=input_tensor,
            include_preprocessing=include_preprocessing,
            mean=resolved["mean"],
            std=resolved["std"],
            name=resolved.get("model_name", name.lower()),
            **{**resolved["config"], **kwargs},
        )
        return load_weights(model, weights, convert_checkpoint, head_layers, resolved["hub_id"])

    constructor.__name__ = constructor.__qualname__ = name
    constructor.builder = builder
    constructor.convert_checkpoint = convert_checkpoint
    others = [f"`({r}, {r}, 3)` takes `{o['hub_id']}`" for r, o in preset.get("resolutions", {}).items()]
    others += [
        f"{', '.join(f'`{k}={v!r}`' for k, v in o['config'].items())} takes `{o['hub_id']}`"
        for o in preset.get("checkpoints", ())
    ]
    constructor.__doc__ = _DOC.format(
        default_shape=(preset["image_size"], preset["image_size"], 3),
        resolutions=f" {'; '.join(others)}." if others else "",
        builder=f"kvit.models.{builder.__name__}",
        **{k: v for k, v in preset.items() if k not in ("resolutions", "checkpoints")},
    )
    return registry.register(name, constructor, preset)
