"""MobileViT-XXS and -S inference throughput on each Keras runtime, beside timm and kimm, in one run.

    python benchmarks/mobilevit_throughput.py
    python benchmarks/mobilevit_throughput.py --models MobileViTXXS --batch-sizes 1 --iters 3 --warmup 1
    python benchmarks/mobilevit_throughput.py --runtimes tensorflow --rounds 3

Each Keras runtime runs in its own process (see `throughput.RUNTIMES`: JAX `jit`, TensorFlow
`tf.function` with and without XLA, PyTorch eager under `no_grad`), and in that process kvit, kimm
(`kimm.models.MobileViTXXS` / `MobileViTS`, the Keras 3 model zoo) and timm (eager under
`no_grad`, the anchor) take turns in `--blocks` blocks of calls, so a slow spell of the machine
falls on all three alike. All at 256x256 and [0, 255] pixels on noised random weights
(`throughput.randomize_weights`, `reference.create_timm_model`: no norm left at its foldable
initial value); PyTorch and TensorFlow use `--threads` threads, JAX XLA's default pool. Prints
images per second at each batch size with kvit's ratio to timm and to kimm from the same process,
and the best kvit runtime against timm and against kimm's best runtime (ranked, across processes,
by the ratio to their own timm). With `--rounds N` every runtime is measured N times and each
figure is the median round. Run it alone: other jobs on the machine's cores spoil the figures.
"""

import argparse
import json

import numpy as np

from throughput import RUNTIMES, keras_step, measure, median_of_rounds, randomize_weights, run_runtime, timm_model

KIMM_MODELS = {"MobileViTXXS": "MobileViTXXS", "MobileViTS": "MobileViTS"}
TIMM_MODELS = {"MobileViTXXS": "mobilevit_xxs", "MobileViTS": "mobilevit_s"}
LIBRARIES = ("timm", "kvit", "kimm")
SIZE = (256, 256, 3)


def run_backend(args):
    """Measures timm, kvit and kimm in this process; prints `{model: {library: {batch: img/s}}}`."""
    import keras
    import torch

    torch.set_num_threads(args.threads)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import kimm

    import kvit

    xla = RUNTIMES[args.runtime][1]
    results = {}
    for name in args.models:
        keras_models = {
            "kvit": kvit.applications.get(name),
            "kimm": getattr(kimm.models, KIMM_MODELS[name])(weights=None),
        }
        keras_steps = {lib: keras_step(randomize_weights(model), xla) for lib, model in keras_models.items()}

        def timm_step(images, model=timm_model(TIMM_MODELS[name])):
            with torch.no_grad():
                return model(images)

        per_batch = {}
        for batch in args.batch_sizes:
            images = _images(batch)
            steps = {"timm": (timm_step, torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))}
            steps.update({lib: (step, keras.ops.convert_to_tensor(images)) for lib, step in keras_steps.items()})
            per_batch[batch] = measure(steps, args.iters, args.warmup, args.blocks)
        results[name] = {lib: {batch: per_batch[batch][lib] for batch in args.batch_sizes} for lib in LIBRARIES}
    print(json.dumps(results))


def _images(batch):
    return np.random.RandomState(0).uniform(0, 255, (batch, *SIZE)).astype("float32")


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(TIMM_MODELS), choices=list(TIMM_MODELS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=5, help="turns the libraries take within a measurement")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--rounds", type=int, default=1, help="passes over the runtimes; reports the median")
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runtime:
        return run_backend(args)

    per_runtime = median_of_rounds(
        [{runtime: run_runtime(__file__, runtime) for runtime in args.runtimes} for _ in range(args.rounds)]
    )
    print(
        f"{args.threads} threads (torch, TensorFlow); median of {args.iters} calls in {args.blocks} turns, "
        f"median of {args.rounds} rounds; 256x256"
    )
    for name in args.models:
        print(f"\n{name} (timm {TIMM_MODELS[name]}, kimm {KIMM_MODELS[name]})")
        header = "".join(f"{f'batch {b} img/s':>16}{'x timm':>8}{'x kimm':>8}" for b in args.batch_sizes)
        print(f"{'':<20}{header}")
        to_timm = {}
        for runtime, results in per_runtime.items():
            timm, kvit, kimm = ({int(k): v for k, v in results[name][lib].items()} for lib in LIBRARIES)
            to_timm[runtime] = {
                lib: {b: r[b] / timm[b] for b in args.batch_sizes} for lib, r in (("kvit", kvit), ("kimm", kimm))
            }
            for library, result in (("timm", timm), ("kvit", kvit), ("kimm", kimm)):
                cells = "".join(
                    f"{result[b]:>16.1f}{result[b] / timm[b]:>8.2f}"
                    + (f"{result[b] / kimm[b]:>8.2f}" if library == "kvit" else f"{'':>8}")
                    for b in args.batch_sizes
                )
                print(f"{f'{library} {runtime}':<20}{cells}")
        ratios = []
        for b in args.batch_sizes:
            kvit_best = max(r["kvit"][b] for r in to_timm.values())
            kimm_best = max(r["kimm"][b] for r in to_timm.values())
            ratios.append(f"batch {b} {kvit_best:.2f}x timm, {kvit_best / kimm_best:.2f}x kimm's best")
        print("best kvit runtime: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
