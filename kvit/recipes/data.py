"""Where training images come from: one `Source` for tensorflow-datasets, folders, TFRecords, arrays, digits.

`load_source(source, split)` names the data the way `kvit train --data` does and returns an
unbatched `tf.data.Dataset` of `(image, label)` with what the pipelines need to know about it;
`kvit.recipes.pipeline` decodes, crops and batches it. Nothing here downloads: tensorflow-datasets
is read with `download=False` from `data_dir` (default `$TFDS_DATA_DIR`, else
`~/tensorflow_datasets`), so a dataset prepared once is read offline ever after.
"""

import dataclasses
import glob
import os

import numpy as np
import tensorflow as tf

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Split names tried, in order, for `split="auto"` on the evaluation side.
EVAL_SPLITS = ("validation", "val", "test")


class SkippedImages:
    """Counts the images a pipeline dropped because they did not read or decode.

    Pipelines add every image they start to read to `seen` and every one that decoded to `kept`;
    between epochs, when no image is in flight, `count` is exactly the number skipped so far.
    """

    def __init__(self):
        self.seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="images_seen")
        self.kept = tf.Variable(0, dtype=tf.int64, trainable=False, name="images_kept")

    @property
    def count(self):
        return int(self.seen.numpy() - self.kept.numpy())


@dataclasses.dataclass
class Source:
    """An unbatched dataset of `(image, label)` and what is known about it.

    Attributes:
        dataset: `tf.data.Dataset` of `(image, label)`: `image` is an encoded file (a scalar
            `tf.string`) when `encoded`, else a decoded `(height, width, channels)` tensor of
            [0, 255] pixels; `label` an int64 scalar.
        num_classes: int, labels lie in `[0, num_classes)`.
        num_examples: int, or None where unknown without a full pass (TFRecords).
        encoded: bool, whether images still need decoding.
        files: bool, whether `image` is the path of an image file to read first.
        name: str, what the source was called.
        class_names: tuple of names by label, where the source has them (folders, tfds).
        skipped: `SkippedImages` of the pipelines built on this source.
    """

    dataset: tf.data.Dataset
    num_classes: int
    num_examples: int
    encoded: bool
    name: str
    files: bool = False
    class_names: tuple = None
    skipped: SkippedImages = dataclasses.field(default_factory=SkippedImages)


def load_source(source, split="train", data_dir=None, classes=None, image_key="image", label_key="label", seed=0):
    """Opens one split of a data source.

    Args:
        source: one of
            - `"digits"`: the handwritten digits shipped with scikit-learn (`kvit.datasets.load_digits`),
              8x8 grey images, splits `"train"` and `"test"` (stratified, seeded);
            - a tensorflow-datasets name, optionally prefixed `"tfds:"` (`"imagenet2012"`,
              `"tfds:cifar10"`), already prepared in `data_dir`;
            - a folder of images, one sub-folder per class (`root/<class>/*.jpg`), or one
              sub-folder per split holding those (`root/train/<class>/...`, `root/val/...`);
            - TFRecord files of `tf.train.Example`s with an encoded image under `image_key` and an
              int64 label under `label_key`: a path or glob, where `{split}` stands for the split
              (`"shards/{split}-*.tfrecord"`); needs `classes`;
            - a `.npz` file with `images` and `labels` (one split, `"train"`) or with
              `x_<split>`/`y_<split>` arrays (the `keras.datasets` layout);
            - a tuple `(images, labels)` of arrays: `(n, height, width, channels)` [0, 255] pixels
              and `(n,)` integer labels (one split).
        split: the split's name; `"auto"` picks the first of `EVAL_SPLITS` the source has.
        data_dir: tensorflow-datasets' data folder; None for its default.
        classes: int, the number of classes; required for TFRecords, else checked against the
            labels when given.
        image_key, label_key: feature names of tensorflow-datasets and TFRecord examples.
        seed: int, seed of the order tensorflow-datasets reads its files in.

    Returns:
        A `Source`; None for `split="auto"` when the source has no evaluation split.

    Raises:
        ValueError: for an unknown source or split, an empty folder, labels out of range, or a
            tensorflow-datasets name that is not prepared in `data_dir`.
    """
    if isinstance(source, tuple):
        if split == "auto":
            return None
        if split != "train":
            raise ValueError(f"`split` {split!r} of in-memory arrays: arrays hold one split, 'train'.")
        return _arrays(*source, classes=classes, name="arrays")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"`source` must be a name, a path or an (images, labels) tuple, got {type(source).__name__}.")
    source = os.fspath(source)
    if source == "digits":
        return _digits(split)
    if os.path.isdir(source):
        return _image_folder(source, split)
    if source.endswith(".npz"):
        return _npz(source, split, classes)
    if "tfrecord" in os.path.basename(source).lower() or glob.glob(source.replace("{split}", "*")):
        return _tfrecords(source, split, classes, image_key, label_key)
    return _tfds(source.removeprefix("tfds:"), split, data_dir, classes, image_key, label_key, seed)


