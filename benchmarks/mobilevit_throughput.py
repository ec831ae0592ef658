"""MobileViT-XXS and -S inference throughput on each Keras runtime, beside timm and kimm, in one run.

    python benchmarks/mobilevit_throughput.py
    python benchmarks/mobilevit_throughput.py --models MobileViTXXS --batch-sizes 1 --iters 3 --warmup 1
    python benchmarks/mobilevit_throughput.py --runtimes tensorflow --rounds 3

kvit and kimm (`kimm.models.MobileViTXXS` / `MobileViTS`, the Keras 3 model zoo) run in one process
per runtime, compiled alike (see `throughput.RUNTIMES`: JAX `jit`, TensorFlow `tf.function` with
and without XLA, PyTorch eager under `no_grad`); timm runs eager under `no_grad`.
All at 256x256 on random weights and [0, 255] pixels. PyTorch (timm and the torch backend) and
TensorFlow use `--threads` threads; JAX uses XLA's default pool. Prints images per second at each
batch size, kvit's ratio to timm and to kimm on the same runtime, and the best kvit runtime against
timm and against kimm's best runtime (among `--runtimes`). With `--rounds N` timm and every runtime
are measured N times in turn and each figure is the median round. Run it alone: other jobs on the
machine's cores spoil the figures.
"""

import argparse
import json
import os
import sys

import numpy as np

from throughput import RUNTIMES, keras_step, measure, median_of_rounds, run_runtime

KIMM_MODELS = {"MobileViTXXS": "MobileViTXXS", "MobileViTS": "MobileViTS"}
TIMM_MODELS = {"MobileViTXXS": "mobilevit_xxs", "MobileViTS": "mobilevit_s"}
SIZE = (256, 256, 3)


def run_backend(args):
    """Measures kvit and kimm on this process's backend; prints `{model: {library: {batch: img/s}}}`."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    elif keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)
    import kimm

    import kvit

    results = {}
    for name in args.models:
        models = {
            "kvit": kvit.applications.get(name),
            "kimm": getattr(kimm.models, KIMM_MODELS[name])(weights=None),
        }
        results[name] = {}
        for library, model in models.items():
            step = keras_step(model, RUNTIMES[args.runtime][1])
            results[name][library] = {
                batch: measure(step, keras.ops.convert_to_tensor(_images(batch)), args.iters, args.warmup)
                for batch in args.batch_sizes
            }
    print(json.dumps(results))


def run_timm(args):
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from reference import import_timm

    torch.set_num_threads(args.threads)
    timm = import_timm()
    results = {}
    for name in args.models:
        model = timm.create_model(TIMM_MODELS[name], pretrained=False).eval()

        def step(images):
            with torch.no_grad():
                return model(images)

        results[name] = {
            batch: measure(step, torch.from_numpy(_images(batch).transpose(0, 3, 1, 2).copy()), args.iters, args.warmup)
            for batch in args.batch_sizes
        }
    return results


def _images(batch):
    return np.random.RandomState(0).uniform(0, 255, (batch, *SIZE)).astype("float32")


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(TIMM_MODELS), choices=list(TIMM_MODELS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--rounds", type=int, default=1, help="passes over timm and the runtimes; reports the median")
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runtime:
        return run_backend(args)

    rounds = [
        (run_timm(args), {runtime: run_runtime(__file__, runtime) for runtime in args.runtimes})
        for _ in range(args.rounds)
    ]
    timm_results = median_of_rounds([timm for timm, _ in rounds])
    per_runtime = median_of_rounds([runtimes for _, runtimes in rounds])

    print(
        f"{args.threads} threads (torch, TensorFlow); median of {args.iters} runs, median of "
        f"{args.rounds} rounds; 256x256"
    )
    for name in args.models:
        anchor = timm_results[name]
        print(f"\n{name} (timm {TIMM_MODELS[name]}, kimm {KIMM_MODELS[name]})")
        header = "".join(f"{f'batch {b} img/s':>16}{'x timm':>8}{'x kimm':>8}" for b in args.batch_sizes)
        print(f"{'':<20}{header}")
        print(f"{'timm torch eager':<20}" + "".join(f"{anchor[b]:>16.1f}{1.0:>8.2f}{'':>8}" for b in args.batch_sizes))
        for runtime, results in per_runtime.items():
            kvit, kimm = ({int(k): v for k, v in results[name][lib].items()} for lib in ("kvit", "kimm"))
            for library, result in (("kvit", kvit), ("kimm", kimm)):
                cells = "".join(
                    f"{result[b]:>16.1f}{result[b] / anchor[b]:>8.2f}"
                    + (f"{result[b] / kimm[b]:>8.2f}" if library == "kvit" else f"{'':>8}")
                    for b in args.batch_sizes
                )
                print(f"{f'{library} {runtime}':<20}{cells}")
        best = {
            lib: {b: max(r[name][lib][str(b)] for r in per_runtime.values()) for b in args.batch_sizes}
            for lib in ("kvit", "kimm")
        }
        ratios = [
            f"batch {b} {best['kvit'][b] / anchor[b]:.2f}x timm, {best['kvit'][b] / best['kimm'][b]:.2f}x kimm's best"
            for b in args.batch_sizes
        ]
        print("best kvit runtime: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
