"""`kvit train`: one recipe, end to end: data, model, optimisation, checkpoints, logs, the best model.

`train(recipe, data, output)` builds everything a recipe names from the pieces of
`kvit.recipes` and runs `model.fit`. The output folder holds:

    config.toml          the resolved recipe (a restart with another one is refused)
    checkpoints/         the last epoch's weights and optimizer state (resume after a kill)
    log.csv, tensorboard/  one row / event per epoch
    best.keras           the best model by validation accuracy (with per-epoch validation)
    <model>.keras        the final model (the EMA weights when the recipe keeps an EMA)
    results.json         held-out accuracy, time, skipped images

Started again with the same command, a run continues from its last complete epoch, with the
optimizer's state and the learning-rate schedule's step, and ends at the recipe's epoch count.
"""

import csv
import dataclasses
import inspect
import io
import json
import os
import shutil
import time

import keras

from kvit.constants import DEFAULT_CROP_PCT
from kvit.files import atomic_write, replacing
from kvit.recipes import augment, config, distribute, optimizers, pipeline
from kvit.recipes.checkpoint import BestModel, TrainingCheckpoint, read_state
from kvit.recipes.data import load_source
from kvit.recipes.distillation import Distiller, logits_model
from kvit.recipes.multiscale import multiscale_schedule
from kvit.recipes.sam import SAM



