"""The machine's float32 matmul rate on each runtime, and what it allows a model: a ceiling for
the throughput benchmarks.

    python benchmarks/gemm_ceiling.py --models SwinT
    python benchmarks/gemm_ceiling.py --sizes 1024 2048 --models ViTS16 MobileViTS

Times one `n x n` by `n x n` float32 matmul per `--sizes` on PyTorch (`torch.matmul`),
TensorFlow (`tf.matmul` in a `tf.function`, oneDNN unless `TF_ENABLE_ONEDNN_OPTS=0`), JAX (`jit`
of `jnp.dot`) and LiteRT (a Keras `Dense` converted by `kvit.tflite.convert`, under XNNPACK),
all in this process, on `--threads` threads (JAX: XLA's default pool), and prints GFLOP/s from
the median of `--iters` calls. For each of `--models` it prints the FLOPs of one image
(`kvit.applications.flops.count_flops`: matmuls and convolutions, two per multiply-add) and the
images per second that the best rate allows: no runtime runs a whole network faster than its
largest matmul, so a throughput target above that ceiling cannot be met on this machine. Run
it alone.
"""

import argparse
import os
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ["KERAS_BACKEND"] = "tensorflow"  # before Keras is imported: the LiteRT conversion

import numpy as np  # noqa: E402


def median_seconds(call, iters, warmup=3):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_calls(n, threads):
    """`{runtime: call}`, each multiplying two fixed random `(n, n)` float32 matrices."""
    import jax
    import keras
    import tensorflow as tf
    import torch

    from kvit import tflite

    a, b = (np.random.default_rng(i).standard_normal((n, n)).astype("float32") for i in (0, 1))
    torch_a, torch_b = torch.from_numpy(a), torch.from_numpy(b)
    tf_matmul, tf_a, tf_b = tf.function(tf.matmul), tf.constant(a), tf.constant(b)
    jax_dot, jax_a, jax_b = jax.jit(jax.numpy.dot), jax.numpy.asarray(a), jax.numpy.asarray(b)
    # An (n, n) input as one image of n rows of one pixel: the Dense becomes one FULLY_CONNECTED.
    dense = keras.Sequential([keras.Input((n, 1, n)), keras.layers.Dense(n, use_bias=False)])
    dense.layers[0].kernel.assign(b)
    interpreter = tflite.Interpreter(tflite.convert(dense), num_threads=threads)
    image = a.reshape(1, n, 1, n)
    return {
        "torch": lambda: torch.matmul(torch_a, torch_b),
        "tensorflow": lambda: tf_matmul(tf_a, tf_b).numpy(),
        "jax": lambda: jax_dot(jax_a, jax_b).block_until_ready(),
        "litert": lambda: interpreter(image),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="matmul sides n")
    parser.add_argument("--models", nargs="*", default=[], help="kvit application names")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="default: torch's")
    args = parser.parse_args()
    import tensorflow as tf
    import torch

    from kvit import applications
    from kvit.applications.flops import count_flops

    for name in args.models:
        applications.check_name(name)
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    print(f"float32 n x n matmul, GFLOP/s, {threads} threads; TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}")
    best = 0.0
    for n in args.sizes:
        for runtime, call in matmul_calls(n, threads).items():
            rate = 2 * n**3 / median_seconds(call, args.iters) / 1e9
            best = max(best, rate)
            print(f"n={n:<6}{runtime:<12}{rate:8.1f}")
    print(f"best: {best:.1f} GFLOP/s")
    for name in args.models:
        gflop = count_flops(applications.get(name)) / 1e9
        print(f"{name}: {gflop:.2f} GFLOP per image; ceiling at {best:.1f} GFLOP/s: {best / gflop:.1f} images/s")


if __name__ == "__main__":
    main()
