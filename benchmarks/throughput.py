"""Inference throughput of kvit applications on each Keras runtime, beside timm and kimm, in one run.

    python benchmarks/throughput.py --models MobileViTS ViTS16
    python benchmarks/throughput.py --models SwinT --runtimes tensorflow jax --rounds 3
    python benchmarks/throughput.py --models SwinT --runtimes litert tensorflow --rounds 3
    python benchmarks/throughput.py --models MobileViTXXS --batch-sizes 1 --iters 3 --warmup 1   # smoke run

Each Keras runtime runs in its own process (Keras fixes its backend at import): TensorFlow as a
`tf.function` graph (oneDNN kernels, which win for convolutions on CPU) and with XLA
(`jit_compile=True`, which wins for plain transformers), JAX `jit` of the stateless call, PyTorch
eager under `no_grad`; and LiteRT, the runtime a converted model meets on a phone: the model
converted by `kvit.tflite.convert` to a float32 `.tflite` for each batch size (its input shape is
static), run by `kvit.tflite.Interpreter` with XNNPACK. In each process, for every model, kvit,
timm (eager under `no_grad`, the anchor: the architecture named by the preset's hub id) and kimm
(where `KIMM_TWINS` has the architecture; not on LiteRT) take turns in `--blocks` blocks of
calls, so a slow spell of the machine falls on all of them alike. Every model runs on noised
random weights (`kvit.testing.noise_weights`, `kvit.testing.create_timm_model`: no norm left at its
foldable initial value) at its preset's image size and [0, 255] pixels; PyTorch, TensorFlow and XNNPACK
use `--threads` threads, JAX XLA's default pool. TensorFlow runs with `TF_ENABLE_ONEDNN_OPTS=1`
unless the environment sets it (`onednn_setting`).

Prints images per second per model, library, runtime and batch size with the ratio to timm from
the same process, and each model's best kvit runtime against timm; with `--rounds N` every figure
is the median of N rounds. `--csv` writes the table and `--chart` a PNG bar chart (matplotlib, the
`bench` extra). Run it alone: other jobs on the machine's cores spoil the figures.
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

# Runtime name: (Keras backend, XLA on TensorFlow); the training benchmarks take these.
RUNTIMES = {
    "tensorflow": ("tensorflow", False),
    "tensorflow-xla": ("tensorflow", True),
    "jax": ("jax", None),
    "torch": ("torch", None),
}
# Inference adds LiteRT, converting in a TensorFlow process.
INFERENCE_RUNTIMES = {**RUNTIMES, "litert": ("tensorflow", None)}
# kvit application -> the kimm class of the same architecture (kimm 0.2 has no Swin or EfficientViT).
KIMM_TWINS = {
    "MobileViTXXS": "MobileViTXXS",
    "MobileViTXS": "MobileViTXS",
    "MobileViTS": "MobileViTS",
    **{f"MobileViTV2_{w}": f"MobileViTV2W{w}" for w in ("050", "075", "100", "125", "150", "175", "200")},
    "ViTTi16": "VisionTransformerTiny16",
    "ViTS16": "VisionTransformerSmall16",
    "ViTB16": "VisionTransformerBase16",
    "ViTB32": "VisionTransformerBase32",
    "ViTL16": "VisionTransformerLarge16",
}
LIBRARIES = ("timm", "kvit", "kimm")
DEFAULT_MODELS = ("ViTS16", "MobileViTXXS", "MobileViTS")


def measure(steps, iters, warmup, blocks=1):
    """Images per second of each of `steps`, `{name: (step, images)}`, from its median call.

    With `blocks` > 1 the steps take turns, `iters // blocks` timed calls at a time, so a slow
    spell of the machine falls on all of them alike instead of on whichever ran then.
    """
    for step, images in steps.values():
        for _ in range(warmup):
            step(images)
    times = {name: [] for name in steps}
    for _ in range(blocks):
        for name, (step, images) in steps.items():
            for _ in range(max(1, iters // blocks)):
                start = time.perf_counter()
                step(images)
                times[name].append(time.perf_counter() - start)
    return {name: len(steps[name][1]) / float(np.median(t)) for name, t in times.items()}


def timm_model(name):
    """timm's `name` in eval mode with the tests' noised random weights (`kvit.testing.create_timm_model`)."""
    from kvit.testing import create_timm_model

    return create_timm_model(name)[0]


def timm_name(application):
    """The timm architecture of an application: its preset's hub id without the `timm/` and the tag."""
    from kvit import applications

    return applications.PRESETS[application]["hub_id"].split("/", 1)[1].split(".", 1)[0]


