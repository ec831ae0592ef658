"""`kvit predict` and what it stands on: timm's evaluation transform, decoding, top-k per file."""


import keras
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

import kvit
from kvit import cli, tflite
from kvit.recipes.predict import Classifier
from kvit.testing import create_timm_model

RNG = np.random.default_rng(0)


def smooth_image(height, width):
    y, x = np.mgrid[0:height, 0:width]
    waves = np.sin(x / 17.0)[..., None] * np.cos(y / 23.0)[..., None] * np.array([1.0, 0.6, -0.8])
    return (127 + 100 * waves).astype("uint8")


def write_images(folder):
    Image.fromarray(smooth_image(300, 400)).save(folder / "a.jpg", quality=95)
    Image.fromarray(smooth_image(240, 180)).save(folder / "b.png")
    (folder / "c.png").write_text("not an image")
    (folder / ".hidden").write_text("skipped")


def test_predict_a_folder_with_a_checkpoint(tmp_path, capsys):
    _, state = create_timm_model("vit_tiny_patch16_224")
    checkpoint = str(tmp_path / "vit.safetensors")
    save_file(state, checkpoint)
    folder = tmp_path / "images"
    folder.mkdir()
    write_images(folder)

    assert cli.main(["predict", str(folder), "--model", "ViTTi16", "--weights", checkpoint, "--top", "3"]) == 0
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-2:] == [f"{folder / 'c.png'}: not a JPEG, PNG, GIF or BMP image",
                                             "1 of 3 files could not be read as images"]
    classifier = Classifier("ViTTi16", weights=checkpoint)
    assert (classifier.crop_pct, classifier.interpolation, classifier.size) == (0.9, "bicubic", (224, 224))
    blocks = out.split(str(folder))[1:]
    assert [block.splitlines()[0] for block in blocks] == ["/a.jpg", "/b.png"]
    for name, block in zip(("a.jpg", "b.png"), blocks):
        scores = classifier(classifier.load(str(folder / name))[None])[0]
        best = np.argsort(-scores)[:3]
        printed = [line.split() for line in block.splitlines()[1:4]]
        assert [int(row[0]) for row in printed] == [1, 2, 3]
        assert [row[-1] for row in printed] == [f"{scores[i]:.4f}" for i in best]
        assert [row[1] for row in printed] == [kvit.applications.imagenet_classes()[i][0] for i in best]


@pytest.mark.tensorflow
def test_predict_with_a_tflite_model_of_other_classes(tmp_path, capsys):
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "convnet.tflite"
    tflite.convert(keras.Model(inputs, outputs), str(path))
    image = tmp_path / "digit.png"
    Image.fromarray(smooth_image(40, 40)[..., 0]).save(image)
    assert cli.main(["predict", str(image), "--model", str(path), "--top", "2", "--crop-pct", "1.0"]) == 0
    printed = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    classifier = Classifier(str(path), crop_pct=1.0)
    scores = classifier(classifier.load(str(image))[None])[0]
    assert [int(row[1]) for row in printed] == list(np.argsort(-scores)[:2])  # class indices, no names


@pytest.mark.tensorflow
def test_a_model_that_takes_no_images_is_refused(tmp_path, capsys):
    import tensorflow as tf

    function = tf.function(lambda x: 2.0 * x).get_concrete_function(tf.TensorSpec((1, 10), tf.float32))
    path = tmp_path / "tabular.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([function]).convert())
    assert cli.main(["predict", str(tmp_path), "--model", str(path)]) == 2
    assert f"`model` '{path}' does not take images: its input is (10,)" in capsys.readouterr().err


@pytest.mark.tensorflow
@pytest.mark.parametrize("argv, message", [
    (["--model", "ViTXXL"], "`model` must be an application name"),
    (["--model", "missing.keras"], "`model` 'missing.keras' does not exist"),
])
def test_bad_models(argv, message, tmp_path, capsys):
    image = tmp_path / "a.png"
    Image.fromarray(smooth_image(20, 20)).save(image)
    assert cli.main(["predict", str(image), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.tensorflow
def test_nothing_readable(tmp_path, capsys):
    (tmp_path / "x.png").write_bytes(b"\x89PNG broken")
    assert cli.main(["predict", str(tmp_path), "--model", "ViTTi16", "--weights", "none"]) == 1
    assert "not a JPEG, PNG, GIF or BMP image" in capsys.readouterr().err
