"""The `kvit` command line. Quiet by default: TensorFlow's and absl's logs appear with --verbose."""

import argparse
import functools
import logging
import os
import sys

# Full int8 may lose at most this many points of held-out accuracy against float32.
INT8_BUDGET_POINTS = 1


def quickstart(args):
    from kvit.recipes import quickstart as recipe

    result = recipe.train(args.output, epochs=args.epochs, seed=args.seed)
    print(f"held-out accuracy: {result['accuracy']:.4f} ({len(result['test'][1])} digits)")
    print(f"training time: {result['seconds']:.1f} s")
    print(f"saved: {result['path']}")
    rows = recipe.phone_step(result, args.output, num_threads=args.threads, verbose=args.verbose)
    print()
    print(f"phone step: TFLite on the LiteRT interpreter, XNNPACK, batch 1, {_threads(args.threads)}")
    print(f"{'model':<10} {'size':>10} {'held-out acc':>13} {'agreement':>10} {'median':>10}")
    print(f"{'keras':<10} {'':>10} {result['accuracy']:>13.4f} {'':>10} {'':>10}")
    for row in rows:
        print(
            f"{row['mode']:<10} {row['size_kb']:>7.1f} KB {row['accuracy']:>13.4f} "
            f"{row['agreement']:>10.4f} {row['median_ms']:>7.3f} ms"
        )
    accuracy = {row["mode"]: row["accuracy"] for row in rows}
    points = 100 * (accuracy["int8"] - accuracy["float32"])
    budget = "within" if points >= -INT8_BUDGET_POINTS else "OVER"
    print(
        f"full int8 vs float32: {points:+.2f} accuracy points "
        f"({budget} the {INT8_BUDGET_POINTS}-point budget)"
    )
    print(f"saved: {', '.join(row['path'] for row in rows)}")
    return 0


def train(args):
    from kvit.recipes import config
    from kvit.recipes import train as recipes

    if args.recipe == "list":
        for name in config.recipe_names():
            print(f"{name:<20} {config.load(name).description}")
        return 0
    result = recipes.train(args.recipe, data=args.data, output=args.output, overrides=args.set)
    if result.accuracy is not None:
        count = result.eval_source.num_examples
        print(f"held-out accuracy: {result.accuracy:.4f}" + (f" ({count} images)" if count else ""))
    print(f"training time: {result.seconds:.1f} s (epochs {result.initial_epoch + 1}-{result.epochs})")
    print(f"saved: {result.path}" + (f", best: {result.best_path}" if result.best_path else ""))
    return 0


def pretrain(args):
    from kvit.recipes import pretrain as recipe

    result = recipe.pretrain(args.recipe, data=args.data, output=args.output, overrides=args.set, grid_images=args.grid_images)
    print(f"final loss: {result.loss:.4f}; pretraining time: {result.seconds:.1f} s (epochs {result.initial_epoch + 1}-{result.epochs})")
    if result.grids:
        print(f"reconstructions: {result.grids[-1]}")
    print(f"saved: {result.path}, encoder for fine-tuning: {result.encoder_path}")
    return 0


def convert(args):
    import numpy as np

    from kvit import tflite

    calibration = args.calibration
    if calibration is not None and calibration.endswith(".npy"):
        try:
            calibration = np.load(calibration, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"`--calibration` {calibration!r} is not a readable .npy array: {error}") from error
    mode = "int8" if args.edgetpu else args.quantization
    if args.report and calibration is None:
        raise ValueError("`--report` needs `--calibration`: the report runs its first images through both files.")
    suffix = "" if mode == "float32" else f"_{mode}"
    output = args.output or f"{os.path.splitext(args.model)[0]}{suffix}.tflite"
    content = tflite.convert(
        args.model,
        output,
        quantization=mode,
        representative_data=calibration,
        edgetpu=args.edgetpu,
        batch_size=args.batch_size,
        io_dtype=args.io_dtype,
        per_channel=not args.per_tensor,
        calibration_size=args.calibration_size,
        verbose=args.verbose,
    )
    graph = tflite.inspect_model(content)
    (tensor,) = graph.inputs
    print(
        f"saved: {output} ({len(content) / 1024:.1f} KB, {len(graph.operators)} ops, "
        f"{mode}, input {tensor.dtype} {tensor.shape})"
    )
    islands = graph.float_operators()
    if mode in ("int8", "int16x8"):  # "mixed" keeps its float ops on purpose
        print("fully integer" if not islands else f"float ops left: {sorted({op.type for op in islands})}")
    if args.report:
        report = tflite.quantization_report(
            args.model,
            mode,
            representative_data=calibration,
            quantized_model=content if args.batch_size == 1 else None,
            calibration_size=args.calibration_size,
        )
        print()
        print(report.table(args.report))
    return 0


