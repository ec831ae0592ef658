"""Backend-specific fast paths: a backend's own kernel where it is measured to beat the `keras.ops` form.

Each fast path is a predicate, `use_...`, that says where it applies (backend, device, arguments),
and a kernel that computes what the `keras.ops` form computes. The caller keeps the `keras.ops`
form beside it:

    if fast_paths.use_torch_layer_norm():
        return fast_paths.torch_layer_norm(x, gamma, beta, epsilon)
    return standardize(x, -1, epsilon) * gamma + beta

so model code stays `keras.ops` and each condition is written once, here. Each docstring gives the
measurement and the command that measures it; `tests/test_fast_paths.py` checks each kernel
against its `keras.ops` form on every backend.

This module is the one place outside `kvit/recipes` and `kvit/tflite` that touches a backend's own
library (JAX, PyTorch, TensorFlow), and only inside functions that run when that backend is Keras'
(which has imported it already): importing the module imports none of them.
"""

import math

import keras
from keras import ops


def jax_platform():
    """The platform (`"cpu"`, `"gpu"`, `"tpu"`) that JAX runs a computation traced now on.

    The platform of `jax.default_device` if one is set (Keras' `keras.device(...)` scope sets it),
    else JAX's default backend. Both are known while a function is traced, and the default
    device is part of `jax.jit`'s cache key, so a function is traced again under another scope.
    The input's own device cannot decide: under `jit`, which Keras' `fit`, `evaluate` and
    `predict` use on JAX, the input is a tracer and has none. The one case this misreads is an
    input committed (`jax.device_put`) to a device of another platform than the default one.
    """
    import jax

    device = jax.config.jax_default_device
    if device is None:
        return jax.default_backend()
    return device if isinstance(device, str) else device.platform


def use_jax_cpu_depthwise(kernel, strides, padding):
    """Whether `depthwise_conv_as_shifted_slices` replaces `ops.depthwise_conv(x, kernel, strides, padding)`.

    On the JAX backend when JAX runs on CPU (`jax_platform()`), for a `(kh, kw, c, 1)` kernel,
    with `"valid"` padding at any stride or `"same"` at stride 1. On a GPU or TPU, XLA's
    convolution is the vendor's kernel and runs in bfloat16; the shifted slices would give both up.
    The other backends' kernels are fast, and TensorFlow's is the `DEPTHWISE_CONV_2D` the TFLite
    converter needs.
    """
    if keras.backend.backend() != "jax" or kernel.shape[-1] != 1:
        return False
    if padding == "same" and tuple(strides) != (1, 1):
        return False
    return jax_platform() == "cpu"


def depthwise_conv_as_shifted_slices(x, kernel, strides, padding):
    """`ops.depthwise_conv(x, kernel, strides, padding)` as a sum of shifted, strided slices of `x`.

    Replaces XLA's CPU depthwise convolution (`use_jax_cpu_depthwise` says where): the sum of
    `kh * kw` slices of the input, each times one tap of the kernel, which XLA fuses into one
    loop. XLA's own convolution is 12 to 33 times slower on CPU (a 3x3 over (16, 28, 28, 256):
    94.6 ms against 3.1 ms; `KERAS_BACKEND=jax python benchmarks/depthwise.py`), and
    MobileViT-XXS's JAX training step went from 1.9 to 5.4 images/s (`python
    benchmarks/train_throughput.py --models MobileViTXXS --runtimes jax --iters 8 --warmup 2
    --blocks 2`). The sum is in float32 whatever the input's dtype. Written in `keras.ops`, so
    the tests run it on every backend.

    Args:
        x: `(batch, height, width, channels)`.
        kernel: `(kh, kw, channels, 1)`.
        strides: pair of ints.
        padding: `"valid"`, or `"same"` at stride 1 (an even kernel's extra row and column of
            padding go last, as Keras pads).

    Shape: `(batch, out_height, out_width, channels)` out, as `ops.depthwise_conv`'s.
    """
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    if padding == "same":
        x = ops.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    height, width = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    dtype, x, kernel = x.dtype, ops.cast(x, "float32"), ops.cast(kernel, "float32")
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            tap = x[:, i : i + sh * (height - 1) + 1 : sh, j : j + sw * (width - 1) + 1 : sw, :]
            out = out + tap * kernel[i, j, :, 0]
    return ops.cast(out, dtype)


def use_torch_layer_norm():
    """Whether `kvit.layers.LayerNorm` calls `torch_layer_norm`: on the PyTorch backend, on any device."""
    return keras.backend.backend() == "torch"


def torch_layer_norm(x, gamma, beta, epsilon):
    """Layer normalisation over the last axis with PyTorch's fused kernel (`ops.layer_normalization`).

    Replaces `kvit.layers.normalization.standardize(x, -1, epsilon) * gamma + beta` on PyTorch
    (`use_torch_layer_norm`), where it is one `torch.nn.functional.layer_norm`: a ViT-Ti/16
    training step is 1.2x to 1.3x faster than with the written-out form (`python
    benchmarks/train_throughput.py --runtimes torch`). TensorFlow keeps the written-out form,
    which the TFLite quantizers keep fully integer; JAX keeps it too, as XLA fuses it anyway.
    Both forms compute in float32 for half-precision inputs.

    Args:
        x: `(..., channels)`.
        gamma, beta: `(channels,)`.
        epsilon: float, added to the variance.
    """
    return ops.layer_normalization(x, gamma, beta, epsilon=epsilon)


