"""Recipes as data: a typed schema, TOML files under `kvit/recipes/configs/`, `--set key=value` overrides.

A recipe file is TOML: readable, commented, diffable (`diff deit_s.toml swin_t.toml` shows what
Swin changed), and Python reads it without a dependency (`tomllib`). It may set any field of the
schema below and nothing else: an unknown section or key is an error that lists the valid ones,
as is a value of the wrong type. Fields it leaves out take the defaults here. `resolve` applies
overrides (`"optimizer.lr=1e-3"`, values in TOML syntax, bare words as strings) and returns the
`Recipe`; `to_toml` writes the resolved recipe back, which `kvit train` prints and saves.
"""

import dataclasses
import os
import typing

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "configs")
TASKS = ("classification", "mae_pretraining")


@dataclasses.dataclass
class Model:
    name: str = "ViTS16"  # a kvit.applications name, or a kvit.models builder ("ViT", "MobileViT") with `args`
    args: dict = dataclasses.field(default_factory=dict)  # further builder arguments (depth, width, ...)
    image_size: int = 224  # training and evaluation crops are image_size x image_size
    channels: int = 3
    drop_path_rate: float = 0.0  # stochastic depth of the last block, rising linearly from 0
    weights: str = ""  # "" (random), "imagenet", or a weights file to fine-tune from


@dataclasses.dataclass
class Data:
    source: str = ""  # what `kvit train --data` names (see kvit.recipes.data.load_source)
    data_dir: str = ""  # tensorflow-datasets' data folder; "" for its default
    train_split: str = "train"
    eval_split: str = "auto"  # "auto": validation, val or test, the first there is; "" for none
    classes: int = 0  # 0: from the source (TFRecords need it)
    train_examples: int = 0  # 0: from the source (TFRecords are counted once)
    batch_size: int = 1024  # global, over all devices
    eval_batch_size: int = 256
    crop: str = "random_resized"  # or "resize" (whole image)
    scale: list = dataclasses.field(default_factory=lambda: [0.08, 1.0])  # random resized crop's area range
    ratio: list = dataclasses.field(default_factory=lambda: [0.75, 1.3333333])  # and its aspect range
    interpolation: str = "bicubic"  # training resize
    hflip: float = 0.5
    eval_crop_pct: float = 0.0  # 0: the model preset's crop_pct (0.875 for a builder)
    eval_interpolation: str = ""  # "": the model preset's
    repeats: int = 1  # DeiT's repeated augmentation
    multiscale_sizes: list = dataclasses.field(default_factory=list)  # MobileViT's multi-scale sampler
    shuffle_buffer: int = 10000
    deterministic: bool = True  # False runs the Keras augmentation layers in parallel, in any order


@dataclasses.dataclass
class Augment:
    randaugment_ops: int = 0  # 0 turns RandAugment off; timm's rand-m9-mstd0.5-inc1 is 2 ops, magnitude 9
    randaugment_magnitude: float = 9.0
    mixup: float = 0.0  # Beta alpha; 0 off
    cutmix: float = 0.0  # Beta alpha in [0, 1]; 0 off
    switch_prob: float = 0.5  # CutMix instead of MixUp, when both are on
    mix_prob: float = 1.0
    erasing: float = 0.0  # random erasing probability per image
    translate: float = 0.0  # random shift, a fraction of the side
    label_smoothing: float = 0.0


@dataclasses.dataclass
class Optimizer:
    lr: float = 5e-4  # peak learning rate at a global batch of lr_batch_size
    lr_batch_size: int = 0  # scale lr linearly to the batch size from this one; 0: lr as given
    weight_decay: float = 0.05  # AdamW's, skipping norms, biases, tokens, position embeddings
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    clipnorm: float = 0.0  # clip the global gradient norm; 0 off
    layer_decay: float = 1.0  # layer-wise learning-rate decay for fine-tuning; 1 off
    ema: bool = False  # evaluate, keep and end with an exponential moving average of the weights
    ema_momentum: float = 0.9999


@dataclasses.dataclass
class Schedule:
    epochs: int = 300
    warmup_epochs: float = 5.0
    warmup_steps: int = 0  # when > 0, used instead of warmup_epochs
    warmup_lr: float = 1e-6
    min_lr: float = 1e-5


@dataclasses.dataclass
class Loss:
    kind: str = "ce"  # "ce" (softmax cross-entropy) or "bce" (sigmoid, per class: EfficientViT, DeiT III)


@dataclasses.dataclass
class Distill:
    teacher: str = ""  # "" off; a .keras file, or an application name with teacher_weights
    teacher_weights: str = ""
    kind: str = "hard"  # "hard" or "soft"
    alpha: float = 0.5
    temperature: float = 1.0


@dataclasses.dataclass
class Sam:
    rho: float = 0.0  # sharpness-aware minimisation's radius; 0 off


