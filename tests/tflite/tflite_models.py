"""Small models the TFLite tests share: they convert in seconds."""

import keras
import numpy as np

from kvit.models import ViT

IMAGE_SHAPE = (32, 32, 1)


def tiny_vit():
    """A one-block ViT on 32x32 grey images, returning logits: it converts in seconds."""
    return ViT(
        input_shape=IMAGE_SHAPE,
        patch_size=8,
        width=32,
        depth=1,
        num_heads=2,
        mlp_ratio=2.0,
        classes=10,
        name="tiny_vit",
    )


def tiny_convnet():
    """A conv classifier made only of ops the Edge TPU table lists (ReLU, no LayerNorm)."""
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu", name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="tiny_convnet")


def random_images(count, shape=IMAGE_SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, *shape)).astype("float32")