@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the model (with its softmax), its file, and what was measured."""

    model: keras.Model
    path: str
    best_path: str
    accuracy: float
    seconds: float
    epochs: int
    initial_epoch: int
    history: dict
    recipe: config.Recipe
    train_source: object
    eval_source: object


def train(recipe, data=None, output=None, overrides=(), print_config=print, verbose=None):
    """Trains with a recipe.

    Args:
        recipe: a `kvit.recipes.config.Recipe`, a shipped recipe name, or a `.toml` path.
        data: the data source (`load_source`'s `source`); None keeps the recipe's `data.source`.
        output: the run folder; None for `kvit-runs/<recipe name>`.
        overrides: `"section.key=value"` strings applied to the recipe.
        print_config: callable given the resolved recipe as TOML (with derived figures as
            comments), or None.
        verbose: Keras' fit verbosity; None for the recipe's `run.verbose`.

    Returns:
        A `TrainResult`.
    """
    recipe = resolve_recipe(recipe, data, overrides, "classification")
    output = output or os.path.join("kvit-runs", recipe.name)
    verbose = recipe.run.verbose if verbose is None else verbose

    keras.utils.set_random_seed(recipe.run.seed)
    keras.config.set_dtype_policy(recipe.run.precision)
    setup = devices_for(recipe)
    train_source, eval_source = sources_for(recipe)
    steps, warmup = schedule_steps(recipe, train_source)
    peak = peak_learning_rate(recipe)
    if print_config is not None:
        print_config(
            config.to_toml(recipe)
            + f"# derived: {train_source.num_examples} training images, {train_source.num_classes} classes, "
            f"{steps // recipe.schedule.epochs} steps per epoch, {steps} steps, {warmup} warm-up steps, "
            f"peak learning rate {peak:g}, {setup.num_devices} device(s) ({setup.engine})"
        )
    initial_epoch = open_run(recipe, output, write=setup.is_chief)

    # keras.distribution shards each batch while its scope is active: fit runs inside it too.
    with setup.scope():
        model = build_model(recipe, train_source.num_classes)
        trained = training_model(recipe, model)
        optimizer = recipe_optimizer(
            recipe,
            trained,
            peak,
            steps,
            warmup,
            use_ema=recipe.optimizer.ema,
            ema_momentum=recipe.optimizer.ema_momentum,
            layer_decay=recipe.optimizer.layer_decay,
        )
        trained.compile(
            optimizer=optimizer,
            loss=loss_for(recipe),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            **compile_options(recipe),
        )
        checkpoint = TrainingCheckpoint(os.path.join(output, "checkpoints"), model=trained)
        if initial_epoch:
            checkpoint.restore(trained)
            print(f"resuming {output} at epoch {initial_epoch} of {recipe.schedule.epochs}")

        train_data = train_pipeline_for(recipe, train_source)
        eval_data = eval_pipeline_for(recipe, eval_source) if eval_source is not None else None
        best_path = os.path.join(output, "best.keras")
        callbacks = [checkpoint]
        if recipe.optimizer.ema:
            # After the checkpoint (which keeps the raw weights), before the best model (the EMA's).
            callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
        if eval_data is not None and recipe.run.validate == "epoch":
            callbacks.append(BestModel(best_path, "val_accuracy", "max", model=model))
        callbacks.append(SkippedImagesReport(train_source, eval_source, verbose))
        callbacks += log_callbacks(recipe, output)
        if not setup.is_chief:
            callbacks = [c for c in callbacks if isinstance(c, (keras.callbacks.SwapEMAWeights, SkippedImagesReport))]

        history, seconds = timed_fit(trained, recipe, train_data, eval_data, initial_epoch, callbacks, verbose)
        accuracy = None
        if eval_data is not None and recipe.run.validate != "none":
            accuracy = float(trained.evaluate(eval_data, verbose=0, return_dict=True)["accuracy"])
    path = os.path.join(output, f"{model.name}.keras")
    if setup.is_chief:
        with replacing(path, suffix=".keras") as temporary:
            model.save(temporary)
        results = dict(
            recipe=recipe.name,
            accuracy=accuracy,
            seconds=seconds,
            epochs=recipe.schedule.epochs,
            initial_epoch=initial_epoch,
            skipped_train_images=train_source.skipped.count,
            skipped_eval_images=eval_source.skipped.count if eval_source is not None else 0,
            model=path,
            best_model=best_path if os.path.isfile(best_path) else None,
        )
        atomic_write(os.path.join(output, "results.json"), json.dumps(results, indent=2).encode())
    return TrainResult(
        model=model,
        path=path,
        best_path=best_path if os.path.isfile(best_path) else None,
        accuracy=accuracy,
        seconds=seconds,
        epochs=recipe.schedule.epochs,
        initial_epoch=initial_epoch,
        history=history.history,
        recipe=recipe,
        train_source=train_source,
        eval_source=eval_source,
    )


# The command that runs each task's recipes.
TASK_COMMANDS = {"classification": "kvit train", "mae_pretraining": "kvit pretrain"}


def resolve_recipe(recipe, data, overrides, task):
    """The `Recipe` to run: `recipe` resolved with `overrides`, on `data`, checked to be a `task` recipe."""
    if not isinstance(recipe, config.Recipe):
        recipe = config.resolve(recipe, overrides)
    elif overrides:
        raise ValueError("`overrides` apply to a recipe name or file, not to a Recipe object; edit it instead.")
    if data is not None:
        recipe = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, source=str(data)))
    if recipe.task != task:
        command = TASK_COMMANDS.get(recipe.task, "its own command")
        raise ValueError(f"Recipe {recipe.name!r} is a {recipe.task!r} recipe; run it with `{command}`.")
    if not recipe.data.source:
        raise ValueError("No data: pass `--data SOURCE` (or set data.source).")
    return recipe


def devices_for(recipe):
    """The device setup `run.distribution` asks for (refusing combinations that cannot work)."""
    kind = recipe.run.distribution
    if kind == "none":
        return distribute.single_device()
    if kind not in ("data_parallel", "tpu"):
        raise ValueError(f"Recipe key 'run.distribution' must be 'none', 'data_parallel' or 'tpu', got {kind!r}.")
    if recipe.sam.rho and keras.backend.backend() == "tensorflow":
        raise ValueError("SAM (sam.rho > 0) does not run under tf.distribute; use JAX for data-parallel SAM.")
    tpu = kind == "tpu" and keras.backend.backend() == "tensorflow"
    return distribute.data_parallel(recipe.data.batch_size, recipe.run.devices, tpu=tpu or None)


def sources_for(recipe):
    """`(train, eval)` sources of the recipe's data (eval None without an evaluation split)."""
    d = recipe.data
    kwargs = dict(data_dir=d.data_dir or None, classes=d.classes or None, seed=recipe.run.seed)
    train_source = load_source(d.source, d.train_split, **kwargs)
    eval_source = load_source(d.source, d.eval_split, **kwargs) if d.eval_split else None
    if d.train_examples:
        train_source.num_examples = d.train_examples
    elif train_source.num_examples is None:
        train_source.num_examples = int(train_source.dataset.reduce(0, lambda count, _: count + 1))
    if eval_source is not None and eval_source.num_classes != train_source.num_classes:
        raise ValueError(
            f"The evaluation split has {eval_source.num_classes} classes, the training split {train_source.num_classes}."
        )
    return train_source, eval_source


def schedule_steps(recipe, train_source):
    """`(total_steps, warmup_steps)` of the learning-rate schedule."""
    d = recipe.data
    if d.multiscale_sizes:
        batch_sizes = [b for _, b in multiscale_schedule(d.batch_size, _sizes(d.multiscale_sizes), recipe.model.image_size)]
        per_epoch = max(1, round(train_source.num_examples * len(batch_sizes) / sum(batch_sizes)))
    else:
        per_epoch = train_source.num_examples // d.batch_size
    if per_epoch < 1:
        raise ValueError(
            f"`data.batch_size` {d.batch_size} is larger than the {train_source.num_examples} training images."
        )
    total = per_epoch * recipe.schedule.epochs
    warmup = recipe.schedule.warmup_steps or round(recipe.schedule.warmup_epochs * per_epoch)
    return total, min(warmup, total - 1)


def peak_learning_rate(recipe):
    o = recipe.optimizer
    return o.lr * recipe.data.batch_size / o.lr_batch_size if o.lr_batch_size else o.lr


def recipe_optimizer(recipe, model, peak, steps, warmup, **options):
    """The recipe's AdamW (`[optimizer]`) for `model`, its learning rate warmed up over `warmup`
    steps to `peak`, then cosine-decayed over the rest of `steps`; `options` go to `optimizers.adamw`."""
    schedule = optimizers.warmup_cosine(peak, steps, warmup, recipe.schedule.warmup_lr, min(recipe.schedule.min_lr, peak))
    return optimizers.adamw(
        model,
        schedule,
        weight_decay=recipe.optimizer.weight_decay,
        beta_1=recipe.optimizer.beta_1,
        beta_2=recipe.optimizer.beta_2,
        epsilon=recipe.optimizer.epsilon,
        clipnorm=recipe.optimizer.clipnorm or None,
        **options,
    )


def compile_options(recipe):
    """The `compile` arguments that `[run]` sets: `jit_compile` and `steps_per_execution`."""
    return dict(
        jit_compile={"auto": "auto", "true": True, "false": False}[recipe.run.jit_compile],
        steps_per_execution=recipe.run.steps_per_execution,
    )


def log_callbacks(recipe, output):
    """The run folder's logs: `log.csv` (appended to on resume) and, with `run.tensorboard`, `tensorboard/`."""
    callbacks = [keras.callbacks.CSVLogger(os.path.join(output, "log.csv"), append=True)]
    if recipe.run.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(output, "tensorboard"), write_graph=False))
    return callbacks


