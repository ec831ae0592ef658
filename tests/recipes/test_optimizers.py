import math

import keras
import numpy as np
import pytest

from kvit.models import ViT
from kvit.recipes import optimizers


def small_vit(depth=2, **kwargs):
    return ViT(input_shape=(16, 16, 3), patch_size=8, width=16, depth=depth, num_heads=2, classes=5, **kwargs)


def test_warmup_cosine_is_maes_schedule():
    peak, final, initial, total, warmup = 1e-3, 1e-5, 1e-6, 100, 10
    schedule = optimizers.warmup_cosine(peak, total, warmup, initial, final)
    for step in (0, 4, 10, 37, 99, 100, 150):
        if step < warmup:
            expected = initial + (peak - initial) * step / warmup
        else:
            progress = min(step, total) - warmup
            expected = final + (peak - final) * 0.5 * (1 + math.cos(math.pi * progress / (total - warmup)))
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="total_steps"):
        optimizers.warmup_cosine(peak, 10, 10)


def test_weight_decay_skips_norms_biases_tokens_and_position_embeddings():
    model = small_vit()
    optimizer = optimizers.adamw(model, 0.1, weight_decay=0.5)
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.trainable_variables}
    # Zero gradients: Adam moves nothing, so only the decoupled decay changes the weights.
    optimizer.apply([keras.ops.zeros(v.shape, v.dtype) for v in model.trainable_variables], model.trainable_variables)
    decayed = sorted(
        v.path for v in model.trainable_variables
        if not np.allclose(keras.ops.convert_to_numpy(v), before[v.path])
    )
    assert decayed == sorted(v.path for v in model.trainable_variables if v.path.endswith("kernel"))
    kernel = model.get_layer("head").kernel
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), before[kernel.path] * (1 - 0.1 * 0.5), rtol=1e-5)


def test_learning_rate_multipliers_survive_serialization():
    # That the multipliers scale each variable's step, fused or not: tests/test_fast_paths.py.
    optimizer = optimizers.AdamW(learning_rate=0.1, lr_multipliers={"w0": 0.25})
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert isinstance(restored, optimizers.AdamW) and restored.lr_multipliers == {"w0": 0.25}
