"""Fixtures of the TFLite tests: the tiny models, converted once per session."""

import types

import keras
import pytest
from tflite_models import random_images, tiny_vit

from kvit import tflite


@pytest.fixture(scope="session")
def vit():
    """The tiny ViT with its float32 and full-int8 conversions, and images like the calibration's."""
    keras.utils.set_random_seed(0)  # session fixtures are built before the per-test seeding
    model = tiny_vit()
    return types.SimpleNamespace(
        model=model,
        images=random_images(3),
        float32=tflite.convert(model),
        int8=tflite.convert(model, quantization="int8", representative_data=random_images(64, seed=1)),
    )
