"""Data-parallel training on 4 virtual CPU devices, against one device, in subprocesses.

JAX gets its devices from `XLA_FLAGS=--xla_force_host_platform_device_count=4` (set before jax is
imported), TensorFlow from 4 logical CPU devices (set before its runtime starts).
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.once

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r'''
import json, os, sys
backend = os.environ["KERAS_BACKEND"]
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)
import keras
import numpy as np
import tensorflow as tf
from kvit.models import ViT
from kvit.recipes import distribute, optimizers

rng = np.random.default_rng(0)
x = rng.uniform(0, 255, (64, 8, 8, 3)).astype("float32")
y = keras.utils.to_categorical(rng.integers(0, 3, 64), 3)
replica_batches = []

class RecordBatch(keras.layers.Layer):
    def call(self, inputs):
        if backend == "tensorflow":
            replica_batches.append(inputs.shape[0])  # at trace time: the batch each replica sees
        return inputs

def train(setup):
    keras.utils.set_random_seed(0)
    with setup.scope():
        inputs = keras.Input((8, 8, 3))
        vit = ViT(input_shape=(8, 8, 3), patch_size=4, width=16, depth=1, num_heads=2, classes=3)
        model = keras.Model(inputs, vit(RecordBatch()(inputs)))
        # The recipes' AdamW: on TensorFlow its fused update runs inside the strategy's update calls.
        optimizer = optimizers.adamw(model, 0.01, weight_decay=0.05)
        model.compile(optimizer, keras.losses.CategoricalCrossentropy(from_logits=True))
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True)
        model.fit(data, epochs=2, verbose=0)  # 8 steps
        seen = list(replica_batches)
        loss = float(model.evaluate(x, y, batch_size=64, verbose=0))
    return loss, model, seen

one, _, _ = train(distribute.single_device())
setup = distribute.data_parallel(16)
replica_batches.clear()
four, model, seen = train(setup)
out = dict(one=one, four=four, devices=setup.num_devices, engine=setup.engine, replica_batches=seen)
if backend == "jax":
    out["variable_devices"] = len(model.weights[0].value.sharding.device_set)
    import keras.distribution as kd
    out["data_axes"] = list(kd.DataParallel(devices=kd.list_devices()).get_data_layout((16, 8, 8, 3)).axes)
try:
    distribute.data_parallel(6)
except ValueError as error:
    out["indivisible"] = str(error)
print(json.dumps(out))
'''


def run(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT}
    if backend == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_jax_data_parallel_matches_one_device():
    result = run("jax")
    assert (result["devices"], result["engine"]) == (4, "keras.distribution.DataParallel")
    assert result["variable_devices"] == 4 and result["data_axes"][0] == "batch"  # replicated weights, split batch
    assert result["four"] == pytest.approx(result["one"], rel=1e-4)
    assert "not divisible by the 4 devices" in result["indivisible"]


def test_tensorflow_mirrored_strategy_matches_one_device():
    result = run("tensorflow")
    assert (result["devices"], result["engine"]) == (4, "MirroredStrategy")
    assert set(result["replica_batches"]) - {None} == {4}  # each step's 16 images split 4 x 4
    assert result["four"] == pytest.approx(result["one"], rel=1e-4)
    assert "not divisible by the 4 devices" in result["indivisible"]


def test_pytorch_says_what_it_supports(monkeypatch):
    import keras

    from kvit.recipes import distribute

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ValueError, match="Keras 3.15 has no distribution for it.*torchrun"):
        distribute.data_parallel(8)
