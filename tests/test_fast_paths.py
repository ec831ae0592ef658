"""Each fast path of `kvit.fast_paths` equals its `keras.ops` form, and applies only where its predicate says."""

import keras
import numpy as np
import pytest

from kvit import fast_paths
from kvit.layers import ConvNormAct, LayerNorm
from kvit.layers.normalization import standardize
from kvit.recipes import optimizers

BACKEND = keras.backend.backend()


def numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize(
    "kernel_size, strides, padding",
    [(3, (1, 1), "same"), (4, (1, 1), "same"), (5, (1, 1), "same"), (3, (2, 2), "valid"), (5, (1, 1), "valid"),
     (4, (2, 1), "valid"), (1, (2, 2), "valid")],
)
def test_shifted_slice_depthwise_conv_equals_keras_op(kernel_size, strides, padding, dtype):
    rng = np.random.default_rng(0)
    x = keras.ops.cast(rng.normal(size=(2, 9, 12, 5)).astype("float32"), dtype)
    kernel = keras.ops.cast(rng.normal(size=(kernel_size, kernel_size, 5, 1)).astype("float32"), dtype)
    expected = keras.ops.depthwise_conv(x, kernel, strides, padding)
    actual = fast_paths.depthwise_conv_as_shifted_slices(x, kernel, strides, padding)
    assert keras.backend.standardize_dtype(actual.dtype) == dtype
    assert tuple(actual.shape) == tuple(expected.shape)
    expected = numpy(expected)
    # bfloat16 keeps 8 bits: both sides round their output, and the Keras op may also accumulate in it.
    tolerance = 1e-5 if dtype == "float32" else 2**-7 * np.abs(expected).max()
    np.testing.assert_allclose(numpy(actual), expected, atol=tolerance, rtol=0)


@pytest.mark.parametrize(
    "kernel_shape, strides, padding, supported",
    [
        ((3, 3, 4, 1), (1, 1), "same", True),
        ((4, 4, 4, 1), (1, 1), "same", True),
        ((3, 3, 4, 1), (2, 2), "valid", True),
        ((3, 3, 4, 1), (2, 2), "same", False),  # Keras pads a strided "same" its own way
        ((3, 3, 4, 2), (1, 1), "valid", False),  # a depth multiplier
    ],
)
def test_jax_cpu_depthwise_applies_on_jax_only(kernel_shape, strides, padding, supported):
    kernel = keras.ops.zeros(kernel_shape)
    assert fast_paths.use_jax_cpu_depthwise(kernel, strides, padding) == (supported and BACKEND == "jax")


def test_conv_norm_act_takes_the_shifted_slices_only_on_jax_on_cpu(monkeypatch):
    calls = []
    shifted = fast_paths.depthwise_conv_as_shifted_slices
    monkeypatch.setattr(fast_paths, "depthwise_conv_as_shifted_slices", lambda *args: calls.append(1) or shifted(*args))
    ConvNormAct(6, 3, groups=6)(np.ones((1, 8, 8, 6), "float32"))
    on_cpu = BACKEND == "jax" and fast_paths.jax_platform() == "cpu"
    assert len(calls) == on_cpu


