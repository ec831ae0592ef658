"""One feature API for every family: named multi-scale maps for detection and segmentation heads.

Each family module declares its levels in one place, a `feature_levels(model)` function that it
registers with `register_feature_levels`: it returns None for a model of another family, else
`(levels, default)`: `levels` maps each level's name to `(stride, output)`, an output `(batch,
height, width, channels)` of the model's graph, and `default` names the levels
`feature_extractor` returns unless asked for others. Hierarchical families name a level `"P{k}"`
for its stride `2 ** k` (keras-hub's `pyramid_outputs` names); ViT names its block outputs
`"blocks_{i}"`, all at the patch stride.
"""

import collections

import keras

FeatureLevel = collections.namedtuple("FeatureLevel", ["stride", "output"])

# Every family's `feature_levels(model)`, in registration order.
_FAMILY_LEVELS = []


def register_feature_levels(function):
    """Registers a family's `feature_levels(model)` (see the module docstring); returns it, so
    that it can decorate the function."""
    _FAMILY_LEVELS.append(function)
    return function


def feature_extractor(model, levels=None):
    """A model returning named feature maps of a kvit model, with or without its top.

    Args:
        model: a model built by a kvit family (`kvit.applications.*` or a `kvit.models` builder).
        levels: names of the levels to return, in order; None for the family's default (every
            level of a hierarchical family, four evenly spaced blocks of a ViT).
            `feature_levels(model)` lists them all.

    Returns:
        A `keras.Model` on the same inputs and layers whose output is a dict from level name to
        a `(batch, height, width, channels)` map; its `feature_strides` attribute maps each name
        to its stride in input pixels.
    """
    available, default = feature_levels(model)
    if levels is None:
        levels = default
    elif isinstance(levels, str) or not levels or any(name not in available for name in levels):
        raise ValueError(
            f"`levels` must be a non-empty list of level names of {model.name!r}, "
            f"from {list(available)}; got {levels!r}."
        )
    extractor = keras.Model(
        model.inputs, {name: available[name].output for name in levels}, name=f"{model.name}_features"
    )
    extractor.feature_strides = {name: available[name].stride for name in levels}
    return extractor


def feature_levels(model):
    """`(levels, default)` of a kvit model: every `FeatureLevel` by name, and the default names."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model, got {type(model).__name__}.")
    for family_levels in _FAMILY_LEVELS:
        found = family_levels(model)
        if found is not None:
            levels, default = found
            return {name: FeatureLevel(*level) for name, level in levels.items()}, list(default)
    raise ValueError(
        f"`model` {model.name!r} is not a model of a kvit family "
        f"({', '.join(f.__module__.rsplit('.', 1)[-1] for f in _FAMILY_LEVELS)}): it has none of their feature levels."
    )
