import math

import keras
import numpy as np
import pytest

from kvit.models import MobileViT, ViT, vit
from kvit.recipes import layer_decay, optimizers


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


def test_learning_rate_multipliers_scale_each_variables_step(monkeypatch):
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
    if keras.backend.backend() == "torch":
        from torch.optim import adamw

        fused = adamw.adamw
        monkeypatch.setattr(adamw, "adamw", lambda *a, **k: fused_calls.append(k["fused"]) or fused(*a, **k))
    if keras.backend.backend() == "tensorflow":
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
    if keras.backend.backend() == "torch":
        assert fused_calls == [True] * 9  # three steps of three groups: (0.25, decayed), (1, decayed), (1, not)
    if keras.backend.backend() == "tensorflow":
        assert fused_calls == [True] * 12  # three steps of four variables
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(scaled))
    assert isinstance(restored, optimizers.AdamW) and restored.lr_multipliers == {"w0": 0.25}


@pytest.mark.once
def test_layer_decay_and_weight_decay_match_timms_parameter_groups():
    from reference import import_timm

    timm = import_timm()
    from timm.optim import param_groups_layer_decay

    depth, decay = 3, 0.6
    reference = timm.create_model("vit_tiny_patch16_224", depth=depth, img_size=32, num_classes=5)
    groups = param_groups_layer_decay(
        reference, weight_decay=0.05, no_weight_decay_list=reference.no_weight_decay(), layer_decay=decay
    )
    names = {id(p): n for n, p in reference.named_parameters()}
    timm_scale, timm_decays = {}, {}
    for group in groups:
        for parameter in group["params"]:
            (path,) = vit.convert_timm_checkpoint({names[id(parameter)]: parameter.detach().numpy()})
            timm_scale[path], timm_decays[path] = group["lr_scale"], group["weight_decay"] > 0
    model = ViT(input_shape=(32, 32, 3), patch_size=16, width=192, depth=depth, num_heads=3, classes=5)
    ours = layer_decay.layer_decay_multipliers(model, decay)
    undecayed = {v.path for v in optimizers.no_weight_decay(model)}
    assert set(ours) == set(timm_scale)
    for path, scale in ours.items():
        # The final norm: timm groups it with the last block, MAE's lr_decay.py with the head (ours).
        expected = 1.0 if path.startswith("norm/") else timm_scale[path]
        assert scale == pytest.approx(expected), path
        assert (path not in undecayed) == timm_decays[path], path
    assert ours["blocks_0/attn/qkv/kernel"] == pytest.approx(decay**depth)
    assert ours["patch_embed/proj/kernel"] == pytest.approx(decay ** (depth + 1))


def test_layer_depths_of_a_hybrid_with_stages():
    model = MobileViT(
        input_shape=(32, 32, 3), stem_width=8, widths=(8, 8, 16, 16, 16), expansion_ratio=2.0,
        transformer_widths=(16, 16, 16), transformer_depths=(1, 1, 1), head_width=16, num_heads=2, classes=3,
    )
    depths, top = layer_decay.layer_depths(model)
    assert depths["stem/conv/kernel"] == 0 and depths["head/kernel"] == top
    stage_depths = [d for p, d in depths.items() if p.startswith("stages_")]
    assert min(stage_depths) == 1 and max(stage_depths) == top - 1
    with pytest.raises(ValueError, match="block_pattern"):
        layer_decay.layer_depths(model, block_pattern=r"^nothing_\d+")
