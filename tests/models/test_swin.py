import copy
import functools
import re

import keras
import numpy as np
import pytest

import kvit
from kvit.applications.application import preset_for
from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
from kvit.layers.window_attention import resize_relative_position_bias_table
from kvit.layers.windows import cyclic_shift, shifted_window_mask, window_merge, window_partition
from kvit.models import swin
from kvit.testing import (
    check_feature_levels,
    check_keras_round_trip,
    check_timm_parity,
    create_timm_model,
    import_timm,
    noise_weights,
    normalize,
    pixels,
    run_timm,
    timm_checkpoint,
)

RNG = np.random.default_rng(0)
IMAGENET_STATS = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
# The tests beyond parity use this tiny config: on JAX every new weight shape costs a compile of
# its initializer. At 40x52 it pads (10x13 patches, window 3), shifts, masks, merges an odd width
# and shrinks the last window (5x7 -> 3x3 windows of 6x9 padded).
TINY = dict(embed_dim=16, depths=(2, 2), num_heads=(1, 2), window_size=3, classes=5)
TINY_TIMM = dict(embed_dim=16, depths=(2, 2), num_heads=(1, 2), window_size=3, num_classes=5)
TINY_SIZE = (40, 52)


@functools.cache
def timm_model_at(timm_name, size):
    """timm's model with random weights at `size`; one per name, resized with timm's `set_input_size`
    (which builds what `img_size=size` builds) for the other sizes: creating one takes seconds."""
    model, _ = create_timm_model(timm_name)
    if size != model.patch_embed.img_size:
        model = copy.deepcopy(model)
        model.set_input_size(img_size=size, window_size=model.layers[0].blocks[0].attn.window_size)
    return model


def assert_matches_timm(name, timm_name, size, **kwargs):
    """Logits and the four feature maps of a kvit application against timm's, same random weights."""
    build = functools.partial(
        kvit.applications.APPLICATIONS[name], input_shape=(*size, 3), classifier_activation=None, **kwargs
    )
    check_timm_parity(build, timm_model_at(timm_name, size), levels=["P2", "P3", "P4", "P5"], **IMAGENET_STATS)


# 162x298: the patch embedding drops a remainder, stages pad to whole windows (40x74 -> 42x77),
# patch merging pads odd widths (37, 19), and the last stage (5x10) shrinks its window to 5x7
# and shifts along the width only.
@pytest.mark.parametrize("name, timm_name, size", [
    ("SwinT", "swin_tiny_patch4_window7_224", (224, 224)),
    ("SwinT", "swin_tiny_patch4_window7_224", (162, 298)),
    ("SwinV2T", "swinv2_tiny_window8_256", (256, 256)),
], ids=["T-224", "T-162x298", "V2T-256"])
def test_matches_timm(name, timm_name, size):
    assert_matches_timm(name, timm_name, size)


@pytest.mark.slow
@pytest.mark.parametrize("name, timm_name, size, kwargs", [
    ("SwinS", "swin_small_patch4_window7_224", (224, 224), {}),
    ("SwinB", "swin_base_patch4_window7_224", (224, 224), {}),
    ("SwinL", "swin_large_patch4_window7_224", (224, 224), {}),
    ("SwinB", "swin_base_patch4_window12_384", (384, 384), {}),
    ("SwinL", "swin_large_patch4_window12_384", (384, 384), {}),
    ("SwinV2T", "swinv2_tiny_window16_256", (256, 256), dict(window_size=16)),
    ("SwinV2S", "swinv2_small_window8_256", (256, 256), {}),
    ("SwinV2S", "swinv2_small_window16_256", (256, 256), dict(window_size=16)),
    ("SwinV2B", "swinv2_base_window8_256", (256, 256), {}),
    ("SwinV2B", "swinv2_base_window16_256", (256, 256), dict(window_size=16)),
    ("SwinV2T", "swinv2_tiny_window8_256", (162, 298), {}),
])
def test_matches_timm_all_variants(name, timm_name, size, kwargs):
    assert_matches_timm(name, timm_name, size, **kwargs)


