"""Resident memory of a long-lived process that converts, benchmarks, evaluates and predicts.

    python benchmarks/memory.py                                    # every case, TensorFlow backend
    python benchmarks/memory.py --backends tensorflow jax torch --cases convert-xxs predict
    python benchmarks/memory.py --quick                            # a smoke run: few calls

Each case runs in a fresh process of its backend (Keras fixes its backend at import) and calls one
kvit entry point many times, reading the process' resident set size (VmRSS, after a
`gc.collect()`) after the warm-up and then every `calls // 100` calls. It prints the RSS after
the warm-up calls, after the last call, and the growth per call between the two: flat memory is
a growth of a few MB at most, noise.

Cases (calls, warm-up calls):
    convert-xxs   `kvit.tflite.convert` of MobileViT-XXS (256x256), float32 and dynamic
                  alternating (30, 2)
    convert-vitb  the same for ViT-B/16 (224x224), the SavedModel path (5, 1)
    benchmark     `kvit.tflite.benchmark` of MobileViT-XXS float32, 5 runs each (200, 10)
    evaluate      `kvit.tflite.evaluate` of it against the Keras model on 8 images (200, 10)
    predict       `model.predict_on_batch` of MobileViT-XXS at 64x64, batch sizes 1 to 8 drawn at
                  random (10000, 100): a batch size Keras has not seen may trace the model again,
                  and the count of traces must stay bounded

Run it alone: other jobs on the machine change both the timings and the resident memory.
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = {
    "convert-xxs": (30, 2),
    "convert-vitb": (5, 1),
    "benchmark": (200, 10),
    "evaluate": (200, 10),
    "predict": (10000, 100),
}
QUICK_CALLS = {"convert-xxs": (6, 2), "convert-vitb": (2, 1), "benchmark": (20, 5), "evaluate": (20, 5), "predict": (500, 50)}
PREDICT_BATCH_SIZES = range(1, 9)


def rss_mb():
    """This process' resident set size in MB, after collecting garbage."""
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS is not in /proc/self/status (Linux only).")


def _tflite_model(folder):
    import kvit

    path = os.path.join(folder, "xxs.tflite")
    kvit.tflite.convert(kvit.applications.MobileViTXXS(), path)
    return path


def make_call(case, folder):
    """Returns `(call, model)`: one call of `case`, after building what it needs, and the Keras
    model whose traces are counted (None where the case traces nothing)."""
    import kvit

    if case in ("convert-xxs", "convert-vitb"):
        model = kvit.applications.MobileViTXXS() if case == "convert-xxs" else kvit.applications.ViTB16()
        modes = iter(("float32", "dynamic") * 1000)
        return lambda: kvit.tflite.convert(model, quantization=next(modes)), None
    if case == "benchmark":
        path = _tflite_model(folder)
        return lambda: kvit.tflite.benchmark(path, warmup_runs=1, runs=5), None
    if case == "evaluate":
        model = kvit.applications.MobileViTXXS()
        path = os.path.join(folder, "xxs.tflite")
        kvit.tflite.convert(model, path)
        images = np.random.default_rng(0).uniform(0, 255, (8, 256, 256, 3)).astype("float32")
        labels = np.arange(8)
        return lambda: kvit.tflite.evaluate(path, images, labels, keras_model=model), None
    if case == "predict":
        model = kvit.applications.MobileViTXXS(input_shape=(64, 64, 3))
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (max(PREDICT_BATCH_SIZES), 64, 64, 3)).astype("float32")
        call = lambda: model.predict_on_batch(images[: rng.choice(PREDICT_BATCH_SIZES)])  # noqa: E731
        return call, model
    raise ValueError(f"Unknown case {case!r}; expected one of {sorted(CASES)}.")


def run_case(case, calls, warmup):
    """Runs one case in this process; prints a JSON line with the RSS readings and the time."""
    import keras

    with tempfile.TemporaryDirectory() as folder:
        call, model = make_call(case, folder)
        traces = None
        if model is not None:
            call()  # builds the predict function, whose traces are then counted
            traces = TraceCounter(model)
        start_rss = rss_mb()
        # At most ~100 readings: each collects garbage, which costs more than a small call.
        every = max(1, calls // 100)
        readings, start = [], time.perf_counter()
        for index in range(1, calls + 1):
            call()
            if index % every == 0 or index in (warmup, calls):
                readings.append((index, rss_mb()))
        seconds = time.perf_counter() - start
    result = dict(backend=keras.backend.backend(), case=case, calls=calls, warmup=warmup, start_mb=start_rss)
    result.update(readings=readings, seconds=seconds, traces=traces.count() if traces else None)
    print("RESULT " + json.dumps(result), flush=True)


class TraceCounter:
    """Counts the traces of `model`'s predict function from now on.

    TensorFlow: the tracing count of the `tf.function` Keras makes (`reduce_retracing=True`).
    JAX: the XLA compilations (`jax.monitoring`), one per new input shape of a `jit`. PyTorch runs
    eagerly and traces nothing (None).
    """

    def __init__(self, model):
        import keras

        self.backend = keras.backend.backend()
        self.model = model
        self.compilations = 0
        if self.backend == "tensorflow":
            self.start = model.predict_function.experimental_get_tracing_count()
        elif self.backend == "jax":
            import jax

            def listen(event, duration, **kwargs):
                if event == "/jax/core/compile/backend_compile_duration":
                    self.compilations += 1

            jax.monitoring.register_event_duration_secs_listener(listen)

    def count(self):
        if self.backend == "tensorflow":
            return self.model.predict_function.experimental_get_tracing_count() - self.start
        return self.compilations if self.backend == "jax" else None


def summary(result):
    readings, warmup = dict(result["readings"]), result["warmup"]
    base, last = readings[warmup], readings[result["calls"]]
    growth = (last - base) / max(1, result["calls"] - warmup)
    return base, last, growth


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["tensorflow"], choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--quick", action="store_true", help="few calls per case: a smoke run")
    parser.add_argument("--calls", type=int, help="calls per case (default: the case's own)")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the readings to this file")
    args = parser.parse_args()
    table = QUICK_CALLS if args.quick else CASES
    if args.run_case:
        calls, warmup = table[args.run_case]
        run_case(args.run_case, args.calls or calls, warmup)
        return 0
    results = []
    print(f"{'backend':<11} {'case':<13} {'calls':>6} {'RSS after warm-up':>18} {'RSS after':>10} "
          f"{'MB per call':>12} {'s per call':>11} {'traces':>7}")
    for backend in args.backends:
        for case in args.cases:
            command = [sys.executable, __file__, "--run-case", case] + (["--quick"] if args.quick else [])
            if args.calls:
                command += ["--calls", str(args.calls)]
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                print(f"{backend:<11} {case:<13} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
                continue
            result = json.loads(lines[-1][len("RESULT "):])
            results.append(result)
            base, last, growth = summary(result)
            traces = "" if result["traces"] is None else result["traces"]
            print(f"{backend:<11} {case:<13} {result['calls']:>6} {base:>15.0f} MB {last:>7.0f} MB "
                  f"{growth:>12.2f} {result['seconds'] / result['calls']:>11.3f} {traces:>7}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
