"""How inference time and peak memory grow with image size, per application, in one run.

    python benchmarks/scaling.py --models SwinT ViTS16 --sizes 224 448 896
    python benchmarks/scaling.py --models EfficientViTB1 ViTS16 --sizes 224 512 1024
    python benchmarks/scaling.py --models ViTTi16 --sizes 64 128 --iters 2    # smoke run

Every (model, size) runs in a fresh process on `--runtime` (see `throughput.RUNTIMES`), on noised
random weights at batch 1 (ViT resamples nothing: a model built at another size simply has
another token grid). Time is the median of `--iters` calls after warm-up; peak memory is the
peak resident memory of the first call above the resident memory before it (activations and
workspace; the weights are already resident), read from `/proc/self/status` (Linux). The
exponent is the least-squares slope of log(cost) against log(pixels): 1 for cost linear in the
pixel count, 2 for quadratic (a global attention once tokens dominate). The models run one after
another within each size; `--anchor` (ViT-S/16, whose global attention is quadratic) runs beside
them for contrast, and each model's time is also printed as a ratio to the anchor's at every size.
Run it alone: other jobs on the machine's cores spoil the figures.
"""

import argparse
import json
import time

import numpy as np

from throughput import RUNTIMES, keras_step, run_runtime, set_threads


def resident_kb(field):
    """`VmRSS` (now) or `VmHWM` (peak) of this process, in kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def run_one(args):
    """Measures one model at one size in this process; prints `{"seconds": ..., "peak_mb": ...}`."""
    import keras

    import kvit
    from kvit.testing import noise_weights

    set_threads(args.threads)
    model = noise_weights(kvit.applications.get(args.models[0], input_shape=(args.size, args.size, 3)))
    step = keras_step(model, RUNTIMES[args.runtime][1])
    images = keras.ops.convert_to_tensor(
        np.random.RandomState(0).uniform(0, 255, (1, args.size, args.size, 3)).astype("float32")
    )
    before = resident_kb("VmRSS")
    step(images)
    peak_mb = (resident_kb("VmHWM") - before) / 1024
    for _ in range(args.warmup):
        step(images)
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        step(images)
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": float(np.median(times)), "peak_mb": max(peak_mb, 0.0)}))


def exponent(sizes, costs):
    """The slope of log(cost) against log(pixels)."""
    return float(np.polyfit(np.log(np.square(sizes)), np.log(costs), 1)[0])


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["SwinT"], help="kvit application names")
    parser.add_argument("--anchor", default="ViTS16", help="application measured beside them (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 448, 896], help="square image sides")
    parser.add_argument("--runtime", default="tensorflow", choices=list(RUNTIMES))
    parser.add_argument("--iters", type=int, default=10, help="timed calls (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from kvit import applications

    for name in [*args.models, args.anchor]:
        applications.check_name(name)
    if args.size:
        return run_one(args)

    names = list(dict.fromkeys([*args.models, args.anchor]))
    results = {name: {} for name in names}
    for size in args.sizes:
        for name in names:
            argv = ["--models", name, "--size", str(size), "--iters", str(args.iters),
                    "--warmup", str(args.warmup), "--threads", str(args.threads)]
            results[name][size] = run_runtime(__file__, args.runtime, argv)

    print(f"{args.runtime}, batch 1, {args.threads} threads, median of {args.iters} calls; noised random weights")
    print(f"{'':<16}" + "".join(f"{f'{s}x{s} ms':>14}{'peak MB':>10}" for s in args.sizes) + f"{'time exp.':>11}{'memory exp.':>13}")
    exponents = {}
    for name in names:
        seconds = [results[name][s]["seconds"] for s in args.sizes]
        peaks = [results[name][s]["peak_mb"] for s in args.sizes]
        exponents[name] = (exponent(args.sizes, seconds), exponent(args.sizes, np.maximum(peaks, 1.0)))
        cells = "".join(f"{1000 * t:>14.1f}{p:>10.0f}" for t, p in zip(seconds, peaks))
        print(f"{name:<16}{cells}{exponents[name][0]:>11.2f}{exponents[name][1]:>13.2f}")
    anchor = results[args.anchor]
    for name in names:
        if name != args.anchor:
            ratios = ", ".join(f"{s}: {results[name][s]['seconds'] / anchor[s]['seconds']:.2f}x" for s in args.sizes)
            print(f"{name} time / {args.anchor}: {ratios}; exponents {exponents[name][0]:.2f} (time), "
                  f"{exponents[name][1]:.2f} (memory) against {exponents[args.anchor][0]:.2f}, "
                  f"{exponents[args.anchor][1]:.2f}")


if __name__ == "__main__":
    main()
