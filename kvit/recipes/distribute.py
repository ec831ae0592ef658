"""Data-parallel training on the engines each backend has: `keras.distribution` on JAX, `tf.distribute` on TensorFlow.

`data_parallel(batch_size)` returns a `DataParallel` whose `scope()` the model is built and
compiled in; `fit` then splits every global batch of `batch_size` over the devices and averages
the gradients. Keras 3.15 has no distribution for PyTorch (its `distribution_lib` is None there):
run one process per device with `torchrun` and PyTorch's own DistributedDataParallel instead.

Several hosts: on JAX set `KERAS_DISTRIBUTION_JOB_ADDRESSES` (comma-separated `host:port`, the
first is the coordinator), `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`
on each host; `data_parallel` then calls `keras.distribution.initialize()`, and the devices of
every host form one mesh (on TPU pods JAX finds its peers itself). On TensorFlow set `TF_CONFIG`
on each worker; `data_parallel` then uses `MultiWorkerMirroredStrategy`. TPUs: on JAX the TPU
cores are the devices; on TensorFlow pass `tpu=True` (or a TPU name) for a `TPUStrategy`.
"""

import contextlib
import os

import keras


class DataParallel:
    """One data-parallel setup: `scope()` to build and compile in, `num_devices`, `is_chief`.

    Attributes:
        engine: `"keras.distribution.DataParallel"` or the `tf.distribute` strategy's class name.
        num_devices: int, the replicas a global batch is split over.
        is_chief: bool, whether this process writes checkpoints and logs (the first host).
    """

    def __init__(self, engine, num_devices, scope, is_chief=True):
        self.engine = engine
        self.num_devices = num_devices
        self._scope = scope
        self.is_chief = is_chief

    def scope(self):
        return self._scope()


def data_parallel(batch_size, devices=0, tpu=None):
    """Selects data-parallel training over `devices` on the current backend.

    Args:
        batch_size: int, the global batch size; the devices must divide it.
        devices: int, how many local devices to use (0: all: every GPU or TPU core, else the
            CPU devices; virtual ones with `XLA_FLAGS=--xla_force_host_platform_device_count=N`
            on JAX or logical devices on TensorFlow).
        tpu: TensorFlow only: True or a TPU name for `TPUStrategy`.

    Raises:
        ValueError: on PyTorch; when the devices do not divide `batch_size`; for more devices
            than there are.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        setup = _jax(devices)
    elif backend == "tensorflow":
        setup = _tensorflow(devices, tpu)
    else:
        raise ValueError(
            f"Data-parallel training is not available on the {backend!r} backend: Keras 3.15 has no "
            "distribution for it. Use JAX (keras.distribution) or TensorFlow (tf.distribute), or run "
            "PyTorch's DistributedDataParallel with torchrun yourself."
        )
    if batch_size % setup.num_devices:
        raise ValueError(
            f"`batch_size` {batch_size} is not divisible by the {setup.num_devices} devices of "
            f"{setup.engine}; each device must get the same share of the global batch."
        )
    return setup


def _jax(devices):
    import jax

    if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES") and not jax.distributed.is_initialized():
        keras.distribution.initialize()
    available = keras.distribution.list_devices()
    chosen = _choose(available, devices)
    distribution = keras.distribution.DataParallel(devices=chosen)
    return DataParallel(
        "keras.distribution.DataParallel", len(chosen), distribution.scope, is_chief=jax.process_index() == 0
    )


def _tensorflow(devices, tpu):
    import tensorflow as tf

    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu is True else tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        chief = True
    elif os.environ.get("TF_CONFIG"):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        chief = resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)
    else:
        available = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        chosen = _choose(available, devices)
        cross_device = tf.distribute.ReductionToOneDevice() if "GPU" not in chosen[0] else None
        strategy = tf.distribute.MirroredStrategy(chosen, cross_device_ops=cross_device)
        chief = True
    return DataParallel(type(strategy).__name__, strategy.num_replicas_in_sync, strategy.scope, is_chief=chief)


def _choose(available, devices):
    if not isinstance(devices, int) or devices < 0:
        raise ValueError(f"`devices` must be a non-negative int (0: all), got {devices!r}.")
    if devices > len(available):
        raise ValueError(f"`devices` asks for {devices}, but only {len(available)} are available: {available}.")
    return list(available[: devices or len(available)])


def single_device():
    """The setup of plain one-device training (a scope that does nothing)."""
    return DataParallel("one device", 1, contextlib.nullcontext)