def bench(args):
    from kvit import tflite

    results = tflite.benchmark(
        args.model,
        num_threads=args.threads,
        warmup_runs=args.warmup,
        runs=args.runs,
        runtimes=args.runtimes,
    )
    batch = tflite.Interpreter(args.model).input_shape[0]
    print(f"{args.model}: batch {batch}, {_threads(args.threads)}, {args.runs} runs")
    print(f"{'runtime':<10} {'median':>10} {'p90':>10} {'img/s':>9} {'partitions':>11}")
    for name, result in results.items():
        print(
            f"{name:<10} {result['median_ms']:>7.3f} ms {result['p90_ms']:>7.3f} ms "
            f"{result['images_per_second']:>9.1f} {result['partitions']:>11}"
        )
    return 0


def edgetpu(args):
    from kvit import tflite

    report = tflite.edgetpu_report(args.model)
    print(report)
    return 0 if report.mapped_operators == len(report.operators) else 1


def list_command(args):
    from kvit import applications

    rows = applications.list_models(args.names or None)
    checkpoint = 'checkpoint (weights="imagenet")'
    print(f"{'model':<16} {'params':>8} {'GFLOPs':>7} {'size':>5}  {checkpoint:<54} licence")
    for row in rows:
        print(
            f"{row['name']:<16} {row['params'] / 1e6:>7.2f}M {_gflops(row['gflops']):>7} {row['image_size']:>5}  "
            f"{row['hub_id']:<54} {row['license']}"
        )
    print(
        "GFLOPs: one image at the default size, a multiply-add counted as two (matmuls and convolutions); "
        "MAE*: the autoencoders of `kvit pretrain`, decoders included, not counted."
    )
    return 0


def _gflops(gflops):
    return "-" if gflops is None else f"{gflops:.2f}"


def predict(args):
    from kvit.recipes.predict import Classifier, image_files, top_classes

    weights = None if args.weights == "none" else args.weights
    classifier = Classifier(args.model, weights, args.crop_pct, args.interpolation, args.threads)
    files = image_files(args.images)
    if not files:
        raise ValueError(f"`images` {args.images} name no files.")
    show_progress = any(os.path.isdir(path) for path in args.images)
    bar = None
    if show_progress:
        import keras

        bar = keras.utils.Progbar(len(files), unit_name="image")
    results, batch, batch_files = [], [], []

    def flush():
        if batch:
            import numpy as np

            for path, top in zip(batch_files, top_classes(classifier(np.stack(batch)), args.top)):
                results.append((path, top))
            batch.clear()
            batch_files.clear()

    for index, path in enumerate(files):
        try:
            batch.append(classifier.load(path))
            batch_files.append(path)
        except ValueError as error:
            results.append((path, str(error)))
        if len(batch) == args.batch_size:
            flush()
        if bar is not None:
            bar.update(index + 1)
    flush()
    failed = 0
    for path, top in sorted(results, key=lambda result: files.index(result[0])):
        if isinstance(top, str):
            failed += 1
            print(f"{top}", file=sys.stderr)
            continue
        print(path)
        for rank, (class_id, name, score) in enumerate(top, 1):
            print(f"  {rank:>2}  {class_id:<10} {name:<32} {score:.4f}")
    if failed:
        print(f"{failed} of {len(files)} files could not be read as images", file=sys.stderr)
    return 1 if failed == len(files) else 0


def _threads(num_threads):
    from kvit.tflite.interpreter import available_cores

    count = num_threads or available_cores()
    return f"{count} thread{'s' if count > 1 else ''}"


