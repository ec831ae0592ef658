"""`kvit quickstart`: train a small ViT on the embedded digits, evaluate it held out, save it,
then ship it: convert it to TFLite for phones, score and time each conversion."""

import os
import time

import keras

from kvit.files import atomic_output
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
    with atomic_output(path) as temporary:
        model.save(temporary)
    return dict(
        model=model,
        path=path,
        accuracy=float(accuracy),
        seconds=seconds,
        train=(x_train, y_train),
        test=(x_test, y_test),
    )


PHONE_MODES = ("float32", "dynamic", "int8", "mixed")


def phone_step(result, output_dir="kvit-quickstart", num_threads=None, runs=50):
    """Converts the trained quickstart model for phones and measures each conversion.

    Each of `PHONE_MODES` is converted (int8 and mixed calibrated on the first 200 training digits),
    written next to the `.keras` file, scored on the held-out digits with the LiteRT interpreter
    and timed at batch 1 under XNNPACK.

    Args:
        result: what `train` returned.
        output_dir: folder the `.tflite` files are written to.
        num_threads: int, interpreter threads; None uses every available core.
        runs: int, timed invocations per model.

    Returns:
        A list of rows, one per mode: dicts with `mode`, `path`, `size_kb`, `accuracy` (held-out
        top-1), `agreement` (top-1 agreement with the Keras model) and `median_ms`.
    """
    from kvit import tflite

    model = result["model"]
    x_train, _ = result["train"]
    x_test, y_test = result["test"]
    rows = []
    for mode in PHONE_MODES:
        path = os.path.join(output_dir, f"quickstart_vit_{mode}.tflite")
        content = tflite.convert(
            model, path, quantization=mode, representative_data=x_train if mode in tflite.CALIBRATED_MODES else None
        )
        scores = tflite.evaluate(path, x_test, y_test, keras_model=model, num_threads=num_threads)
        timing = tflite.benchmark(path, num_threads=num_threads, runs=runs, runtimes=("xnnpack",))
        rows.append(
            dict(
                mode=mode,
                path=path,
                size_kb=len(content) / 1024,
                accuracy=scores["accuracy"],
                agreement=scores["agreement"],
                median_ms=timing["xnnpack"]["median_ms"],
            )
        )
    return rows
