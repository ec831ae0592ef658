"""Long-lived processes keep flat memory: conversions keep no graph alive, interpreters free
theirs, and `predict_on_batch` over mixed batch sizes traces a bounded number of times.

`benchmarks/memory.py` measures the same on full-size models over many calls.
"""

import gc

import keras
import numpy as np
import pytest

from kvit import tflite
from kvit.models import MobileViT


def rss_mb():
    gc.collect()
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def tiny_mobilevit(**kwargs):
    """A MobileViT whose transformer MLPs use SiLU: `tf.nn.silu` is a `tf.custom_gradient`, whose
    graph registration kept every traced conversion graph alive before the fix."""
    return MobileViT(
        input_shape=(32, 32, 3), stem_width=8, widths=(8, 16, 16), depths=(1, 1, 1),
        transformer_widths=(16,), transformer_depths=(2,), head_width=0, num_heads=2, classes=4,
        **kwargs,
    )


@pytest.mark.tensorflow
def test_conversions_keep_no_graph_alive():
    from tensorflow.python.framework import ops

    def live_graphs():
        gc.collect()
        return sum(isinstance(o, ops.Graph) for o in gc.get_objects())

    model = tiny_mobilevit()
    tflite.convert(model)
    graphs = live_graphs()
    for mode in ("dynamic", "float32"):
        tflite.convert(model, quantization=mode)
    # Counting graphs, not RSS: late in a suite the process holds gigabytes and its allocator's
    # caches move RSS by tens of MB either way; `benchmarks/memory.py` measures RSS alone.
    assert live_graphs() <= graphs


@pytest.mark.once
def test_interpreters_free_their_memory(tmp_path):
    content = tflite.convert(tiny_mobilevit())
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for _ in range(5):
        tflite.Interpreter(content)(images)
    start = rss_mb()
    for _ in range(20):
        tflite.Interpreter(content)(images)
        tflite.benchmark(content, warmup_runs=0, runs=1)
    assert (rss_mb() - start) / 20 < 1


def test_predict_on_batch_traces_a_bounded_number_of_times():
    model = tiny_mobilevit()
    images = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    batch_sizes = [1, 2, 3, 4, 5, 6] * 4
    model.predict_on_batch(images[:1])
    backend = keras.backend.backend()
    if backend == "tensorflow":
        start = model.predict_function.experimental_get_tracing_count()
    compilations = []
    if backend == "jax":
        import jax

        def listen(event, duration, **kwargs):
            if event == "/jax/core/compile/backend_compile_duration" and compilations is not None:
                compilations.append(event)

        jax.monitoring.register_event_duration_secs_listener(listen)
    for size in batch_sizes:
        assert model.predict_on_batch(images[:size]).shape == (size, 4)
    if backend == "tensorflow":
        # `reduce_retracing`: after a second shape Keras' function takes any batch size.
        assert model.predict_function.experimental_get_tracing_count() - start <= 1
    elif backend == "jax":
        # `jax.jit` compiles once per new batch size (five here, none again on repeats); bounded
        # by the number of distinct sizes a caller uses, not by the number of calls.
        # jax 0.10 has no public way to unregister a listener: this one stops counting instead.
        counted, compilations = len(compilations), None
        assert counted <= len(set(batch_sizes)) - 1
