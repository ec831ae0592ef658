"""`kvit.tflite.benchmark`: latency of a `.tflite` model, with and without XNNPACK."""

import time

import numpy as np

from kvit.models.arguments import is_int
from kvit.tflite.interpreter import Interpreter

RUNTIMES = {"xnnpack": True, "builtin": False}


def benchmark(model, num_threads=None, warmup_runs=10, runs=50, runtimes=("xnnpack", "builtin")):
    """Times single invocations of a `.tflite` model on random [0, 255] images.

    Each runtime gets its own interpreter and `warmup_runs` untimed invocations (XNNPACK packs its
    weights on the first ones); then `runs` invocations are timed one by one.

    Args:
        model: path or bytes of a `.tflite` model.
        num_threads: int, CPU threads; None uses every available core.
        warmup_runs: int, untimed invocations first.
        runs: int, timed invocations.
        runtimes: which of `"xnnpack"` (the XNNPACK delegate, LiteRT's default) and `"builtin"`
            (the builtin kernels alone) to time.

    Returns:
        dict from runtime name to a dict with `median_ms`, `p90_ms`, `images_per_second` (the
        batch size over the median), `runs` and `partitions` (subgraphs the delegate runs; 1
        is the whole graph, 0 none).
    """
    names = list(runtimes) if isinstance(runtimes, (list, tuple)) else []
    if not names or not all(isinstance(name, str) and name in RUNTIMES for name in names):
        raise ValueError(f"`runtimes` must be a list of some of {tuple(RUNTIMES)}, got {runtimes!r}.")
    if not is_int(runs) or runs < 1 or not is_int(warmup_runs) or warmup_runs < 0:
        raise ValueError(f"`runs` must be >= 1 and `warmup_runs` >= 0, got {runs} and {warmup_runs}.")
    results = {}
    for name in runtimes:
        interpreter = Interpreter(model, num_threads=num_threads, xnnpack=RUNTIMES[name])
        images = np.random.default_rng(0).uniform(0, 255, interpreter.input_shape).astype("float32")
        interpreter(images)
        for _ in range(warmup_runs):
            interpreter.invoke()
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            interpreter.invoke()
            seconds.append(time.perf_counter() - start)
        median = float(np.median(seconds))
        results[name] = {
            "median_ms": median * 1e3,
            "p90_ms": float(np.percentile(seconds, 90)) * 1e3,
            "images_per_second": interpreter.input_shape[0] / median,
            "runs": runs,
            "partitions": interpreter.delegate_partitions,
        }
    return results
