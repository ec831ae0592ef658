"""Inference throughput of a kvit application on each Keras backend, beside timm, in one run.

    python benchmarks/throughput.py --model ViTS16 --timm vit_small_patch16_224
    python benchmarks/throughput.py --runtimes tensorflow-xla jax --rounds 3

Each runtime runs in its own process (Keras fixes its backend at import): JAX `jit` of the stateless
call; TensorFlow as a `tf.function` graph (oneDNN kernels, which win for convolutions on CPU) and
with XLA (`jit_compile=True`, which wins for plain transformers); PyTorch eager under `no_grad`.
timm runs eager under `no_grad` with the same thread count. Prints images per second at each batch
size and the ratio to timm; with `--rounds N`, the median of N passes over timm and the runtimes.
Run it alone: other jobs on the machine's cores spoil the figures.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

# Runtime name: (Keras backend, XLA on TensorFlow).
RUNTIMES = {
    "tensorflow": ("tensorflow", False),
    "tensorflow-xla": ("tensorflow", True),
    "jax": ("jax", None),
    "torch": ("torch", None),
}


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


def randomize_weights(model, seed=0):
    """Puts noise on every float weight of a Keras model, as the tests do to timm's models.

    A freshly initialised norm (scale 1, shift 0, mean 0, variance 1) is a constant that TensorFlow's
    graph optimizer and the TFLite converter fold away, and a trained model has none: benchmarking
    it would flatter whichever library folds. Running variances are drawn from [0.5, 1.5).
    """
    import keras

    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if not str(variable.dtype).startswith("float"):
            continue
        value = keras.ops.convert_to_numpy(variable)
        if variable.path.endswith("moving_variance"):
            noised = rng.uniform(0.5, 1.5, value.shape)
        else:
            noised = value + rng.normal(0.0, 0.05, value.shape)
        variable.assign(noised.astype(value.dtype))
    return model


def timm_model(name):
    """timm's `name` in eval mode with the tests' noised random weights (`reference.create_timm_model`)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from reference import create_timm_model

    return create_timm_model(name)[0]


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


def run_runtime(script, runtime):
    """Runs `script --runtime runtime` with this command line in a fresh process.

    Returns the JSON object the process printed last.
    """
    command = [sys.executable, script, "--runtime", runtime, *sys.argv[1:]]
    env = {**os.environ, "KERAS_BACKEND": RUNTIMES[runtime][0]}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_backend(args):
    import keras

    import kvit

    model = kvit.applications.get(args.model, input_shape=tuple(args.input_shape) if args.input_shape else None)
    randomize_weights(model)
    size = model.inputs[0].shape[1:]
    step = keras_step(model, RUNTIMES[args.runtime][1])
    results = {}
    for batch in args.batch_sizes:
        x = keras.ops.convert_to_tensor(np.random.RandomState(0).uniform(0, 255, (batch, *size)).astype("float32"))
        results[batch] = measure({"kvit": (step, x)}, args.iters, args.warmup)["kvit"]
    print(json.dumps(results))


def run_timm(args):
    import torch

    model = timm_model(args.timm)
    size = args.input_shape or model.pretrained_cfg["input_size"][1:] + (3,)
    results = {}
    for batch in args.batch_sizes:
        x = torch.rand(batch, 3, size[0], size[1]) * 255

        def step(images):
            with torch.no_grad():
                return model(images)

        results[batch] = measure({"timm": (step, x)}, args.iters, args.warmup)["timm"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViTS16", help="kvit application name")
    parser.add_argument("--timm", default="vit_small_patch16_224", help="timm model name (the anchor)")
    parser.add_argument("--input-shape", type=int, nargs=3, default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--rounds", type=int, default=1, help="passes over timm and the runtimes; reports the median")
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runtime:
        return run_backend(args)

    import torch

    threads = torch.get_num_threads()
    rounds = []
    for _ in range(args.rounds):
        rows = {"timm (torch eager)": run_timm(args)}
        for runtime in args.runtimes:
            rows[f"kvit {runtime}"] = {int(k): v for k, v in run_runtime(__file__, runtime).items()}
        rounds.append(rows)
    rows = median_of_rounds(rounds)
    anchor = rows["timm (torch eager)"]

    print(
        f"{args.model} vs timm {args.timm}; {threads} torch threads; median of {args.iters} runs, "
        f"median of {args.rounds} rounds"
    )
    header = "".join(f"{f'batch {b} img/s':>16}{'x timm':>8}" for b in args.batch_sizes)
    print(f"{'':<22}{header}")
    for name, result in rows.items():
        cells = "".join(f"{result[b]:>16.1f}{result[b] / anchor[b]:>8.2f}" for b in args.batch_sizes)
        print(f"{name:<22}{cells}")
    best = {b: max(r[b] for n, r in rows.items() if n.startswith("kvit")) / anchor[b] for b in args.batch_sizes}
    print("best kvit runtime / timm: " + ", ".join(f"batch {b}: {v:.2f}x" for b, v in best.items()))


if __name__ == "__main__":
    main()