def use_torch_fused_adamw(amsgrad):
    """Whether `kvit.recipes.optimizers.AdamW` updates with `torch_fused_adamw`.

    On the PyTorch backend, on every device Keras places variables on there (torch's fused
    AdamW runs on CPU, CUDA, MPS and XPU), without AMSGrad.
    """
    return keras.backend.backend() == "torch" and not amsgrad


def torch_fused_adamw(
    variables, gradients, momentums, velocities, *, step, learning_rate, weight_decay, beta_1, beta_2, epsilon
):
    """Keras' AdamW step on `variables` in place, as one `torch.optim.adamw.adamw(fused=True)` call.

    Replaces Keras' chain of elementwise ops per variable, each allocating a temporary as large as
    the variable, with one pass over each (`use_torch_fused_adamw` says where): that chain took
    about 4 s of a 7.6 s MAE ViT-L/16 step at batch 4 on 2 CPU cores (`python
    benchmarks/mae_speed.py --preset MAEViTL16 --batch-size 4 --iters 4 --warmup 1`). The
    arithmetic is Keras': the same decoupled decay, and Keras' epsilon, which is added to
    `sqrt(v)` before the bias correction, passed to torch (which adds it after) as
    `epsilon / sqrt(1 - beta_2 ** step)`.

    Args:
        variables, gradients, momentums, velocities: lists of torch tensors, one of each per
            variable (the values of Keras' variables and of the optimizer's slots).
        step: int, this update's count, from 1 (Keras' `iterations + 1`).
        learning_rate: float.
        weight_decay: float, decoupled; 0 for none.
        beta_1, beta_2, epsilon: Keras' Adam hyper-parameters.
    """
    import torch
    from torch.optim import adamw

    with torch.no_grad():
        adamw.adamw(
            variables,
            gradients,
            momentums,
            velocities,
            [],
            # torch counts steps per tensor and adds one before the update.
            [torch.full((), step - 1.0, device=variable.device) for variable in variables],
            fused=True,
            amsgrad=False,
            beta1=beta_1,
            beta2=beta_2,
            lr=learning_rate,
            weight_decay=weight_decay,
            eps=epsilon / math.sqrt(1 - beta_2**step),
            maximize=False,
        )


def use_tensorflow_apply_adam(gradient, amsgrad):
    """Whether `kvit.recipes.optimizers.AdamW` takes a variable's Adam step with `tensorflow_apply_adam`.

    On the TensorFlow backend, on CPU and GPU (TensorFlow has the kernel on both, and XLA
    compiles it), for a dense gradient (an `IndexedSlices` one takes Keras' sparse update),
    without AMSGrad.
    """
    if keras.backend.backend() != "tensorflow" or amsgrad:
        return False
    import tensorflow as tf

    return not isinstance(gradient, tf.IndexedSlices)


def tensorflow_apply_adam(variable, gradient, momentum, velocity, *, step, learning_rate, beta_1, beta_2, epsilon):
    """Keras' Adam step on `variable` in place, as one `tf.raw_ops.ResourceApplyAdam`.

    Replaces Keras' about ten ops per variable, which the TensorFlow graph runs one by one
    without XLA (`use_tensorflow_apply_adam` says where); Keras' arithmetic came from this kernel.
    On the TensorFlow graph, MAE ViT-L/16's masked step (`python benchmarks/mae_speed.py --preset
    MAEViTL16`) ran 2.30x faster than its all-tokens step with Keras' AdamW, whose cost masking
    does not shrink (`--batch-size 4 --iters 4 --warmup 1`), and 3.27x with this kernel
    (`--batch-size 8 --iters 3 --warmup 1 --runtimes tensorflow`). Weight decay is not part of
    it: the caller applies it first.

    Args:
        variable, momentum, velocity: Keras variables (a weight, the optimizer's slots for it).
        gradient: dense tensor of the variable's shape.
        step: int or scalar tensor, this update's count, from 1 (Keras' `iterations + 1`).
        learning_rate: float or scalar tensor.
        beta_1, beta_2, epsilon: Keras' Adam hyper-parameters.
    """
    import tensorflow as tf

    dtype = variable.dtype
    step = tf.cast(step, dtype)
    beta_1, beta_2 = tf.cast(beta_1, dtype), tf.cast(beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle,
        m=momentum.handle,
        v=velocity.handle,
        beta1_power=tf.pow(beta_1, step),
        beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(learning_rate, dtype),
        beta1=beta_1,
        beta2=beta_2,
        epsilon=tf.cast(epsilon, dtype),
        grad=tf.cast(gradient, dtype),
    )