def test_window_machinery_follows_timm():
    import torch

    timm_swin = import_timm().models.swin_transformer
    x = RNG.normal(size=(2, 6, 9, 5)).astype("float32")
    windows = keras.ops.convert_to_numpy(window_partition(keras.ops.convert_to_tensor(x), (2, 3)))
    expected = timm_swin.window_partition(torch.from_numpy(x), (2, 3)).reshape(-1, 6, 5).numpy()
    np.testing.assert_array_equal(windows, expected)
    merged = window_merge(keras.ops.convert_to_tensor(windows), (2, 3), (6, 9))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(merged), x)
    for axis, shift, length in ((1, -2, None), (2, 4, 7), (1, 1, 5)):
        rolled = keras.ops.convert_to_numpy(cyclic_shift(keras.ops.convert_to_tensor(x), shift, axis, length))
        kept = x[:, :length] if axis == 1 else x[:, :, :length]
        np.testing.assert_array_equal(rolled, np.roll(kept, shift, axis=axis))
    block = timm_swin.SwinTransformerBlock(8, (10, 13), num_heads=1, window_size=4, shift_size=2)
    np.testing.assert_array_equal(shifted_window_mask((12, 16), (4, 4), (2, 2)), block.attn_mask.numpy())


@pytest.mark.once
@pytest.mark.parametrize("source, target", [(7, (12, 12)), (7, (5, 7)), (12, (7, 7)), (7, (7, 7))])
def test_bias_table_resize_follows_timm(source, target):
    import torch

    from timm.layers import resize_rel_pos_bias_table

    import_timm()
    table = RNG.normal(size=((2 * source - 1) ** 2, 3)).astype("float32")
    expected = resize_rel_pos_bias_table(
        torch.from_numpy(table), new_window_size=target, new_bias_shape=((2 * target[0] - 1) * (2 * target[1] - 1), 3)
    ).numpy()
    np.testing.assert_allclose(resize_relative_position_bias_table(table, target), expected, atol=1e-6, rtol=0)


def test_window_7_checkpoint_in_a_window_12_model_matches_timm():
    """timm's checkpoint filter resizes the bias tables; loading the same file, kvit resizes them alike."""
    from safetensors.torch import load_file

    timm = import_timm()
    config = dict(embed_dim=16, depths=(2, 2), num_heads=(1, 2), num_classes=5)  # TINY's widths

    def timm_window_12(path):
        timm_model = timm.create_model("swin_base_patch4_window12_384", img_size=96, **config).eval()
        timm_model.load_state_dict(timm.models.swin_transformer.checkpoint_filter_fn(load_file(path), timm_model))
        return timm_model

    build = functools.partial(
        kvit.applications.SwinT, input_shape=(96, 96, 3), window_size=12, classes=5, classifier_activation=None,
        embed_dim=16, depths=(2, 2), num_heads=(1, 2),
    )
    model = check_timm_parity(
        build, "swin_tiny_patch4_window7_224", atol=1e-5, timm_reference=timm_window_12, img_size=96,
        **config, **IMAGENET_STATS,
    )
    assert tuple(model.get_layer("layers_0_blocks_1").attn.relative_position_bias_table.shape) == (23 * 23, 1)


def original_layout(state):
    """A timm-layout state dict in the original (Microsoft / older timm) layout, with its buffers."""
    renamed = {}
    for key, value in state.items():
        key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) - 1}.downsample.", key)
        renamed[key.replace("head.fc.", "head.")] = value
    renamed["layers.0.blocks.1.attn_mask"] = np.zeros((4, 9, 9), "float32")
    renamed["layers.0.blocks.0.attn.relative_position_index"] = np.zeros((9, 9), "int64")
    return renamed


@pytest.mark.once
@pytest.mark.parametrize("timm_name, convert", [
    ("swin_tiny_patch4_window7_224", swin.convert_timm_checkpoint),
    ("swinv2_tiny_window8_256", swin.convert_timm_v2_checkpoint),
], ids=["v1", "v2"])
def test_both_downsample_layouts(timm_name, convert):
    import torch

    timm = import_timm()
    timm_model, state = create_timm_model(timm_name, img_size=TINY_SIZE, **TINY_TIMM)
    original = original_layout(state)
    assert "layers.0.downsample.reduction.weight" in original and "head.weight" in original
    # timm's own filter maps it back: it is the layout timm reads.
    module = timm.models.swin_transformer_v2 if "v2" in timm_name else timm.models.swin_transformer
    timm_model.load_state_dict(module.checkpoint_filter_fn({k: torch.from_numpy(v) for k, v in original.items()}, timm_model))
    converted, expected = convert(original), convert(state)
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(converted[key], value)


def test_a_checkpoint_of_the_other_version_is_refused(tmp_path):
    _, v1, v1_path = timm_checkpoint(tmp_path, "swin_tiny_patch4_window7_224", img_size=TINY_SIZE, **TINY_TIMM)
    _, _, v2_path = timm_checkpoint(tmp_path, "swinv2_tiny_window8_256", img_size=TINY_SIZE, **TINY_TIMM)
    with pytest.raises(ValueError, match="is a Swin V1 checkpoint .* and the model a Swin V2"):
        kvit.applications.SwinV2T(weights=v1_path, input_shape=(*TINY_SIZE, 3), **TINY)
    with pytest.raises(ValueError, match="is a Swin V2 checkpoint .* and the model a Swin V1"):
        kvit.applications.SwinT(weights=v2_path, input_shape=(*TINY_SIZE, 3), **TINY)
    with pytest.raises(ValueError, match="Not a timm Swin V1 checkpoint: unknown tensors"):
        swin.convert_timm_checkpoint({**v1, "layers.0.blocks.0.attn.gamma": np.ones(3, "float32")})


