"""The registry of named constructors: each family module adds its own when imported.

A family registers every preset with `register`, so `kvit.applications.get`, `list_models` and
`kvit list` know it without a central list to edit. A preset's `task` says what its model does:
`"image_classification"` (a classifier or backbone with the keras.applications signature) or
`"mae_pretraining"` (a masked autoencoder); consumers that build classifiers ask for that task.
"""

CLASSIFICATION = "image_classification"
MAE_PRETRAINING = "mae_pretraining"
TASKS = (CLASSIFICATION, MAE_PRETRAINING)

APPLICATIONS = {}  # name -> constructor
PRESETS = {}  # name -> preset dict


def register(name, constructor, preset):
    """Adds the constructor `name` with its `preset`; returns the constructor.

    Args:
        name: str, the constructor's name, e.g. `"ViTS16"`; unique.
        constructor: the callable that builds the model.
        preset: dict with at least `title`, `image_size`, `hub_id`, `license`, `task` (one of
            `TASKS`), and `params` and `flops`: the model's parameter count and the FLOPs of one
            image at `image_size` (a multiply-add counted as two; None where not counted), with
            the top; measured once and shipped, so that `list_models` builds nothing (the tests
            count them again).
    """
    if name in APPLICATIONS:
        raise ValueError(f"An application named {name!r} is registered already.")
    missing = {"title", "image_size", "hub_id", "license", "task", "params", "flops"} - set(preset)
    if missing:
        raise ValueError(f"The preset of {name!r} lacks {sorted(missing)}.")
    if preset["task"] not in TASKS:
        raise ValueError(f"The preset of {name!r} has `task` {preset['task']!r}; expected one of {TASKS}.")
    APPLICATIONS[name] = constructor
    PRESETS[name] = preset
    return constructor


def names(task=None):
    """The registered names, sorted; only those of `task` when given."""
    return sorted(name for name, preset in PRESETS.items() if task is None or preset["task"] == task)


def check_name(name, task=None):
    """Returns `name` if it is a registered application (of `task` when given), else raises a
    ValueError that lists them."""
    if name not in names(task):
        kind = "model" if task is None else f"{task} model"
        raise ValueError(f"Unknown {kind} {name!r}; expected one of {names(task)}.")
    return name


def get(name, **kwargs):
    """Builds the application called `name` (e.g. `"ViTS16"`) with `kwargs`."""
    return APPLICATIONS[check_name(name)](**kwargs)
