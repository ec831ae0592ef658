"""`kvit quickstart`: train a small ViT on the embedded digits (the `quickstart` recipe), evaluate it
held out, save it, then ship it: convert it to TFLite for phones, score and time each conversion."""

import os

from kvit.recipes import train as recipes
from kvit.datasets import load_digits

IMAGE_SIZE = 32


def train(output_dir="kvit-quickstart", epochs=30, seed=0, verbose=1):
    """Trains the `quickstart` recipe's ViT and saves it as `<output_dir>/quickstart_vit.keras`.

    Returns:
        dict with `model`, `path`, `accuracy` (held-out top-1), `seconds` and the data splits.
    """
    result = recipes.train(
        "quickstart",
        output=output_dir,
        overrides=[f"schedule.epochs={epochs}", f"run.seed={seed}"],
        print_config=None,
        verbose=verbose,
    )
    (x_train, y_train), (x_test, y_test) = load_digits(IMAGE_SIZE, seed=0)
    return dict(
        model=result.model,
        path=result.path,
        accuracy=result.accuracy,
        seconds=result.seconds,
        train=(x_train, y_train),
        test=(x_test, y_test),
    )


PHONE_MODES = ("float32", "dynamic", "int8", "mixed")


def phone_step(result, output_dir="kvit-quickstart", num_threads=None, runs=50, verbose=False):
    """Converts the trained quickstart model for phones and measures each conversion.

    Each of `PHONE_MODES` is converted (int8 and mixed calibrated on the first 200 training digits),
    written next to the `.keras` file, scored on the held-out digits with the LiteRT interpreter
    and timed at batch 1 under XNNPACK.

    Args:
        result: what `train` returned.
        output_dir: folder the `.tflite` files are written to.
        num_threads: int, interpreter threads; None uses every available core.
        runs: int, timed invocations per model.
        verbose: bool, show the converter's native log lines.

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
            model,
            path,
            quantization=mode,
            representative_data=x_train if mode in tflite.CALIBRATED_MODES else None,
            verbose=verbose,
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
