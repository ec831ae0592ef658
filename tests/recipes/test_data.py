import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from kvit.recipes import data, pipeline

pytestmark = pytest.mark.tensorflow


class KvitTinyImages(tfds.core.GeneratorBasedBuilder):
    """A tensorflow-datasets dataset the test prepares offline: images of varied sizes, 3 classes."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict(
            {"image": tfds.features.Image(shape=(None, None, 3)), "label": tfds.features.ClassLabel(num_classes=3)}
        )
        return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12), "test": self._generate_examples(6)}

    def _generate_examples(self, count):
        rng = np.random.default_rng(count)
        for i in range(count):
            yield i, {"image": rng.integers(0, 255, (10 + i, 12, 3), dtype=np.uint8), "label": i % 3}


def test_tensorflow_datasets_by_name_offline(tmp_path):
    KvitTinyImages(data_dir=str(tmp_path)).download_and_prepare()
    train = data.load_source("kvit_tiny_images", "train", data_dir=str(tmp_path))
    assert (train.num_examples, train.num_classes, train.encoded) == (12, 3, True)
    evaluation = data.load_source("tfds:kvit_tiny_images", "auto", data_dir=str(tmp_path))
    assert evaluation.num_examples == 6  # "auto" found the test split
    batches = list(pipeline.train_pipeline(train, 4, 8))
    assert len(batches) == 3 and batches[0][0].shape == (4, 8, 8, 3)
    labels = np.concatenate([y for _, y in pipeline.eval_pipeline(evaluation, 4, 8)])
    assert sorted(labels) == sorted(i % 3 for i in range(6))
    with pytest.raises(ValueError, match="not prepared in data_dir"):
        data.load_source("kvit_tiny_images", data_dir=str(tmp_path / "elsewhere"))
    with pytest.raises(ValueError, match="`split` 'validation' is not in"):
        data.load_source("kvit_tiny_images", "validation", data_dir=str(tmp_path))


def test_unknown_source_names():
    with pytest.raises(ValueError, match="Unknown data `source` 'no_such_dataset_anywhere'"):
        data.load_source("no_such_dataset_anywhere")


def write_image(path, shape, rng):
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)


def test_image_folders_with_and_without_splits(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        for name in ("cat", "dog"):
            os.makedirs(tmp_path / split / name)
            for i in range(count):
                write_image(tmp_path / split / name / f"{i}.png", (9, 7, 3), rng)
    train = data.load_source(str(tmp_path), "train")
    assert (train.num_examples, train.class_names) == (6, ("cat", "dog"))
    assert data.load_source(str(tmp_path), "auto").num_examples == 4
    flat = data.load_source(str(tmp_path / "train"))
    assert flat.num_examples == 6 and data.load_source(str(tmp_path / "train"), "auto") is None
    with pytest.raises(ValueError, match="only the 'train' split"):
        data.load_source(str(tmp_path / "train"), "val")


def test_empty_folder(tmp_path):
    os.makedirs(tmp_path / "cat")
    with pytest.raises(ValueError, match="holds no images"):
        data.load_source(str(tmp_path))


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        os.makedirs(tmp_path / name)
        for i in range(4):
            write_image(tmp_path / name / f"{i}.jpg", (12, 10, 3), rng)
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    source = data.load_source(str(tmp_path))
    assert source.num_examples == 10
    images = sum(int(x.shape[0]) for x, _ in pipeline.eval_pipeline(source, 3, 8))
    assert images == 8 and source.skipped.count == 2


def test_tfrecords_by_split_pattern(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("validation", 3)):
        images = rng.integers(0, 255, (count, 8, 8, 3), dtype=np.uint8)
        data.write_tfrecords(str(tmp_path / f"{split}-0.tfrecord"), images, np.arange(count) % 4)
    pattern = str(tmp_path / "{split}-*.tfrecord")
    train = data.load_source(pattern, "train", classes=4)
    assert train.num_classes == 4 and train.encoded
    assert [int(y) for _, y in pipeline.eval_pipeline(data.load_source(pattern, "auto", classes=4), 8, 8).unbatch()] == [0, 1, 2]
    with pytest.raises(ValueError, match="need `classes`"):
        data.load_source(pattern, "train")
    # Labels beyond `classes` stop the pipeline with the range in the message.
    out_of_range = data.load_source(pattern, "train", classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label out of range: labels must lie in \[0, 3\)"):
        list(pipeline.train_pipeline(out_of_range, 2, 8))


def test_arrays_npz_and_digits(tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (5, 6, 6, 3)).astype(np.float32)
    source = data.load_source((images, np.array([0, 1, 2, 1, 0])))
    assert (source.num_classes, source.num_examples, source.encoded) == (3, 5, False)
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, 2\)"):
        data.load_source((images, np.array([0, 1, 2, 1, 0])), classes=2)
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, 3\)"):
        data.load_source((images, np.array([0, 1, -1, 1, 0])), classes=3)
    np.savez(tmp_path / "set.npz", x_train=images, y_train=np.arange(5) % 2, x_test=images[:2], y_test=[1, 0])
    assert data.load_source(str(tmp_path / "set.npz"), "auto").num_examples == 2
    digits = data.load_source("digits", "test")
    assert (digits.num_examples, digits.num_classes) == (360, 10)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_source("digits", "validation")
