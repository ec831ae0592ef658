"""TFLite latency of kvit's quantization modes under XNNPACK, beside kimm's export, in one run.

    python benchmarks/tflite_latency.py                       # MobileViT-XXS, MobileViT-S, ViT-Ti/16
    python benchmarks/tflite_latency.py --models all          # every kvit application
    python benchmarks/tflite_latency.py --weights random --image-size 64 --runs 5 --images 16   # smoke run

For each model, kvit converts it in every quantization mode (float32, float16, dynamic, int8,
mixed, int16x8) and times each at batch 1 on the LiteRT interpreter with XNNPACK, the models
taking `--turns` turns of runs (each figure the median turn); where kimm has
the same architecture (MobileViT, MobileViTv2, ViT), kimm's own exporter
(`kimm.export.export_tflite`) converts kimm's model at the same input size in float32 and int8, and those are timed in the
same run. It prints each latency, the ratios the targets are about, and the top-1 agreement of
each kvit conversion with the Keras model on real images: the held-out scikit-learn digits,
resized to the input and repeated over 3 channels.

Targets: kvit float32 no slower than kimm float32; for conv-heavy families (MobileViT), the
fastest quantized mode at most 0.6x kvit float32 with agreement >= 99%. Agreement means something
only with trained weights: `--weights imagenet` (the default), or `--weights digits`, which trains
the model from scratch on the training digits at `--image-size` first (`--epochs`, AdamW; its
held-out accuracy is printed) for a trained model where ImageNet weights cannot be downloaded.
With `--weights random` agreement is printed but random-weight logits make it noise. kimm's models
are timed with random weights. Random weights are noised (`kvit.testing.noise_weights`): the
converter folds away a norm left at its initial scale 1 and shift 0, which no trained model has.
Runs on the TensorFlow backend, which kimm's exporter needs. Run it alone: other jobs on the
machine's cores spoil the figures.
"""

import argparse
import contextlib
import io
import os
import tempfile

os.environ["KERAS_BACKEND"] = "tensorflow"  # before Keras is imported: kimm's exporter needs it

import numpy as np  # noqa: E402

from kvit import applications, tflite  # noqa: E402
from kvit.datasets import load_digits  # noqa: E402
from kvit.tflite.interpreter import available_cores  # noqa: E402
from kvit.testing import noise_weights  # noqa: E402
from throughput import KIMM_TWINS  # noqa: E402

DEFAULT_MODELS = ("MobileViTXXS", "MobileViTS", "ViTTi16")
CONV_HEAVY_PREFIXES = ("MobileViT", "EfficientViT")


def real_images(size, count):
    """The held-out digits, resized to `size` and repeated over 3 channels: [0, 255] floats."""
    _, (images, _) = load_digits(image_size=size)
    return np.repeat(images[:count], 3, axis=-1)


def calibration_images(size, count=200):
    """The training digits, resized the same way: what the calibrated modes calibrate on."""
    (images, _), _ = load_digits(image_size=size)
    return np.repeat(images[:count], 3, axis=-1)


