"""XLA's depthwise convolution on CPU against kvit's JAX form of it, a sum of shifted slices.

    KERAS_BACKEND=jax python benchmarks/depthwise.py

`kvit.fast_paths.depthwise_conv_as_shifted_slices` is `kernel_size ** 2` shifted, strided slices
of the input times the kernel's taps, which XLA fuses into one loop; this times it beside
`keras.ops.depthwise_conv` (XLA's convolution with one group per channel), both under `jax.jit`,
on the shapes of MobileViT's and EfficientViT's blocks, and prints the ratio and the largest
difference. It times both on whatever device JAX runs on; kvit's layers take the shifted slices
only where `kvit.fast_paths.use_jax_cpu_depthwise` holds, on CPU. Run it alone: other jobs on the
cores spoil the figures.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

# (input shape, kernel size, stride): MBConv's 3x3 at several stages, one strided, and the
# 5x5 aggregation of EfficientViT's attention.
CASES = (
    ((16, 56, 56, 128), 3, 1),
    ((16, 28, 28, 256), 3, 1),
    ((16, 56, 56, 128), 3, 2),
    ((16, 14, 14, 192), 5, 1),
    ((1, 56, 56, 128), 3, 1),
)


def median_ms(function, inputs, iters):
    function(*inputs).block_until_ready()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        function(*inputs).block_until_ready()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=10, help="timed calls of each (default: %(default)s)")
    args = parser.parse_args()

    import jax
    import keras

    from kvit.fast_paths import depthwise_conv_as_shifted_slices, jax_platform

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax: this times XLA's convolution")
    rng = np.random.default_rng(0)
    print(f"JAX platform: {jax_platform()}")
    print(f"{'input':<20}{'kernel':>7}{'stride':>7}{'XLA ms':>10}{'kvit ms':>10}{'ratio':>8}{'max diff':>10}")
    for shape, size, stride in CASES:
        x = jax.numpy.asarray(rng.normal(size=shape).astype("float32"))
        kernel = jax.numpy.asarray(rng.normal(size=(size, size, shape[-1], 1)).astype("float32"))
        padding = "same" if stride == 1 else "valid"
        xla = jax.jit(lambda x, k: keras.ops.depthwise_conv(x, k, stride, padding))
        kvit = jax.jit(lambda x, k: depthwise_conv_as_shifted_slices(x, k, (stride, stride), padding))
        difference = float(jax.numpy.abs(xla(x, kernel) - kvit(x, kernel)).max())
        xla_ms, kvit_ms = median_ms(xla, (x, kernel), args.iters), median_ms(kvit, (x, kernel), args.iters)
        print(
            f"{str(shape):<20}{size:>7}{stride:>7}{xla_ms:>10.2f}{kvit_ms:>10.2f}"
            f"{xla_ms / kvit_ms:>7.1f}x{difference:>10.1e}"
        )


if __name__ == "__main__":
    main()