def timed_fit(model, recipe, train_data, eval_data, initial_epoch, callbacks, verbose):
    """`model.fit` from `initial_epoch` to the recipe's epoch count, validating each epoch when
    `run.validate` is `"epoch"`; returns the `History` and the seconds the fit took."""
    start = time.perf_counter()
    history = model.fit(
        train_data,
        epochs=recipe.schedule.epochs,
        initial_epoch=initial_epoch,
        validation_data=eval_data if recipe.run.validate == "epoch" else None,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the pipeline shuffles; Keras would only warn that it ignores True
    )
    return history, time.perf_counter() - start


def open_run(recipe, output, write=True):
    """Prepares the run folder; returns the epoch to start at (the last checkpoint's, or 0).

    A folder holding a run of another recipe is refused, naming the keys that differ; with
    `run.resume = false` the folder's checkpoints are removed and the run starts over. Only the
    process that `write`s (the first host) changes the folder.
    """
    if write:
        os.makedirs(output, exist_ok=True)
    saved_config = os.path.join(output, "config.toml")
    checkpoints = os.path.join(output, "checkpoints")
    state = read_state(checkpoints) if os.path.isdir(checkpoints) else None
    if state is not None and recipe.run.resume:
        if os.path.isfile(saved_config):
            saved = config.from_dict(config.tomllib.loads(open(saved_config).read()))
            ignored = {"run.verbose"}
            changed = [k for k in config.differences(saved, recipe) if k not in ignored]
            if changed:
                raise ValueError(
                    f"{output} holds a run of another recipe (it differs in {changed}); resume it with the same "
                    "recipe and --set values, pass another --output, or --set run.resume=false to start over."
                )
        initial_epoch = state["epoch"]
        if write:
            _truncate_log(os.path.join(output, "log.csv"), initial_epoch)
    else:
        initial_epoch = 0
        if not write:
            return initial_epoch
        for name in ("checkpoints", "tensorboard"):
            shutil.rmtree(os.path.join(output, name), ignore_errors=True)
        for name in ("log.csv", "best.keras", "best.keras.json", "results.json"):
            if os.path.exists(os.path.join(output, name)):
                os.unlink(os.path.join(output, name))
    if write:
        atomic_write(saved_config, config.to_toml(recipe).encode())
    return initial_epoch