def test_keras_file_round_trip():
    """Both versions save and load; the V2 model carries timm's weights and matches timm where the
    tiny config pads, shifts, shrinks its window and merges an odd width."""
    timm_v2, state = create_timm_model("swinv2_tiny_window8_256", img_size=TINY_SIZE, **TINY_TIMM)
    v1 = noise_weights(swin.SwinTransformer(input_shape=(*TINY_SIZE, 3), drop_path_rate=0.1, dropout_rate=0.1, **TINY))
    v2 = swin.SwinTransformerV2(input_shape=(*TINY_SIZE, 3), drop_path_rate=0.1, dropout_rate=0.1, **TINY)
    kvit.applications.weights.assign_weights(v2, swin.convert_timm_v2_checkpoint(state), swin.HEAD_LAYERS)
    x = pixels(TINY_SIZE, batch=2)
    _, v2_output = check_keras_round_trip([v1, v2], x)  # one graph: one compile on JAX
    np.testing.assert_allclose(v2_output, run_timm(timm_v2, normalize(x, **IMAGENET_STATS)), atol=1e-5, rtol=0)


def test_v2_trains():
    """One step of fit moves the weights of cosine window attention and its position MLP (V2, whose
    attention has more to differentiate than V1's; the tiny config)."""
    model = swin.SwinTransformerV2(input_shape=(*TINY_SIZE, 3), drop_path_rate=0.2, **TINY)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    attn = model.get_layer("layers_1_blocks_1").attn
    watched = [attn.logit_scale, attn.q_bias, attn.v_bias, attn.cpb_fc1.kernel, attn.qkv.kernel]
    before = [keras.ops.convert_to_numpy(w) for w in watched]
    history = model.fit(pixels(TINY_SIZE, batch=4), np.array([0, 1, 2, 3]), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for old, weight in zip(before, watched):
        assert not np.array_equal(old, keras.ops.convert_to_numpy(weight)), weight.path


def test_without_top():
    assert tuple(kvit.applications.SwinT(include_top=False).output.shape) == (None, 7, 7, 768)
    for pooling in ("avg", "max"):
        model = swin.SwinTransformer(input_shape=(*TINY_SIZE, 3), include_top=False, pooling=pooling, **TINY)
        assert tuple(model.output.shape) == (None, 32)


def test_feature_levels_of_a_non_square_input():
    model = swin.SwinTransformer(input_shape=(*TINY_SIZE, 3), include_top=False, **TINY)
    check_feature_levels(model, {"P2": (None, 10, 13, 16), "P3": (None, 5, 7, 32)}, {"P2": 4, "P3": 8})


@pytest.mark.once
def test_presets_pick_their_checkpoints():
    presets = kvit.applications.PRESETS
    assert preset_for(presets["SwinB"], (384, 384, 3))["hub_id"] == "timm/swin_base_patch4_window12_384.ms_in22k_ft_in1k"
    assert preset_for(presets["SwinB"], (384, 384, 3))["config"]["window_size"] == 12
    assert preset_for(presets["SwinT"], (384, 384, 3))["hub_id"] == "timm/swin_tiny_patch4_window7_224.ms_in1k"
    assert preset_for(presets["SwinV2S"], (256, 256, 3), {"window_size": 16})["hub_id"] == "timm/swinv2_small_window16_256.ms_in1k"
    assert preset_for(presets["SwinV2S"], (256, 256, 3), {})["hub_id"] == "timm/swinv2_small_window8_256.ms_in1k"
    assert "`window_size=16` takes `timm/swinv2_base_window16_256.ms_in1k`" in kvit.applications.SwinV2B.__doc__


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=(3, 52, 3)), "`input_shape` .* at least `patch_size`=4"),
    (dict(input_shape=(None, None, 3)), "`input_shape` must be a static"),
    (dict(window_size=0), "`window_size` must be a positive int"),
    (dict(num_heads=(3, 2)), r"`num_heads`\[0\]=3 must divide the width 16"),
    (dict(depths=(2, 0)), "`depths`"),
    (dict(pooling="sum", include_top=False), "`pooling`"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        swin.SwinTransformer(**{**TINY, "input_shape": (*TINY_SIZE, 3), **kwargs})
