"""`kvit pretrain`: masked-autoencoder pretraining with a recipe, end to end, no labels used.

`pretrain(recipe, data, output)` runs a `task = "mae_pretraining"` recipe with the pieces of
`kvit train` (`kvit.recipes.train`: sources, schedule, optimizer, run folder, logs, devices):
the recipe's ViT becomes the encoder of a `kvit.models.MAE` (its `[mae]` section: mask ratio,
loss, decoder), AdamW with warm-up and cosine decay trains it on the images of `data`, and the
run folder holds:

    config.toml            the resolved recipe
    checkpoints/           the last epoch's weights and optimizer state (resume after a kill)
    reconstructions/       epoch-NNNN.png: original | masked | reconstruction | reconstruction
                           with the visible patches, for a few held-out images, each epoch
    log.csv                loss (and val_loss on the held-out split) per epoch
    mae.keras              the whole MAE (encoder and decoder)
    encoder.safetensors    the encoder without its final norm, what fine-tuning starts from:
                           `kvit train --recipe mae_finetune --set model.weights=<this file>`,
                           or `kvit.models.mae_classifier(mae, classes)` in a script
    results.json           final loss, time

Started again with the same command, a run continues from its last complete epoch.
"""

import dataclasses
import json
import os

import keras
import numpy as np

from kvit.constants import DEFAULT_CROP_PCT
from kvit.files import atomic_write, replacing
from kvit.recipes import config, pipeline
from kvit.recipes import train as recipes
from kvit.recipes.checkpoint import TrainingCheckpoint

GRID_IMAGES = 8
GRID_SCALE = 4  # each image is drawn this many times its size (nearest), small images stay legible


@dataclasses.dataclass
class PretrainResult:
    """What `pretrain` returns."""

    model: keras.Model
    path: str
    encoder_path: str
    loss: float
    seconds: float
    epochs: int
    initial_epoch: int
    history: dict
    grids: list
    recipe: config.Recipe


def pretrain(recipe="mae_digits", data=None, output=None, overrides=(), print_config=print, verbose=None, grid_images=GRID_IMAGES):
    """Pretrains an MAE with a recipe.

    Args:
        recipe: a `kvit.recipes.config.Recipe`, a shipped recipe name (`"mae_digits"`, the small
            ViT on the embedded digits; `"mae_pretrain"`, ViT-B/16 on ImageNet) or a `.toml` path.
        data: the images (`kvit.recipes.data.load_source`'s `source`: `"digits"`, an image folder,
            a tensorflow-datasets name, TFRecords, `.npz`); None keeps the recipe's. Labels,
            where the source has them, are not used.
        output: the run folder; None for `kvit-runs/<recipe name>`.
        overrides: `"section.key=value"` strings applied to the recipe.
        print_config: callable given the resolved recipe as TOML, or None.
        verbose: Keras' fit verbosity (1: a progress bar); None for the recipe's `run.verbose`.
        grid_images: int, held-out images in each epoch's reconstruction grid; 0 for none.

    Returns:
        A `PretrainResult`.
    """
    recipe = recipes.resolve_recipe(recipe, data, overrides, "mae_pretraining")
    output = output or os.path.join("kvit-runs", recipe.name)
    verbose = recipe.run.verbose if verbose is None else verbose

    keras.utils.set_random_seed(recipe.run.seed)
    keras.config.set_dtype_policy(recipe.run.precision)
    setup = recipes.devices_for(recipe)
    train_source, eval_source = recipes.sources_for(recipe)
    steps, warmup = recipes.schedule_steps(recipe, train_source)
    peak = recipes.peak_learning_rate(recipe)
    if print_config is not None:
        print_config(
            config.to_toml(recipe)
            + f"# derived: {train_source.num_examples} training images, {steps // recipe.schedule.epochs} steps "
            f"per epoch, {steps} steps, {warmup} warm-up steps, peak learning rate {peak:g}, "
            f"{setup.num_devices} device(s) ({setup.engine})"
        )
    initial_epoch = recipes.open_run(recipe, output, write=setup.is_chief)

    with setup.scope():
        model = build_mae(recipe)
        model.compile(
            optimizer=recipes.recipe_optimizer(recipe, model, peak, steps, warmup), **recipes.compile_options(recipe)
        )
        checkpoint = TrainingCheckpoint(os.path.join(output, "checkpoints"), model=model)
        if initial_epoch:
            checkpoint.restore(model)
            if verbose:
                print(f"resuming {output} at epoch {initial_epoch} of {recipe.schedule.epochs}")
        train_data = pretrain_pipeline(recipe, train_source)
        eval_data = held_out_pipeline(recipe, eval_source) if eval_source is not None else None
        callbacks = [checkpoint]
        grid = None
        if grid_images:
            grid_source = eval_data if eval_data is not None else held_out_pipeline(recipe, train_source)
            grid = ReconstructionGrid(
                first_images(grid_source, grid_images), os.path.join(output, "reconstructions"), seed=recipe.run.seed
            )
            callbacks.append(grid)
        callbacks += recipes.log_callbacks(recipe, output)
        if not setup.is_chief:
            callbacks = []

        history, seconds = recipes.timed_fit(model, recipe, train_data, eval_data, initial_epoch, callbacks, verbose)
    losses = history.history.get("loss") or [float("nan")]
    path = os.path.join(output, "mae.keras")
    encoder_path = os.path.join(output, "encoder.safetensors")
    if setup.is_chief:
        with replacing(path, suffix=".keras") as temporary:
            model.save(temporary)
        save_encoder(model, encoder_path)
        results = dict(
            recipe=recipe.name, loss=float(losses[-1]), seconds=seconds, epochs=recipe.schedule.epochs,
            initial_epoch=initial_epoch, model=path, encoder=encoder_path,
        )
        atomic_write(os.path.join(output, "results.json"), json.dumps(results, indent=2).encode())
    return PretrainResult(
        model=model, path=path, encoder_path=encoder_path, loss=float(losses[-1]), seconds=seconds,
        epochs=recipe.schedule.epochs, initial_epoch=initial_epoch, history=history.history,
        grids=grid.paths if grid is not None else [], recipe=recipe,
    )