def build_parser():
    from kvit.tflite.benchmark import RUNTIMES
    from kvit.tflite.converter import QUANTIZATION_MODES

    # --verbose is read by `kvit_cli` before anything imports TensorFlow; here it is documented.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", help="show TensorFlow's, absl's and the converter's logs")
    parser = argparse.ArgumentParser(prog="kvit", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = functools.partial(commands.add_parser, parents=[common])

    p = add_parser(
        "quickstart",
        help="train a small ViT on the embedded digits, save it, and convert it for phones (the main job)",
    )
    p.add_argument("--output", default="kvit-quickstart", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads (default: all cores)")
    p.set_defaults(run=quickstart)

    p = add_parser(
        "train",
        help="train with a recipe (DeiT, Swin, MobileViT, EfficientViT, ...); prints the resolved recipe; "
        "resumes the run in --output",
    )
    p.add_argument("--recipe", required=True, help="a recipe name ('list' lists them) or a .toml file")
    p.add_argument("--data", help="tfds name, image folder, TFRecord glob, .npz or 'digits' (default: the recipe's)")
    p.add_argument("--output", help="run folder: checkpoints, logs, best model (default: kvit-runs/RECIPE)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set optimizer.lr=1e-3 (repeatable)",
    )
    p.set_defaults(run=train)

    p = add_parser(
        "pretrain",
        help="MAE pretraining without labels (the embedded digits by default); a reconstruction PNG per "
        "epoch; resumes the run in --output",
        description="Masked-autoencoder pretraining with a recipe (`task = \"mae_pretraining\"`). The official "
        "MAE weights (--set model.name=MAEViTB16 --set model.weights=imagenet, likewise MAEViTL16, MAEViTH14) are "
        "CC-BY-NC-4.0: non-commercial use only.",
    )
    p.add_argument("--recipe", default="mae_digits", help="a recipe name or a .toml file (default: %(default)s)")
    p.add_argument("--data", help="tfds name, image folder, TFRecord glob, .npz or 'digits' (default: the recipe's)")
    p.add_argument("--output", help="run folder: checkpoints, logs, reconstructions, models (default: kvit-runs/RECIPE)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set schedule.epochs=10 (repeatable)",
    )
    p.add_argument("--grid-images", type=int, default=8, help="held-out images in each reconstruction PNG (default: %(default)s)")
    p.set_defaults(run=pretrain)

    p = add_parser("convert", help="convert a .keras model to a builtin-only .tflite")
    p.add_argument("model", help="the .keras file")
    p.add_argument("-o", "--output", help="the .tflite file (default: next to the model, named by mode)")
    p.add_argument("--quantization", default="float32", choices=QUANTIZATION_MODES, help="(default: %(default)s)")
    p.add_argument(
        "--calibration",
        help="calibration images for int8/mixed/int16x8: 'digits', an image folder, or a .npy array "
        "(n, height, width, channels) of [0, 255] pixels",
    )
    p.add_argument("--calibration-size", type=int, default=200, help="most calibration images (default: %(default)s)")
    p.add_argument("--io-dtype", help="input/output type: int8|uint8|float32 for int8, int16|float32 for int16x8")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default: per channel)")
    p.add_argument("--edgetpu", action="store_true", help="for the Edge TPU compiler: full int8, batch 1, uint8 I/O")
    p.add_argument("--batch-size", type=int, default=1, help="static batch size (default: %(default)s)")
    p.add_argument(
        "--report", type=int, nargs="?", const=10, default=0, metavar="N",
        help="after converting, print the N tensors (default 10) with the largest quantization error against "
        "float32, by Keras layer (kvit.tflite.quantization_report; needs --calibration, whose first images it runs)",
    )
    p.set_defaults(run=convert)

    p = add_parser("bench", help="time a .tflite model with and without XNNPACK")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads (default: all cores)")
    p.add_argument("--runs", type=int, default=50, help="timed runs (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default: %(default)s)")
    p.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES), help="(default: both)")
    p.set_defaults(run=bench)

    p = add_parser(
        "edgetpu",
        help="check a .tflite against the Edge TPU's published rules (static: the compiler does not "
        "run); exit status 1 when some op would fall back to the CPU",
    )
    p.add_argument("model", help="the .tflite file")
    p.set_defaults(run=edgetpu)

    p = add_parser("list", help="every application: parameters, GFLOPs, default size, checkpoint, licence")
    p.add_argument("names", nargs="*", help="application names (default: all)")
    p.set_defaults(run=list_command)

    p = add_parser("predict", help="classify image files with an application, a .keras or a .tflite model")
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, GIF, BMP) or folders of them")
    p.add_argument("--model", required=True, help="an application name (see `kvit list`), a .keras or a .tflite file")
    p.add_argument(
        "--weights", default="imagenet",
        help="with an application name: 'imagenet' (default), a weights file, or 'none' (random)",
    )
    p.add_argument("--top", type=int, default=5, help="classes shown per image (default: %(default)s)")
    p.add_argument("--crop-pct", type=float, help="center-crop fraction (default: the checkpoint's, else 0.875)")
    p.add_argument("--interpolation", help="resize interpolation (default: the checkpoint's, else bicubic)")
    p.add_argument("--batch-size", type=int, default=16, help="images per call (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads for .tflite (default: all cores)")
    p.set_defaults(run=predict)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.verbose:
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return args.run(args)
    except (ValueError, ImportError) as error:  # ImportError: an extra that is not installed
        print(f"kvit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
