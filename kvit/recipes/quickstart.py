"""`kvit quickstart`: train a small ViT on the embedded digits, evaluate it held out, save it."""

import os
import time

import keras

from kvit.models import ViT
from kvit.recipes.digits import load_digits
from kvit.recipes.pipeline import array_pipeline

IMAGE_SIZE = 32


def quickstart_model(classes=10):
    """A ViT for 32x32 grey digits: 4x4 patches (64 tokens), 4 blocks of width 64."""
    return ViT(
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 1),
        patch_size=4,
        width=64,
        depth=4,
        num_heads=4,
        mlp_ratio=2.0,
        classes=classes,
        classifier_activation="softmax",
        name="quickstart_vit",
    )


def train(output_dir="kvit-quickstart", epochs=30, batch_size=64, seed=0, verbose=1):
    """Trains the quickstart ViT and saves it as `<output_dir>/quickstart_vit.keras`.

    Returns:
        dict with `model`, `path`, `accuracy` (held-out top-1), `seconds` and the data splits.
    """
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits(IMAGE_SIZE, seed=seed)
    train_data = array_pipeline(x_train, y_train, batch_size, training=True, seed=seed, translate=0.1)
    test_data = array_pipeline(x_test, y_test, 256, training=False)

    model = quickstart_model()
    steps = epochs * (len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=2e-3, warmup_steps=steps // 10
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(train_data, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(test_data, verbose=0)

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "quickstart_vit.keras")
    model.save(path)
    return dict(
        model=model,
        path=path,
        accuracy=float(accuracy),
        seconds=seconds,
        train=(x_train, y_train),
        test=(x_test, y_test),
    )