def _truncate_log(path, epochs):
    """Keeps the CSV log's rows of the first `epochs` epochs (a killed run may have logged more)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows[:1] + [row for row in rows[1:] if row and int(row[0]) < epochs])
    atomic_write(path, buffer.getvalue().encode())


def build_model(recipe, num_classes):
    """The recipe's model, softmax on top, for `num_classes`."""
    from kvit import applications, models

    m = recipe.model
    shape = (None, None, m.channels) if recipe.data.multiscale_sizes else (m.image_size, m.image_size, m.channels)
    kwargs = dict(m.args)
    if m.drop_path_rate:
        kwargs["drop_path_rate"] = m.drop_path_rate
    classifiers = applications.names(applications.registry.CLASSIFICATION)
    if m.name in classifiers:
        return applications.get(
            m.name, input_shape=shape, classes=num_classes, weights=m.weights or None,
            classifier_activation="softmax", **kwargs,
        )
    builder = getattr(models, m.name, None)
    if builder is None or not callable(builder) or "classes" not in inspect.signature(builder).parameters:
        raise ValueError(
            f"Unknown `model.name` {m.name!r}: not a kvit.applications classifier ({classifiers}) "
            "nor a kvit.models builder (e.g. 'ViT', 'MobileViT')."
        )
    model = builder(input_shape=shape, classes=num_classes, classifier_activation="softmax", **kwargs)
    if m.weights:
        model.load_weights(m.weights)
    return model


def training_model(recipe, model):
    """What `fit` trains: the model's logits, in a distiller or SAM wrapper when the recipe asks."""
    if recipe.distill.teacher:
        return Distiller(
            model, load_teacher(recipe), kind=recipe.distill.kind, alpha=recipe.distill.alpha,
            temperature=recipe.distill.temperature, rho=recipe.sam.rho,
        )
    logits = logits_model(model)
    return SAM(logits, recipe.sam.rho) if recipe.sam.rho else logits


def load_teacher(recipe):
    from kvit import applications

    teacher = recipe.distill.teacher
    if teacher.endswith(".keras"):
        if not os.path.isfile(teacher):
            raise ValueError(f"`distill.teacher` {teacher!r}: no such file.")
        return keras.saving.load_model(teacher, compile=False, safe_mode=True)
    if teacher in applications.names(applications.registry.CLASSIFICATION):
        return applications.get(teacher, weights=recipe.distill.teacher_weights or "imagenet")
    raise ValueError(f"`distill.teacher` must be a .keras file or an application name, got {teacher!r}.")


def loss_for(recipe):
    smoothing = recipe.augment.label_smoothing
    if recipe.loss.kind == "ce":
        return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    if recipe.loss.kind == "bce":
        return keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    raise ValueError(f"Recipe key 'loss.kind' must be 'ce' or 'bce', got {recipe.loss.kind!r}.")


def preset_of(recipe):
    from kvit import applications

    return applications.PRESETS.get(recipe.model.name, {})


def train_pipeline_for(recipe, source):
    d, a = recipe.data, recipe.augment
    seed = recipe.run.seed
    image_augmentation = augment.rand_augment(a.randaugment_ops, a.randaugment_magnitude, seed) if a.randaugment_ops else None
    batch_augmentation = augment.BatchAugmentation(
        mixup=a.mixup, cutmix=a.cutmix, switch_prob=a.switch_prob, mix_prob=a.mix_prob,
        erasing=a.erasing, translate=a.translate, seed=seed,
    )
    return pipeline.train_pipeline(
        source,
        d.batch_size,
        recipe.model.image_size,
        seed=seed,
        crop=d.crop,
        scale=tuple(d.scale),
        ratio=tuple(d.ratio),
        interpolation=d.interpolation,
        hflip=d.hflip,
        channels=recipe.model.channels,
        image_augmentation=image_augmentation,
        batch_augmentation=batch_augmentation,
        repeats=d.repeats,
        multiscale_sizes=_sizes(d.multiscale_sizes) or None,
        one_hot=True,
        shuffle_buffer=d.shuffle_buffer,
        deterministic=d.deterministic,
    )


def eval_pipeline_for(recipe, source):
    d = recipe.data
    preset = preset_of(recipe)
    return pipeline.eval_pipeline(
        source,
        d.eval_batch_size,
        recipe.model.image_size,
        crop_pct=d.eval_crop_pct or preset.get("crop_pct", DEFAULT_CROP_PCT),
        interpolation=d.eval_interpolation or preset.get("interpolation", "bicubic"),
        channels=recipe.model.channels,
        one_hot=True,
    )


def _sizes(sizes):
    return tuple(tuple(s) if isinstance(s, list) else s for s in sizes)


class SkippedImagesReport(keras.callbacks.Callback):
    """Logs (`skipped_images`) and prints how many images did not decode, for sources of files."""

    def __init__(self, train_source, eval_source, verbose):
        super().__init__()
        self.sources = [s for s in (train_source, eval_source) if s is not None and s.encoded]
        self.verbose = verbose
        self.reported = 0

    def on_epoch_end(self, epoch, logs=None):
        if not self.sources:
            return
        count = sum(s.skipped.count for s in self.sources)
        if count > self.reported:
            if self.verbose:
                print(f"skipped {count} image(s) that did not read or decode (so far)")
            self.reported = count
        if logs is not None:
            logs["skipped_images"] = count