def build_mae(recipe):
    """The recipe's MAE: `model.name` is an MAE constructor (`"MAEViTB16"`, which takes official
    `model.weights`), a ViT application (`"ViTB16"`) or `"ViT"` with builder `model.args`."""
    from kvit import applications, models
    from kvit.models import vit

    m, settings = recipe.model, dataclasses.asdict(recipe.mae)
    shape = (m.image_size, m.image_size, m.channels)
    kwargs = dict(m.args)
    if m.drop_path_rate:
        kwargs["drop_path_rate"] = m.drop_path_rate
    weights = m.weights or None
    autoencoders = applications.names(applications.registry.MAE_PRETRAINING)
    if m.name in autoencoders:
        return getattr(applications, m.name)(weights=weights, input_shape=shape, seed=recipe.run.seed, **settings, **kwargs)
    if m.name in applications.names(applications.registry.CLASSIFICATION):
        encoder = applications.get(m.name, include_top=False, input_shape=shape, weights=weights, **kwargs)
    elif m.name == "ViT":
        encoder = models.ViT(input_shape=shape, include_top=False, **kwargs)
        applications.load_weights(encoder, weights, vit.convert_timm_checkpoint)
    else:
        raise ValueError(
            f"`model.name` {m.name!r} cannot be an MAE encoder: use an MAE constructor "
            f"({autoencoders}), a ViT application or 'ViT'."
        )
    try:
        return models.MAE(encoder, seed=recipe.run.seed, **settings)
    except TypeError as error:
        raise ValueError(f"`model.name` {m.name!r} cannot be an MAE encoder: {error}") from error


def pretrain_pipeline(recipe, source):
    """Shuffled, cropped, flipped batches of images only (`pipeline.train_pipeline`, `labels=False`)."""
    d = recipe.data
    return pipeline.train_pipeline(
        source, d.batch_size, recipe.model.image_size, seed=recipe.run.seed, crop=d.crop, scale=tuple(d.scale),
        ratio=tuple(d.ratio), interpolation=d.interpolation, hflip=d.hflip, channels=recipe.model.channels,
        shuffle_buffer=d.shuffle_buffer, deterministic=d.deterministic, labels=False,
    )