def kimm_conversions(name, size, calibration):
    """`{"kimm float32": bytes, "kimm int8": bytes}` from kimm's exporter, or {} without a twin."""
    if name not in KIMM_TWINS:
        return {}
    import kimm

    model = noise_weights(
        getattr(kimm.models, KIMM_TWINS[name])(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for dtype in ("float32", "int8"):
            path = os.path.join(folder, f"{dtype}.tflite")
            with contextlib.redirect_stdout(io.StringIO()):  # Keras lists the SavedModel's endpoints
                kimm.export.export_tflite(
                    model,
                    (size, size, 3),
                    path,
                    export_dtype=dtype,
                    representative_dataset=(lambda: ([image[None]] for image in calibration))
                    if dtype == "int8"
                    else None,
                )
            with open(path, "rb") as f:
                results[f"kimm {dtype}"] = f.read()
    return results


def trained_on_digits(name, size, epochs):
    """The application trained from scratch on the training digits at `size`; prints its accuracy."""
    import keras

    from kvit.recipes.pipeline import array_pipeline

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=size)
    x_train, x_test = (np.repeat(x, 3, axis=-1) for x in (x_train, x_test))
    model = applications.get(
        name, weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None
    )
    train = array_pipeline(x_train, y_train, 32, training=True, translate=0.1)
    steps = epochs * (len(x_train) // 32)
    model.compile(
        optimizer=keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train, epochs=epochs, verbose=0)
    _, accuracy = model.evaluate(array_pipeline(x_test, y_test, 64, training=False), verbose=0)
    print(f"{name} trained on digits at {size}x{size} for {epochs} epochs: held-out accuracy {accuracy:.4f}")
    return model


def benchmark_model(name, args):
    size = args.image_size or applications.PRESETS[name]["image_size"]
    if args.weights == "digits":
        model = trained_on_digits(name, size, args.epochs)
    else:
        # Logits: an int8 softmax over 1,000 classes rounds most probabilities to the same code,
        # and its top-1 then ties; the softmax does not change the float top-1.
        weights = None if args.weights == "random" else args.weights
        model = applications.get(name, weights=weights, input_shape=(size, size, 3), classifier_activation=None)
        if weights is None:
            noise_weights(model)
    images = real_images(size, args.images)
    calibration = calibration_images(size)

    rows = {}
    for mode in tflite.QUANTIZATION_MODES:
        try:
            content = tflite.convert(
                model, quantization=mode, representative_data=calibration if mode in tflite.CALIBRATED_MODES else None
            )
        except ValueError as error:
            rows[f"kvit {mode}"] = dict(error=str(error).split(".")[0])
            continue
        agreement = tflite.evaluate(content, images, keras_model=model, num_threads=args.threads)["agreement"]
        rows[f"kvit {mode}"] = dict(content=content, agreement=agreement)
    for label, content in kimm_conversions(name, size, calibration).items():
        rows[label] = dict(content=content)
    timed = {label: row for label, row in rows.items() if "content" in row}
    turns = {label: [] for label in timed}
    # The models take turns, so a slow spell of the machine falls on all of them alike.
    for _ in range(args.turns):
        for label, row in timed.items():
            turns[label].append(
                tflite.benchmark(
                    row["content"],
                    num_threads=args.threads,
                    warmup_runs=max(1, args.warmup // args.turns),
                    runs=max(1, args.runs // args.turns),
                    runtimes=("xnnpack",),
                )["xnnpack"]
            )
    for label, row in timed.items():
        row.update(
            size_mb=len(row["content"]) / 2**20,
            median_ms=float(np.median([t["median_ms"] for t in turns[label]])),
            p90_ms=float(np.median([t["p90_ms"] for t in turns[label]])),
        )
    report(name, size, rows, args)


def report(name, size, rows, args):
    threads = args.threads or available_cores()
    print(f"\n{name} {size}x{size}, weights={args.weights}, XNNPACK, batch 1, {threads} threads, {args.runs} runs")
    print(f"{'tflite':<16} {'size':>9} {'median':>10} {'p90':>10} {'agreement':>10}")
    for label, row in rows.items():
        if "error" in row:
            print(f"{label:<16} n/a: {row['error']}")
            continue
        agreement = f"{row['agreement']:.4f}" if "agreement" in row else "-"
        print(
            f"{label:<16} {row['size_mb']:>6.2f} MB {row['median_ms']:>7.2f} ms {row['p90_ms']:>7.2f} ms "
            f"{agreement:>10}"
        )
    ours = rows["kvit float32"]["median_ms"]
    if "kimm float32" in rows:
        ratio = ours / rows["kimm float32"]["median_ms"]
        print(f"kvit float32 / kimm float32: {ratio:.2f}x (target <= 1.00)")
    quantized = {
        label: row for label, row in rows.items() if label.startswith("kvit") and label != "kvit float32" and "error" not in row
    }
    fastest = min(quantized, key=lambda label: quantized[label]["median_ms"])
    target = " (target <= 0.60, agreement >= 0.99)" if name.startswith(CONV_HEAVY_PREFIXES) else ""
    print(
        f"fastest quantized, {fastest}: {quantized[fastest]['median_ms'] / ours:.2f}x kvit float32, "
        f"agreement {quantized[fastest]['agreement']:.4f}{target}"
    )
    if args.weights == "random":
        print("(random weights: agreement is noise; pass --weights imagenet or digits for a meaningful one)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="application names, or 'all'")
    parser.add_argument(
        "--weights", default="imagenet", help="'imagenet' (default), 'digits', 'random', or a weights file"
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs of --weights digits (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=None, help="input side (default: the preset's)")
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads (default: all cores)")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per model (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs first (default: %(default)s)")
    parser.add_argument(
        "--turns", type=int, default=5, help="turns the models take, runs/turns runs each (default: %(default)s)"
    )
    parser.add_argument("--images", type=int, default=200, help="held-out digits for agreement (default: %(default)s)")
    args = parser.parse_args()
    classifiers = applications.names("image_classification")
    names = classifiers if args.models == ["all"] else args.models
    unknown = [name for name in names if name not in classifiers]
    if unknown:
        parser.error(f"unknown models {unknown}; kvit.applications has {classifiers}")
    for name in names:
        benchmark_model(name, args)


if __name__ == "__main__":
    main()
