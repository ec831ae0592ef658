"""tf.data input pipelines for classification training and evaluation.

`train_pipeline` and `eval_pipeline` take a `kvit.recipes.data.Source` (or anything
`load_source` takes) and return a batched, prefetched `tf.data.Dataset` of `(images, labels)`
that `model.fit` takes on every backend. Images are float32 [0, 255] pixels; labels int64 class
indices, or float one-hot rows with `one_hot=True` (which mixing augmentations need).

Order of work, after the TensorFlow performance guide: shuffle the encoded records, decode +
crop + flip in a parallel map, batch (dropping the last partial batch when training, so shapes
stay static for XLA), batch-level augmentation, prefetch. Under a `seed` a pipeline is
deterministic: every random draw of the per-image map is stateless, seeded per element, and the
Keras augmentation layers (which keep random state) run in order, one call at a time; with
`deterministic=False` they run in parallel too and the order of elements may vary.
"""

import keras
import tensorflow as tf

from kvit.constants import DEFAULT_CROP_PCT
from kvit.recipes import transforms
from kvit.recipes.data import Source, load_source
from kvit.recipes.multiscale import multiscale_batches

AUTOTUNE = tf.data.AUTOTUNE
CROPS = ("random_resized", "resize")


def train_pipeline(
    source,
    batch_size,
    image_size,
    *,
    seed=0,
    crop="random_resized",
    scale=(0.08, 1.0),
    ratio=(3.0 / 4.0, 4.0 / 3.0),
    interpolation="bicubic",
    hflip=0.5,
    channels=3,
    image_augmentation=None,
    batch_augmentation=None,
    repeats=1,
    multiscale_sizes=None,
    one_hot=False,
    shuffle_buffer=10_000,
    labels=True,
    deterministic=True,
):
    """The training pipeline: shuffled, decoded, cropped, flipped, augmented batches.

    Args:
        source: a `Source`, or what `load_source` takes (opened as its `"train"` split).
        batch_size: int, the global batch size (a last partial batch is dropped).
        image_size: int, the side of the square training crops; with `multiscale_sizes`, the
            base size `batch_size` is meant for.
        seed: int, seed of the shuffle and of every augmentation.
        crop: `"random_resized"` (Inception-style crop of `scale`/`ratio`, then resize) or
            `"resize"` (the whole image resized).
        scale, ratio: the random resized crop's area fraction and aspect-ratio ranges.
        interpolation: resize method, one of `transforms.INTERPOLATIONS`.
        hflip: float, probability of a left-right flip.
        channels: int, image channels the model takes (grey sources are repeated to 3).
        image_augmentation: optional callable on one image `(h, w, c)`, e.g.
            `kvit.recipes.augment.rand_augment(...)` or any Keras preprocessing layer.
        batch_augmentation: optional callable `(images, labels) -> (images, labels)` on batches,
            e.g. `kvit.recipes.augment.BatchAugmentation`; mixing needs `one_hot=True`.
        repeats: int, DeiT's repeated augmentation: each image appears this many times per
            epoch with different augmentations, and an epoch still holds `num_examples` images.
        multiscale_sizes: optional resolutions for the MobileViT multi-scale sampler
            (`kvit.recipes.multiscale`): each batch is drawn at one of them, its size scaled to
            keep the pixels of `batch_size` images of `image_size`.
        one_hot: bool, float one-hot labels instead of int64 indices.
        shuffle_buffer: int, elements in the shuffle buffer (a whole small source fits).
        labels: bool; False yields images only (self-supervised pretraining).
        deterministic: bool, see the module docstring.
    """
    source = _source(source, "train")
    if crop not in CROPS:
        raise ValueError(f"`crop` must be one of {CROPS}, got {crop!r}.")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be a positive int, got {repeats!r}.")
    _check_batch_size(batch_size)
    dataset = source.dataset
    count = source.num_examples
    # File paths are small: shuffle them all, before any image is read.
    buffer = count if source.files and count else min(shuffle_buffer, count or shuffle_buffer)
    dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeats > 1:
        dataset = dataset.flat_map(lambda image, label: tf.data.Dataset.from_tensors((image, label)).repeat(repeats))
        if count:
            dataset = dataset.take(count)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)
    dataset = tf.data.Dataset.zip((dataset, seeds))
    # Keras layers keep random state: in parallel their draws would go to elements in any order.
    stateful = None if deterministic else AUTOTUNE

    def decode(element, element_seed):
        image, label = element
        return (_decoded(image, source, channels), element_seed), label

    def crop_and_flip(image, element_seed, size):
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(element_seed, 2))
        if crop == "random_resized":
            image = transforms.random_resized_crop(image, size, crop_seed, scale, ratio, interpolation)
        else:
            image = transforms.resize(image, size, interpolation)
        return transforms.random_flip(image, flip_seed, hflip)

    dataset = _decode(dataset, source, decode, deterministic)
    dataset = dataset.map(lambda image, label: (image, _checked_label(label, source.num_classes)))
    if multiscale_sizes:
        def resize(image_and_seed, size):
            image = crop_and_flip(*image_and_seed, size)
            return image_augmentation(image) if image_augmentation is not None else image

        dataset = multiscale_batches(dataset, batch_size, multiscale_sizes, image_size, seed=seed, resize=resize)
    else:
        dataset = dataset.map(
            lambda image_and_seed, label: (crop_and_flip(*image_and_seed, (image_size, image_size)), label),
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
        if image_augmentation is not None:
            dataset = _map(dataset, lambda image, label: (_augmented(image_augmentation, image), label), stateful)
        dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = _finish(dataset, source.num_classes, one_hot, labels, batch_augmentation, stateful, deterministic)
    return dataset


def eval_pipeline(
    source,
    batch_size,
    image_size,
    *,
    crop_pct=DEFAULT_CROP_PCT,
    interpolation="bicubic",
    channels=3,
    one_hot=False,
    labels=True,
):
    """The evaluation pipeline: `transforms.eval_transform` of every image, in order, all batches kept.

    Args:
        source: a `Source`, or what `load_source` takes (opened as its `"auto"` evaluation split:
            validation, val or test, the first it has).
        batch_size: int.
        image_size: int, the side of the square crops.
        crop_pct, interpolation: the model's evaluation transform, e.g.
            `kvit.applications.PRESETS[name]["crop_pct"]`.
        channels, one_hot, labels: as for `train_pipeline`.
    """
    source = _source(source, "auto")
    _check_batch_size(batch_size)

    def transform(image, label):
        image = _decoded(image, source, channels)
        return transforms.eval_transform(image, image_size, crop_pct, interpolation), label

    dataset = _decode(source.dataset, source, transform, deterministic=True)
    dataset = dataset.map(lambda image, label: (image, _checked_label(label, source.num_classes)))
    dataset = dataset.batch(batch_size)
    return _finish(dataset, source.num_classes, one_hot, labels, None, AUTOTUNE, True)


def array_pipeline(images, labels, batch_size, training, seed=0, translate=0.0):
    """A batched `tf.data.Dataset` of `(images, labels)` from in-memory arrays, kept as they are.

    Args:
        images: `(n, height, width, channels)` float pixels in [0, 255].
        labels: `(n,)` integer labels.
        batch_size: int.
        training: bool; shuffles, augments and drops the last partial batch (static shapes).
        seed: int, seed of the shuffle and the augmentation.
        translate: float, largest random shift as a fraction of the image side (training only).
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    if training and translate:
        shift = keras.layers.RandomTranslation(translate, translate, fill_mode="constant", seed=seed)
        dataset = dataset.map(lambda x, y: (shift(x, training=True), y), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def _source(source, split):
    if isinstance(source, Source):
        return source
    opened = load_source(source, split)
    if opened is None:
        raise ValueError(f"`source` {source!r} has no evaluation split (validation, val or test).")
    return opened


def _check_batch_size(batch_size):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")


def _decoded(image, source, channels):
    if source.files:
        image = tf.io.read_file(image)
    if source.encoded:
        return transforms.decode_image(image, channels)
    return transforms.to_channels(image, channels)


def _decode(dataset, source, transform, deterministic):
    """Maps `transform` in parallel; for encoded sources, drops and counts elements that fail.

    `source.skipped.seen` counts the elements going in, `kept` those coming out, so the
    difference is what `ignore_errors` dropped: unreadable files and corrupt images.
    """
    if not source.encoded:
        return dataset.map(transform, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    skipped = source.skipped

    def seen(*element):
        with tf.control_dependencies([skipped.seen.assign_add(1)]):
            return tf.nest.map_structure(tf.identity, element)

    def kept(*element):
        with tf.control_dependencies([skipped.kept.assign_add(1)]):
            return tf.nest.map_structure(tf.identity, element)

    dataset = dataset.map(seen).map(transform, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return dataset.ignore_errors().map(kept)


def _checked_label(label, num_classes):
    check = tf.debugging.assert_less(
        label, tf.cast(num_classes, label.dtype), message=f"label out of range: labels must lie in [0, {num_classes})"
    )
    with tf.control_dependencies([check, tf.debugging.assert_non_negative(label, message="label out of range: negative")]):
        return tf.identity(label)


def _map(dataset, function, parallel):
    if parallel is None:
        return dataset.map(function)
    return dataset.map(function, num_parallel_calls=parallel, deterministic=False)


def _augmented(layer, image):
    return tf.cast(layer(image, training=True), tf.float32)


def _finish(dataset, num_classes, one_hot, labels, batch_augmentation, parallel, deterministic):
    if one_hot or (batch_augmentation is not None and getattr(batch_augmentation, "mixes_labels", False)):
        if not one_hot:
            raise ValueError("`batch_augmentation` mixes labels, which needs `one_hot=True`.")
        dataset = dataset.map(lambda images, y: (images, tf.one_hot(y, num_classes)), num_parallel_calls=AUTOTUNE)
    if batch_augmentation is not None:
        dataset = _map(dataset, batch_augmentation, parallel)
    if not labels:
        dataset = dataset.map(lambda images, y: images)
    options = tf.data.Options()
    options.deterministic = deterministic
    return dataset.with_options(options).prefetch(AUTOTUNE)