def held_out_pipeline(recipe, source):
    """The evaluation transform of `source`'s images, in order (`pipeline.eval_pipeline`, no labels)."""
    d = recipe.data
    preset = recipes.preset_of(recipe)
    return pipeline.eval_pipeline(
        source, d.eval_batch_size, recipe.model.image_size,
        crop_pct=d.eval_crop_pct or preset.get("crop_pct", DEFAULT_CROP_PCT),
        interpolation=d.eval_interpolation or preset.get("interpolation", "bicubic"),
        channels=recipe.model.channels, labels=False,
    )


def first_images(dataset, count):
    """The first `count` images of a batched dataset, as one NumPy array."""
    images = []
    for batch in dataset:
        images.append(np.asarray(batch))
        if sum(len(b) for b in images) >= count:
            break
    return np.concatenate(images)[:count]


def save_encoder(model, path):
    """Writes the MAE's encoder without its final norm as a kvit `.safetensors` checkpoint.

    The reference fine-tunes with average pooling and a fresh `fc_norm`, dropping the final norm,
    so this file loads strictly into `kvit.models.ViT(..., global_pool="avg")` (or a ViT
    application with `global_pool="avg"`): the classifier's `fc_norm` and `head` stay fresh.
    """
    from kvit.applications.weights import save_kvit_checkpoint

    arrays = {
        v.path: keras.ops.convert_to_numpy(v)
        for v in model.encoder.weights
        if not v.path.startswith("norm/")
    }
    save_kvit_checkpoint(arrays, path, source=f"MAE {model.name}")


class ReconstructionGrid(keras.callbacks.Callback):
    """Writes a PNG of what the MAE makes of a few fixed images, after every epoch.

    One row per image: the original, the masked input, the reconstruction, and the
    reconstruction with the visible patches pasted in (see `kvit.models.MAE.reconstruct`). The
    masks are drawn once from `seed`, so the epochs' grids compare like with like.

    Args:
        images: `(n, height, width, channels)` [0, 255] pixels.
        directory: folder of the `epoch-NNNN.png` files (created).
        seed: int, seed of the masks.
        model: the MAE; default the model `fit` trains.
    """

    def __init__(self, images, directory, seed=0, model=None):
        super().__init__()
        self.images = np.asarray(images, dtype="float32")
        self.directory = directory
        self.seed = seed
        self._mae = model
        self.paths = []

    def on_epoch_end(self, epoch, logs=None):
        model = self._mae or self.model
        noise = np.random.RandomState(self.seed).uniform(size=(len(self.images), model.num_patches)).astype("float32")
        panels = [self.images, *(keras.ops.convert_to_numpy(x) for x in model.reconstruct(self.images, noise))]
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"epoch-{epoch + 1:04d}.png")
        atomic_write(path, encode_png(grid_image(panels, GRID_SCALE)))
        self.paths.append(path)


def grid_image(panels, scale=1, gap=2):
    """Lays `panels` (a list of `(n, h, w, c)` arrays) out as columns of an `(rows, columns)` grid.

    Returns a uint8 `(height, width, c)` image with `gap` pixels of white between cells, each cell
    the image magnified `scale` times (nearest neighbour).
    """
    n, h, w, c = panels[0].shape
    h, w = h * scale, w * scale
    grid = np.full((n * (h + gap) + gap, len(panels) * (w + gap) + gap, c), 255, dtype=np.uint8)
    for column, images in enumerate(panels):
        cells = np.repeat(np.repeat(np.clip(np.round(images), 0, 255).astype(np.uint8), scale, 1), scale, 2)
        for row, cell in enumerate(cells):
            top, left = gap + row * (h + gap), gap + column * (w + gap)
            grid[top : top + h, left : left + w] = cell
    return grid


def encode_png(image):
    """PNG bytes of a uint8 `(height, width, 1 or 3)` image (TensorFlow's encoder: no extra dependency)."""
    import tensorflow as tf

    return tf.io.encode_png(image).numpy()