def median_of_rounds(rounds):
    """The cell-wise median of nested `{key: ... {key: number}}` dicts of one shape.

    A benchmark repeats its anchor and every runtime in turn, `--rounds` times, and reports this:
    the VM's speed drifts over minutes, and a single pass can catch one side in a slow spell.
    """
    if isinstance(rounds[0], dict):
        return {key: median_of_rounds([r[key] for r in rounds]) for key in rounds[0]}
    return float(np.median(rounds))


def keras_step(model, xla=False):
    """A function `images -> outputs` that runs `model` for inference, compiled for its backend."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        call = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return lambda x: call(tv, ntv, x).block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        call = tf.function(lambda x: model(x, training=False), jit_compile=xla)
        return lambda x: call(x).numpy()
    import torch

    def step(x):
        with torch.no_grad():
            return model(x, training=False).cpu()

    return step


def litert_step(model, batch_size, threads):
    """A function `images -> outputs` that runs `model` as a float32 `.tflite` under XNNPACK.

    The conversion fixes the input shape, so each batch size gets its own model.
    """
    from kvit import tflite

    return tflite.Interpreter(tflite.convert(model, batch_size=batch_size), num_threads=threads)


def set_threads(threads):
    """Gives torch and TensorFlow (when it is the backend) `threads` intra-op threads."""
    import keras
    import torch

    torch.set_num_threads(threads)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)


def onednn_setting():
    """`TF_ENABLE_ONEDNN_OPTS` for the runtimes' processes: the caller's, else "1".

    TensorFlow turns its oneDNN graph rewrites (a MatMul, its bias and GELU as one kernel, oneDNN
    matmuls and softmax) on by itself only on some CPUs. On an AMD EPYC with AVX2 and no AVX-512
    it left them off: Swin-T's graph at batch 16 ran 1.4x faster with them on.
    """
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")


def run_runtime(script, runtime, argv=None):
    """Runs `script --runtime runtime` with this command line (or `argv`) in a fresh process.

    Returns the JSON object the process printed last.
    """
    command = [sys.executable, script, "--runtime", runtime, *(sys.argv[1:] if argv is None else argv)]
    env = {
        **os.environ,
        "KERAS_BACKEND": INFERENCE_RUNTIMES[runtime][0],
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": onednn_setting(),
    }
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode < 0:
        cause = " (SIGKILL: the out-of-memory killer, if no one else)" if -result.returncode == signal.SIGKILL else ""
        raise RuntimeError(f"{runtime} run killed by signal {-result.returncode}{cause}:\n{result.stderr[-3000:]}")
    if result.returncode != 0:
        raise RuntimeError(f"{runtime} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_backend(args):
    """Measures timm, kvit and kimm in this process: prints `{model: {library: {batch: img/s}}}`."""
    import keras
    import torch

    import kvit
    from kvit.testing import noise_weights

    set_threads(args.threads)
    litert = args.runtime == "litert"
    xla = INFERENCE_RUNTIMES[args.runtime][1]
    results = {}
    for name in args.models:
        model = noise_weights(kvit.applications.get(name))
        size = tuple(model.inputs[0].shape[1:])
        keras_steps = {} if litert else {"kvit": keras_step(model, xla)}
        if name in KIMM_TWINS and not litert:
            import kimm

            twin = getattr(kimm.models, KIMM_TWINS[name])(weights=None, input_shape=size)
            keras_steps["kimm"] = keras_step(noise_weights(twin), xla)

        def timm_step(images, reference=timm_model(timm_name(name))):
            with torch.no_grad():
                return reference(images)

        per_batch = {}
        for batch in args.batch_sizes:
            images = np.random.RandomState(0).uniform(0, 255, (batch, *size)).astype("float32")
            steps = {"timm": (timm_step, torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))}
            steps.update({lib: (step, keras.ops.convert_to_tensor(images)) for lib, step in keras_steps.items()})
            if litert:
                steps["kvit"] = (litert_step(model, batch, args.threads), images)
            per_batch[batch] = measure(steps, args.iters, args.warmup, args.blocks)
        libraries = per_batch[args.batch_sizes[0]]
        results[name] = {lib: {batch: per_batch[batch][lib] for batch in args.batch_sizes} for lib in libraries}
        keras.utils.clear_session()
    print(json.dumps(results))


def table_rows(per_runtime, models, batch_sizes):
    """Flattens `{runtime: {model: {library: {batch: img/s}}}}` into one row per measurement."""
    rows = []
    for runtime, results in per_runtime.items():
        for model in models:
            timm = results[model]["timm"]
            for library, figures in results[model].items():
                for batch in batch_sizes:
                    value, anchor = figures[str(batch)], timm[str(batch)]  # JSON keys are strings
                    rows.append(
                        dict(model=model, library=library, runtime=runtime, batch_size=batch,
                             images_per_second=value, x_timm=value / anchor)
                    )
    return rows


def print_table(rows, models, batch_sizes):
    for model in models:
        print(f"\n{model} (timm {timm_name(model)}{', kimm ' + KIMM_TWINS[model] if model in KIMM_TWINS else ''})")
        header = "".join(f"{f'batch {b} img/s':>16}{'x timm':>8}" for b in batch_sizes)
        print(f"{'':<26}{header}")
        cells = {}
        for row in rows:
            if row["model"] == model:
                cells.setdefault((row["library"], row["runtime"]), {})[row["batch_size"]] = row
        for (library, runtime), by_batch in cells.items():
            line = "".join(f"{by_batch[b]['images_per_second']:>16.1f}{by_batch[b]['x_timm']:>8.2f}" for b in batch_sizes)
            print(f"{f'{library} {runtime}':<26}{line}")
        best = []
        for b in batch_sizes:
            kvit = [r for r in rows if r["model"] == model and r["library"] == "kvit" and r["batch_size"] == b]
            top = max(kvit, key=lambda r: r["x_timm"])
            best.append(f"batch {b}: {top['x_timm']:.2f}x timm ({top['runtime']})")
        print("best kvit runtime: " + ", ".join(best))


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_chart(rows, models, batch_sizes, path, title):
    """Grouped bars of images/s: one panel per model and batch size, one bar per library and runtime.

    timm is measured in every runtime's process; its bar is the median of those measurements.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"timm": "#7f7f7f", "kvit": "#1f77b4", "kimm": "#ff7f0e"}
    fig, axes = plt.subplots(len(models), len(batch_sizes), figsize=(4.2 * len(batch_sizes), 2.6 * len(models)),
                             squeeze=False)
    for i, model in enumerate(models):
        for j, batch in enumerate(batch_sizes):
            selected = [r for r in rows if r["model"] == model and r["batch_size"] == batch]
            bars = [("timm", float(np.median([r["images_per_second"] for r in selected if r["library"] == "timm"])))]
            bars += [(f"{r['library']} {r['runtime']}", r["images_per_second"]) for r in selected if r["library"] != "timm"]
            ax = axes[i][j]
            ax.barh([label for label, _ in bars], [value for _, value in bars],
                    color=[colors[label.split()[0]] for label, _ in bars])
            ax.invert_yaxis()
            ax.set_title(f"{model}, batch {batch}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("images/s", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="kvit application names")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--iters", type=int, default=20, help="timed calls per library (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=5, help="turns the libraries take within a measurement")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--runtimes", nargs="+", default=list(INFERENCE_RUNTIMES), choices=list(INFERENCE_RUNTIMES))
    parser.add_argument("--rounds", type=int, default=1, help="passes over the runtimes; reports the median")
    parser.add_argument("--csv", help="write the table to this CSV file")
    parser.add_argument("--chart", help="write a PNG bar chart to this file (needs matplotlib)")
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from kvit import applications

    for name in args.models:
        applications.check_name(name)
    if args.runtime:
        return run_backend(args)

    per_runtime = median_of_rounds(
        [{runtime: run_runtime(__file__, runtime) for runtime in args.runtimes} for _ in range(args.rounds)]
    )
    rows = table_rows(per_runtime, args.models, args.batch_sizes)
    title = (
        f"{args.threads} threads (torch, TensorFlow, XNNPACK); median of {args.iters} calls in {args.blocks} turns, "
        f"median of {args.rounds} round{'s' if args.rounds > 1 else ''}; noised random weights; "
        f"TF_ENABLE_ONEDNN_OPTS={onednn_setting()}"
    )
    print(title)
    print_table(rows, args.models, args.batch_sizes)
    if args.csv:
        write_csv(rows, args.csv)
        print(f"\nwrote {args.csv}")
    if args.chart:
        write_chart(rows, args.models, args.batch_sizes, args.chart, title)
        print(f"wrote {args.chart}")


if __name__ == "__main__":
    main()