def check_labels(labels, num_classes, name="labels"):
    """Raises a ValueError unless every label is an integer in `[0, num_classes)`."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`{name}` must be a 1-D array of integer class indices, got {labels.dtype} {labels.shape}.")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(
            f"`{name}` must lie in [0, {num_classes}); {bad.size} do not (e.g. {sorted(set(bad.tolist()))[:5]})."
        )


def write_tfrecords(path, images, labels, image_key="image", label_key="label"):
    """Writes `(n, h, w, c)` uint8 images as PNG `tf.train.Example`s with int64 labels: a TFRecord source."""
    with tf.io.TFRecordWriter(path) as writer:
        for image, label in zip(images, labels):
            encoded = tf.io.encode_png(np.asarray(image, dtype=np.uint8)).numpy()
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                        label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                    }
                )
            )
            writer.write(example.SerializeToString())


def _arrays(images, labels, classes, name):
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"`images` must be a non-empty (n, height, width, channels) array, got shape {images.shape}.")
    if len(labels) != len(images):
        raise ValueError(f"`labels` has {len(labels)} entries for {len(images)} images.")
    labels = labels.astype(np.int64) if np.issubdtype(labels.dtype, np.integer) else labels
    num_classes = classes or int(labels.max()) + 1
    check_labels(labels, num_classes)
    dataset = tf.data.Dataset.from_tensor_slices((images.astype(np.float32), labels))
    return Source(dataset, num_classes, len(images), encoded=False, name=name)


def _digits(split):
    from kvit.datasets import load_digits

    splits = dict(zip(("train", "test"), load_digits(image_size=8)))
    split = "test" if split == "auto" else split
    if split not in splits:
        raise ValueError(f"`split` of the digits must be 'train' or 'test', got {split!r}.")
    images, labels = splits[split]
    source = _arrays(images, labels, classes=10, name="digits")
    source.class_names = tuple(str(i) for i in range(10))
    return source


def _npz(path, split, classes):
    if not os.path.isfile(path):
        raise ValueError(f"`source` {path!r}: no such .npz file.")
    with np.load(path, allow_pickle=False) as arrays:
        keys = set(arrays.files)
        if {"images", "labels"} <= keys:
            if split not in ("train", "auto"):
                raise ValueError(f"`split` {split!r}: {path} holds one split ('train') as images/labels.")
            if split == "auto":
                return None
            return _arrays(arrays["images"], arrays["labels"], classes, name=path)
        available = sorted(k[2:] for k in keys if k.startswith("x_") and f"y_{k[2:]}" in keys)
        if split == "auto":
            split = next((s for s in EVAL_SPLITS if s in available), None)
            if split is None:
                return None
        if split not in available:
            raise ValueError(
                f"`split` {split!r} is not in {path}: it has images/labels or x_<split>/y_<split> "
                f"arrays for splits {available}."
            )
        return _arrays(arrays[f"x_{split}"], arrays[f"y_{split}"], classes, name=path)


def _image_folder(root, split):
    splits = {name: os.path.join(root, name) for name in sorted(os.listdir(root)) if _has_class_folders(os.path.join(root, name))}
    split_layout = bool(splits) and all(name in ("train", *EVAL_SPLITS) for name in splits)
    if split_layout:
        if split == "auto":
            split = next((s for s in EVAL_SPLITS if s in splits), None)
            if split is None:
                return None
        if split not in splits:
            raise ValueError(f"`split` {split!r} is not a sub-folder of {root!r}; it has {sorted(splits)}.")
        folder = splits[split]
    else:
        if split == "auto":
            return None
        if split != "train":
            raise ValueError(
                f"`split` {split!r}: {root!r} holds class folders, not split folders "
                f"(train/{'/'.join(EVAL_SPLITS)}), so it has only the 'train' split."
            )
        folder = root
    class_names = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for directory, _, files in sorted(os.walk(os.path.join(folder, name))):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_SUFFIXES):
                    paths.append(os.path.join(directory, file))
                    labels.append(label)
    if not paths:
        raise ValueError(
            f"`source` folder {folder!r} holds no images ({', '.join(IMAGE_SUFFIXES)}) in class "
            "sub-folders; expected <folder>/<class>/<image> (or <folder>/<split>/<class>/<image>)."
        )
    dataset = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, np.int64)))
    # Files are read in the pipeline's parallel map, where one that is unreadable counts as skipped.
    return Source(
        dataset, len(class_names), len(paths), encoded=True, name=root, files=True, class_names=tuple(class_names)
    )


def _has_class_folders(path):
    return os.path.isdir(path) and any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path))


def _tfrecords(pattern, split, classes, image_key, label_key):
    if "{split}" in pattern:
        if split == "auto":
            split = next((s for s in EVAL_SPLITS if glob.glob(pattern.format(split=s))), None)
            if split is None:
                return None
        pattern = pattern.format(split=split)
    elif split == "auto":
        return None
    elif split != "train":
        raise ValueError(f"`split` {split!r}: TFRecords {pattern!r} have no '{{split}}' in their path, so only 'train'.")
    files = sorted(glob.glob(pattern))
    if not files:
        raise ValueError(f"`source` {pattern!r} matches no TFRecord files.")
    if not classes:
        raise ValueError("TFRecord sources need `classes` (data.classes), the number of classes.")
    features = {
        image_key: tf.io.FixedLenFeature([], tf.string),
        label_key: tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(record):
        example = tf.io.parse_single_example(record, features)
        return example[image_key], example[label_key]

    dataset = tf.data.Dataset.from_tensor_slices(files)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(files), 16), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return Source(dataset, classes, None, encoded=True, name=pattern)


def _tfds(name, split, data_dir, classes, image_key, label_key, seed):
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ValueError(
            f"`source` {name!r} is not 'digits', a folder, a .npz or TFRecord path; as a "
            "tensorflow-datasets name it needs `pip install tensorflow-datasets`."
        ) from error
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError as error:
        raise ValueError(
            f"Unknown data `source` {name!r}: not 'digits', an existing folder, a .npz or TFRecord "
            "path, nor a tensorflow-datasets name (`tfds.list_builders()` lists them)."
        ) from error
    if not builder.is_prepared():
        raise ValueError(
            f"tensorflow-datasets has {name!r}, but it is not prepared in data_dir="
            f"{str(builder.data_dir_root)!r}; prepare it once (`tfds build {name}`, or "
            "`tfds.builder(name).download_and_prepare()`), then kvit reads it offline."
        )
    splits = builder.info.splits
    if split == "auto":
        split = next((s for s in EVAL_SPLITS if s in splits), None)
        if split is None:
            return None
    if split not in splits:
        raise ValueError(f"`split` {split!r} is not in tensorflow-datasets {name!r}; it has {sorted(splits)}.")
    features = builder.info.features
    if image_key not in features or label_key not in features:
        raise ValueError(
            f"tensorflow-datasets {name!r} has features {sorted(features)}; expected {image_key!r} and "
            f"{label_key!r} (set data.image_key / data.label_key)."
        )
    label_feature = features[label_key]
    num_classes = getattr(label_feature, "num_classes", None) or classes
    if not num_classes:
        raise ValueError(f"tensorflow-datasets {name!r} does not say how many classes it has; set `classes`.")
    encoded = isinstance(features[image_key], tfds.features.Image)
    dataset = tfds.load(
        name,
        split=split,
        data_dir=data_dir,
        download=False,
        decoders={image_key: tfds.decode.SkipDecoding()} if encoded else None,
        read_config=tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=16),
        shuffle_files=split == "train",
    )
    dataset = dataset.map(lambda example: (example[image_key], tf.cast(example[label_key], tf.int64)))
    names = tuple(label_feature.names) if hasattr(label_feature, "names") else None
    return Source(dataset, num_classes, splits[split].num_examples, encoded=encoded, name=name, class_names=names)
