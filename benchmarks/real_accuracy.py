"""ImageNet top-1 of DeiT-Tiny/16 on real photos: Keras float32 against each TFLite mode, in one run.

    python benchmarks/real_accuracy.py                                  # 100 calibration, 400 evaluation photos
    python benchmarks/real_accuracy.py --limit 100 --modes float32 dynamic int8 mixed   # quick run

Reads `../shared/real/` (beside the repository; `--real` points elsewhere): DeiT-Tiny/16's ImageNet
weights in timm's layout (`deit_tiny_patch16_224.safetensors`) and 500 ImageNet photos
(`imagenet-sample/<wordnet id>_<name>.JPEG`, the label the WordNet id's class index). Where the
folder is absent (a user's clone has none) it says what is missing and exits with status 0.

The photos, in sorted order, are split in two disjoint sets: every `--calibration-every`-th (the
first, the sixth, ...: 100 by default) calibrates the calibrated modes (`int8`, `mixed`,
`int16x8`), and the others (400) are evaluated (the first `--limit` of them with `--limit`). Each
is decoded once, with timm's evaluation transform (bicubic resize of the shorter side to 256,
centre crop 224: `kvit.recipes.transforms.eval_transform`), and kept in memory. The Keras model
(TensorFlow backend, float32) is converted by `kvit.tflite.convert` in each of `--modes`, and each
file runs on the LiteRT interpreter with XNNPACK and `--threads` threads. Printed per mode:
top-1, its drop in points against Keras float32, the top-1 agreement with Keras, and the
conversion time (for the calibrated modes almost all of it calibration), with the calibration and
evaluation counts.
"""

import argparse
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"  # before Keras is imported: conversion runs in process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_REAL = os.path.join(os.path.dirname(ROOT), "shared", "real")
WEIGHTS = "deit_tiny_patch16_224.safetensors"
PHOTOS = "imagenet-sample"
IMAGE_SIZE = 224
DEFAULT_MODES = ("float32", "dynamic", "int8", "mixed")


def missing_parts(real):
    """What of `real` this benchmark needs is not there: a list of paths, empty when all is."""
    needed = [os.path.join(real, WEIGHTS), os.path.join(real, PHOTOS)]
    return [path for path in needed if not os.path.exists(path)]


def photo_files(real):
    """`[(path, label), ...]` of the photos, sorted by file name."""
    from kvit.applications import imagenet_classes

    index = {wordnet_id: i for i, (wordnet_id, _) in enumerate(imagenet_classes())}
    folder = os.path.join(real, PHOTOS)
    names = sorted(name for name in os.listdir(folder) if name.endswith(".JPEG"))
    return [(os.path.join(folder, name), index[name.split("_")[0]]) for name in names]


def load_photos(paths):
    """The photos through timm's evaluation transform: float32 `(n, 224, 224, 3)` in [0, 255]."""
    import numpy as np

    from kvit.recipes.transforms import decode_image, eval_transform

    images = []
    for path in paths:
        with open(path, "rb") as f:
            images.append(eval_transform(decode_image(f.read()), IMAGE_SIZE).numpy())
    return np.stack(images)


def deit_tiny(real):
    """DeiT-Tiny/16 with the real ImageNet weights, returning logits."""
    from kvit.applications import load_weights
    from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
    from kvit.models import ViT, vit

    model = ViT(
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        patch_size=16,
        width=192,
        depth=12,
        num_heads=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        name="deit_tiny",
    )
    return load_weights(model, os.path.join(real, WEIGHTS), vit.convert_timm_checkpoint, vit.HEAD_LAYERS)


def main():
    from kvit.tflite.converter import CALIBRATED_MODES, QUANTIZATION_MODES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", default=DEFAULT_REAL, help="the real-data folder (default: %(default)s)")
    parser.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), choices=QUANTIZATION_MODES,
                        help="TFLite modes (default: %(default)s)")
    parser.add_argument("--calibration-every", type=int, default=5,
                        help="every N-th photo calibrates, the others are evaluated (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N evaluation photos only")
    parser.add_argument("--threads", type=int, default=2, help="interpreter threads (default: %(default)s)")
    args = parser.parse_args()
    if args.calibration_every < 2:
        parser.error("--calibration-every must be at least 2 (else no photo is left to evaluate)")
    missing = missing_parts(args.real)
    if missing:
        print(
            f"real_accuracy: skipped, the real data is not there: missing {', '.join(missing)}. It needs "
            f"DeiT-Tiny's timm weights ({WEIGHTS}) and ImageNet photos ({PHOTOS}/<wordnet id>_<name>.JPEG) "
            "in the folder --real names."
        )
        return 0

    import numpy as np

    from kvit import tflite

    photos = photo_files(args.real)
    calibration_set = photos[:: args.calibration_every]
    evaluation_set = [p for i, p in enumerate(photos) if i % args.calibration_every][: args.limit]
    start = time.perf_counter()
    calibration = load_photos([path for path, _ in calibration_set])
    images = load_photos([path for path, _ in evaluation_set])
    labels = np.array([label for _, label in evaluation_set])
    print(f"decoded {len(calibration) + len(images)} photos in {time.perf_counter() - start:.1f} s")
    model = deit_tiny(args.real)
    keras_top1 = np.asarray(model.predict(images, batch_size=25, verbose=0)).argmax(-1)
    keras_accuracy = float(np.mean(keras_top1 == labels))

    print(
        f"DeiT-Tiny/16 on real ImageNet photos: calibration {len(calibration)} photos (one in "
        f"{args.calibration_every}), evaluation {len(images)} others; LiteRT with XNNPACK, "
        f"{args.threads} threads"
    )
    print(f"{'model':<16} {'top-1':>7} {'vs float32':>11} {'agreement':>10} {'convert s':>10}")
    print(f"{'keras float32':<16} {100 * keras_accuracy:>6.1f}% {'':>11} {'100.0%':>10} {'':>10}")
    for mode in args.modes:
        start = time.perf_counter()
        content = tflite.convert(
            model,
            quantization=mode,
            representative_data=calibration if mode in CALIBRATED_MODES else None,
            calibration_size=len(calibration),
        )
        seconds = time.perf_counter() - start
        top1 = tflite.Interpreter(content, num_threads=args.threads)(images).argmax(-1)
        accuracy = float(np.mean(top1 == labels))
        agreement = float(np.mean(top1 == keras_top1))
        print(
            f"{'tflite ' + mode:<16} {100 * accuracy:>6.1f}% {100 * (accuracy - keras_accuracy):>+10.1f} "
            f"{100 * agreement:>9.1f}% {seconds:>10.1f}"
        )
    print("convert s: conversion time; for int8, mixed and int16x8 almost all of it calibration.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
