"""Image classification of files, as `kvit predict` runs it: a model, its evaluation transform, top-k."""

import os

import keras
import numpy as np
import tensorflow as tf

from kvit import applications
from kvit.applications.application import preset_for
from kvit.applications.imagenet import NUM_CLASSES
from kvit.constants import DEFAULT_CROP_PCT
from kvit.recipes.transforms import decode_image, eval_transform

# timm's defaults, for models that carry no preset (a `.tflite`, a `.keras` of one's own).
DEFAULT_INTERPOLATION = "bicubic"


class Classifier:
    """An image classifier over files: a kvit application, a `.keras` file or a `.tflite` file.

    Images are decoded and brought to the model's input size with the evaluation transform of the
    checkpoint (`eval_transform` with the preset's `crop_pct` and interpolation; a `.keras` file
    saved from an application by its default name finds its preset too; otherwise timm's defaults,
    0.875 and bicubic), then classified.

    Args:
        model: an application name (`"ViTS16"`), or the path of a `.keras` or `.tflite` file.
        weights: for an application name: `"imagenet"` (default), a weights file, or None (random).
        crop_pct: float, overrides the transform's crop fraction.
        interpolation: str, overrides the transform's interpolation.
        num_threads: int, threads of the LiteRT interpreter (`.tflite` only).
    """

    def __init__(self, model, weights="imagenet", crop_pct=None, interpolation=None, num_threads=None):
        preset = None
        self.interpreter = self.model = None
        if isinstance(model, str) and model in applications.names(applications.registry.CLASSIFICATION):
            self.model = applications.get(model, weights=weights)
            preset = applications.PRESETS[model]
            shape = tuple(self.model.inputs[0].shape[1:])
        elif isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith((".keras", ".tflite")):
            path = os.fspath(model)
            if not os.path.isfile(path):
                raise ValueError(f"`model` {path!r} does not exist.")
            if path.endswith(".tflite"):
                from kvit import tflite

                self.interpreter = tflite.Interpreter(path, num_threads=num_threads)
                shape = tuple(self.interpreter.input_shape[1:])
            else:
                self.model = keras.saving.load_model(path, compile=False, safe_mode=True)
                shape = tuple(self.model.inputs[0].shape[1:])
                preset = _preset_named(self.model.name)
        else:
            raise ValueError(
                f"`model` must be an application name ({', '.join(applications.names(applications.registry.CLASSIFICATION))}) "
                f"or the path of a .keras or .tflite file, got {model!r}."
            )
        if len(shape) != 3 or None in shape or shape[-1] not in (1, 3):
            raise ValueError(
                f"`model` {model!r} does not take images: its input is {shape}, expected (height, "
                "width, 1 or 3 channels) of static size."
            )
        self.size, self.channels = shape[:2], shape[-1]
        if preset is not None:
            preset = preset_for(preset, shape)
        self.crop_pct = crop_pct or (preset["crop_pct"] if preset else DEFAULT_CROP_PCT)
        self.interpolation = interpolation or (preset["interpolation"] if preset else DEFAULT_INTERPOLATION)

    def load(self, path):
        """Reads the image file `path` and transforms it: `(height, width, channels)` float32."""
        try:
            with open(path, "rb") as f:
                contents = f.read()
            image = decode_image(contents, self.channels)
        except OSError as error:
            raise ValueError(f"{path}: cannot be read: {error.strerror or error}") from error
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"{path}: not a JPEG, PNG, GIF or BMP image") from error
        return eval_transform(image, self.size, self.crop_pct, self.interpolation).numpy()

    def __call__(self, images):
        """Scores `(n, classes)` of a batch of transformed images."""
        if self.interpreter is not None:
            return np.asarray(self.interpreter(images))
        return np.asarray(keras.ops.convert_to_numpy(self.model.predict_on_batch(images)))


def top_classes(scores, top=5):
    """Per image, `[(class_id, name, score), ...]` best first: ImageNet names for 1000 classes,
    otherwise the class index as id and no name."""
    if scores.shape[-1] == NUM_CLASSES:
        return applications.decode_predictions(scores, top=min(top, scores.shape[-1]))
    best = np.argsort(-scores, axis=-1, kind="stable")[:, :top]
    return [[(str(i), "", float(row[i])) for i in indices] for row, indices in zip(scores, best)]


def image_files(paths):
    """The files `paths` names: files as given, and every non-hidden file of each folder, sorted."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if not name.startswith(".") and os.path.isfile(os.path.join(path, name))
            )
        else:
            files.append(path)
    return files


def _preset_named(model_name):
    for name, preset in applications.PRESETS.items():
        if preset.get("model_name", name.lower()) == model_name:
            return preset
    return None