@dataclasses.dataclass
class Run:
    seed: int = 0
    precision: str = "float32"  # or "mixed_bfloat16" / "mixed_float16" (GPU, TPU)
    distribution: str = "none"  # "data_parallel": keras.distribution (JAX) or tf.distribute (TensorFlow); "tpu"
    devices: int = 0  # 0: all
    validate: str = "epoch"  # "epoch", "end" or "none"
    jit_compile: str = "auto"  # "auto", "true" or "false" (Keras compile's jit_compile)
    steps_per_execution: int = 1
    resume: bool = True  # continue the run in --output if it holds one of this recipe
    tensorboard: bool = True
    verbose: int = 1


@dataclasses.dataclass
class MAE:
    """Fields of masked-autoencoder pretraining (`kvit pretrain`)."""

    mask_ratio: float = 0.75
    norm_pix_loss: bool = True
    decoder_dim: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16


@dataclasses.dataclass
class Recipe:
    name: str = ""
    description: str = ""
    task: str = "classification"  # or "mae_pretraining" (run by `kvit pretrain`)
    model: Model = dataclasses.field(default_factory=Model)
    data: Data = dataclasses.field(default_factory=Data)
    augment: Augment = dataclasses.field(default_factory=Augment)
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)
    schedule: Schedule = dataclasses.field(default_factory=Schedule)
    loss: Loss = dataclasses.field(default_factory=Loss)
    distill: Distill = dataclasses.field(default_factory=Distill)
    sam: Sam = dataclasses.field(default_factory=Sam)
    run: Run = dataclasses.field(default_factory=Run)
    mae: MAE = dataclasses.field(default_factory=MAE)


def recipe_names():
    """The recipes shipped in `kvit/recipes/configs/`."""
    return sorted(f[: -len(".toml")] for f in os.listdir(CONFIG_DIR) if f.endswith(".toml"))


def recipe_path(name):
    """The file of recipe `name`, or `name` itself when it is a path to a `.toml` file."""
    if name.endswith(".toml"):
        if not os.path.isfile(name):
            raise ValueError(f"Recipe file {name!r} does not exist.")
        return name
    if name not in recipe_names():
        raise ValueError(f"Unknown recipe {name!r}; expected one of {recipe_names()} or a .toml file.")
    return os.path.join(CONFIG_DIR, f"{name}.toml")


def load(name):
    """The `Recipe` of a shipped name or a `.toml` path, without overrides."""
    with open(recipe_path(name), "rb") as f:
        try:
            table = tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"Recipe {name!r} is not valid TOML: {error}") from error
    table.setdefault("name", os.path.basename(name)[: -len(".toml")] if name.endswith(".toml") else name)
    return from_dict(table)


def resolve(name, overrides=()):
    """Loads recipe `name` and applies `overrides`, strings `"section.key=value"`."""
    table = to_dict(load(name))
    for override in overrides:
        key, value = parse_override(override)
        set_dotted(table, key, value)
    return from_dict(table)


def parse_override(override):
    """`"optimizer.lr=1e-3"` to `("optimizer.lr", 0.001)`: the value in TOML syntax, else a string."""
    if "=" not in override:
        raise ValueError(f"`--set` takes key=value (e.g. optimizer.lr=1e-3), got {override!r}.")
    key, text = (part.strip() for part in override.split("=", 1))
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        value = text
    return key, value


def set_dotted(table, key, value):
    """Sets `table["a"]["b"]` for key `"a.b"`, creating nothing: unknown keys fail in `from_dict`."""
    parts = key.split(".")
    node = table
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}  # from_dict names it as unknown
        node = node[part]
    node[parts[-1]] = value


def from_dict(table, cls=Recipe, where=""):
    """Builds `cls` from a nested dict, checking every key and value type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(table) - set(fields))
    if unknown:
        section = where.rstrip(".") or "the recipe"
        raise ValueError(f"Unknown recipe key(s) {[where + k for k in unknown]} in {section}; valid keys: {sorted(fields)}.")
    values = {}
    for name, value in table.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise ValueError(f"Recipe key {where + name!r} is a section [{where + name}], got {value!r}.")
            values[name] = from_dict(value, kind, f"{where}{name}.")
        else:
            values[name] = _checked(value, kind, where + name)
    recipe = cls(**values)
    if cls is Recipe and recipe.task not in TASKS:
        raise ValueError(f"Recipe key 'task' must be one of {TASKS}, got {recipe.task!r}.")
    return recipe


def _checked(value, kind, key):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"Recipe key {key!r} takes a {kind.__name__}, got {value!r} ({type(value).__name__}).")
    return value


def to_dict(recipe):
    return dataclasses.asdict(recipe)


def to_toml(recipe):
    """The recipe as a TOML document (every field, sections in schema order)."""
    table = to_dict(recipe)
    lines = [f"{key} = {_toml_value(value)}" for key, value in table.items() if not isinstance(value, dict)]
    for section, values in table.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def differences(a, b):
    """Dotted keys whose values differ between two recipes."""
    flat_a, flat_b = _flatten(to_dict(a)), _flatten(to_dict(b))
    return sorted(k for k in set(flat_a) | set(flat_b) if flat_a.get(k) != flat_b.get(k))


def _flatten(table, prefix=""):
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict) and key != "args":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"Cannot write {value!r} as TOML.")
