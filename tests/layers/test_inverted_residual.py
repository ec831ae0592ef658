import json

import keras
import numpy as np
import pytest
import torch

from kvit.layers import InvertedResidual, make_divisible
from kvit.models.timm_layout import batch_norm, conv_kernel, depthwise_kernel
from kvit.testing import import_timm

RNG = np.random.default_rng(0)
TIMM_NAMES = {"expand_conv": "conv1_1x1", "depthwise_conv": "conv2_kxk", "project_conv": "conv3_1x1"}


def timm_block(channels, filters, strides, expansion_ratio):
    """timm's MobileNetV2 block as ByobNet builds it for MobileViT, with noisy weights and statistics."""
    import_timm()
    from timm.models.byobnet import BottleneckBlock, ByoModelCfg, get_layer_fns

    torch.manual_seed(0)
    block = BottleneckBlock(
        channels, filters, stride=strides, bottle_ratio=expansion_ratio, group_size=1, downsample="",
        bottle_in=True, linear_out=True, layers=get_layer_fns(ByoModelCfg(blocks=(), act_layer="silu")),
    ).eval()
    with torch.no_grad():
        for key, tensor in block.state_dict().items():
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape) + 0.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape) * 0.1)
    return block


def copy_weights(layer, block):
    state = {k: v.numpy() for k, v in block.state_dict().items()}
    arrays = {}
    for ours, theirs in TIMM_NAMES.items():
        kernel = state[f"{theirs}.conv.weight"]
        arrays[f"block/{ours}/conv/kernel"] = depthwise_kernel(kernel) if ours == "depthwise_conv" else conv_kernel(kernel)
        arrays.update(batch_norm(f"{theirs}.bn", f"block/{ours}/bn", state))
    variables = {v.path: v for v in layer.weights}
    assert sorted(variables) == sorted(arrays)
    for path, value in arrays.items():
        variables[path].assign(value)


@pytest.mark.parametrize("channels, filters, strides, expansion_ratio, size, residual", [
    (16, 16, 1, 2.0, (9, 10), True),
    (16, 24, 2, 4.0, (10, 12), False),
    (16, 24, 2, 4.0, (9, 11), False),
    (24, 24, 2, 2.0, (8, 8), False),
])
def test_matches_timm(channels, filters, strides, expansion_ratio, size, residual):
    block = timm_block(channels, filters, strides, expansion_ratio)
    layer = InvertedResidual(filters, expansion_ratio, strides=strides, name="block")
    x = RNG.normal(size=(2, *size, channels)).astype("float32")
    layer.build(x.shape)
    copy_weights(layer, block)
    assert (layer.drop_path is not None) == residual
    with torch.no_grad():
        expected = block(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-5, rtol=0)


def test_hidden_width_is_rounded_like_timm():
    timm_make_divisible = import_timm().layers.make_divisible
    values = [c * r for c in range(1, 200, 3) for r in (0.5, 1.0, 2.0, 2.5, 4.0, 6.0)]
    assert [make_divisible(v) for v in values] == [timm_make_divisible(v) for v in values]
    layer = InvertedResidual(8, expansion_ratio=2.5, name="block")
    layer.build((None, 4, 4, 20))
    assert layer.expand_conv.filters == 48


def test_config_round_trip():
    layer = InvertedResidual(24, 6.0, strides=2, kernel_size=5, activation="relu6", drop_path_rate=0.1)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(layer))))
    assert restored.get_config() == layer.get_config()


def efficientvit_block(kind, channels, filters, strides, fewer_norm):
    """timm's EfficientViT (MIT) block of a kind, with noisy weights and statistics, and its residual."""
    import_timm()
    from timm.models import efficientvit_mit as evit

    torch.manual_seed(0)
    bias = dict(use_bias=(True, True, False), norm_layer=(None, None, torch.nn.BatchNorm2d)) if fewer_norm else {}
    two_bias = dict(use_bias=(True, False), norm_layer=(None, torch.nn.BatchNorm2d)) if fewer_norm else {}
    act = torch.nn.Hardswish
    block = {
        "inverted": lambda: evit.MBConv(channels, filters, stride=strides, expand_ratio=4, act_layer=(act, act, None), **bias),
        "fused": lambda: evit.FusedMBConv(channels, filters, stride=strides, expand_ratio=4, act_layer=(act, None), **two_bias),
        "separable": lambda: evit.DSConv(channels, filters, stride=strides, act_layer=(act, None), **two_bias),
        "conv": lambda: evit.ConvBlock(channels, filters, stride=strides, act_layer=(act, None), **two_bias),
    }[kind]()
    with torch.no_grad():
        for key, tensor in block.state_dict().items():
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape) + 0.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape) * 0.1)
    return block.eval()


@pytest.mark.parametrize("kind, fewer_norm, strides", [
    ("inverted", True, 2), ("fused", False, 2), ("separable", False, 1), ("conv", False, 1),
])
def test_block_kinds_match_timm_efficientvit(kind, fewer_norm, strides):
    names = {"inverted_conv": "expand_conv", "spatial_conv": "expand_conv", "conv1": "expand_conv",
             "depth_conv": "depthwise_conv", "point_conv": "project_conv", "conv2": "project_conv"}
    channels = filters = 8
    block = efficientvit_block(kind, channels, filters, strides, fewer_norm)
    count = 3 if kind == "inverted" else 2
    per_conv = dict(use_bias=(True,) * (count - 1) + (False,), use_norm=(False,) * (count - 1) + (True,)) if fewer_norm else {}
    layer = InvertedResidual(
        filters, 4.0 if kind in ("inverted", "fused") else 1.0, strides=strides, activation="hard_swish",
        kind=kind, hidden_divisor=1, name="block", **per_conv,
    )
    x = RNG.normal(size=(2, 9, 10, channels)).astype("float32")
    layer.build(x.shape)
    state = {k: v.numpy() for k, v in block.state_dict().items() if not k.endswith("num_batches_tracked")}
    arrays = {}
    for key, value in state.items():
        module, part, param = key.split(".")
        target = f"block/{names[module]}"
        if part == "norm":
            if param == "weight":
                arrays.update(batch_norm(f"{module}.norm", f"{target}/bn", state))
        else:
            depthwise = value.ndim == 4 and value.shape[1] == 1
            kernel = (depthwise_kernel if depthwise else conv_kernel)(value) if param == "weight" else value
            arrays[f"{target}/conv/{'kernel' if param == 'weight' else 'bias'}"] = kernel
    variables = {v.path: v for v in layer.weights}
    assert sorted(variables) == sorted(arrays)
    for path, value in arrays.items():
        variables[path].assign(value)
    with torch.no_grad():
        expected = block(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    if strides == 1:
        expected = expected + x  # timm wraps these blocks in a ResidualBlock; kvit's carries it
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-5, rtol=0)


def test_bad_arguments():
    for kwargs, match in [
        (dict(kind="dense"), "`kind`"),
        (dict(use_bias=(True, False)), "`use_bias` must be a bool or 3 bools"),
        (dict(kind="fused", use_norm=(True, True, True)), "`use_norm` must be a bool or 2 bools"),
    ]:
        with pytest.raises(ValueError, match=match):
            InvertedResidual(8, **kwargs)