@pytest.mark.skipif(BACKEND != "jax", reason="the JAX device query")
def test_jax_cpu_depthwise_is_off_on_other_devices(monkeypatch):
    import jax

    kernel = keras.ops.zeros((3, 3, 4, 1))
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert fast_paths.jax_platform() == "gpu"
    assert not fast_paths.use_jax_cpu_depthwise(kernel, (1, 1), "same")
    with keras.device("cpu:0"):  # Keras' device scope sets JAX's default device, which wins
        assert fast_paths.use_jax_cpu_depthwise(kernel, (1, 1), "same")
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    with jax.default_device("tpu"):
        assert not fast_paths.use_jax_cpu_depthwise(kernel, (1, 1), "same")


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit")
def test_jax_platform_is_read_again_under_another_device_scope():
    """Under `jit` the predicate is read at trace time: a device scope must not reuse a trace from outside it."""
    import jax

    traced = []

    @jax.jit
    def convolve(x, kernel):
        traced.append(fast_paths.jax_platform())
        return x * kernel

    convolve(np.ones(2, "float32"), np.ones(2, "float32"))
    with jax.default_device("cpu"):
        convolve(np.ones(2, "float32"), np.ones(2, "float32"))
    assert traced == [jax.default_backend(), "cpu"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_torch_layer_norm_equals_standardize(dtype):
    rng = np.random.default_rng(0)
    x = keras.ops.cast(rng.normal(size=(2, 5, 16)).astype("float32") * 3 + 1, dtype)
    gamma, beta = np.linspace(0.5, 1.5, 16).astype("float32"), np.linspace(-1, 1, 16).astype("float32")
    fused = fast_paths.torch_layer_norm(x, gamma, beta, 1e-6)
    written_out = standardize(x, -1, 1e-6) * keras.ops.cast(gamma, dtype) + keras.ops.cast(beta, dtype)
    assert keras.backend.standardize_dtype(fused.dtype) == dtype
    tolerance = 1e-5 if dtype == "float32" else 2**-7 * 4  # outputs up to ~4 in bfloat16
    np.testing.assert_allclose(numpy(fused), numpy(written_out), atol=tolerance, rtol=0)


def test_layer_norm_takes_the_fused_kernel_only_on_torch(monkeypatch):
    calls = []
    fused = fast_paths.torch_layer_norm
    monkeypatch.setattr(fast_paths, "torch_layer_norm", lambda *args: calls.append(1) or fused(*args))
    LayerNorm(1e-6)(np.ones((2, 3, 8), "float32"))
    assert fast_paths.use_torch_layer_norm() == (BACKEND == "torch")
    assert len(calls) == (BACKEND == "torch")


def test_fused_adamw_equals_keras_adamw(monkeypatch):
    """Over three steps, a variable at multiplier m follows Keras' AdamW at learning rate m * lr, and
    one excluded from decay follows it without decay; on PyTorch and TensorFlow, through their fused
    Adam kernels."""
    rng = np.random.default_rng(0)
    shapes = {"w0": (3, 4), "w1": (5,), "w2": (2, 3), "w3": (4,)}
    values = {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
    grads = [{name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()} for _ in range(3)]
    for step in grads:
        step["w3"] *= 1e-7  # gradients as small as epsilon: where it is added shows

    def train(optimizer, names, undecayed=()):
        variables = [keras.Variable(values[name], name=name) for name in names]
        optimizer.exclude_from_weight_decay(var_list=[v for v in variables if v.name in undecayed])
        for step in grads:
            optimizer.apply([keras.ops.convert_to_tensor(step[name]) for name in names], variables)
        return {name: keras.ops.convert_to_numpy(v) for name, v in zip(names, variables)}

    fused_calls = []
    if BACKEND == "torch":
        from torch.optim import adamw

        fused = adamw.adamw
        monkeypatch.setattr(adamw, "adamw", lambda *a, **k: fused_calls.append(k["fused"]) or fused(*a, **k))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        fused = tf.raw_ops.ResourceApplyAdam
        monkeypatch.setattr(tf.raw_ops, "ResourceApplyAdam", lambda **k: fused_calls.append(True) or fused(**k))
    scaled = optimizers.AdamW(learning_rate=0.1, weight_decay=0.2, lr_multipliers={"w0": 0.25})
    ours = train(scaled, list(shapes), undecayed=("w2",))
    expected = {
        **train(keras.optimizers.AdamW(learning_rate=0.025, weight_decay=0.2), ["w0"]),
        **train(keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.2), ["w1", "w3"]),
        **train(keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.0), ["w2"]),
    }
    for name in shapes:
        np.testing.assert_allclose(ours[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    expected_calls = {
        "torch": 9,  # three steps of three groups: (0.25, decayed), (1, decayed), (1, not)
        "tensorflow": 12,  # three steps of four variables
        "jax": 0,
    }
    assert fused_calls == [True] * expected_calls[BACKEND]


def test_fused_adam_predicates():
    gradient = keras.ops.zeros((3,))
    assert fast_paths.use_torch_fused_adamw(amsgrad=False) == (BACKEND == "torch")
    assert fast_paths.use_tensorflow_apply_adam(gradient, amsgrad=False) == (BACKEND == "tensorflow")
    assert not fast_paths.use_torch_fused_adamw(amsgrad=True)
    assert not fast_paths.use_tensorflow_apply_adam(gradient, amsgrad=True)
    if BACKEND == "tensorflow":  # a sparse gradient takes Keras' sparse update
        import tensorflow as tf

        sparse = tf.IndexedSlices(tf.zeros((1, 3)), tf.constant([0]), dense_shape=tf.constant([4, 3]))
        assert not fast_paths.use_tensorflow_apply_adam(sparse, amsgrad=False)
