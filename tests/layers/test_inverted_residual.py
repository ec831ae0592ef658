import json

import keras
import numpy as np
import pytest
import torch
from reference import import_timm

from kvit.layers import InvertedResidual, make_divisible
from kvit.models.timm_layout import batch_norm, conv_kernel, depthwise_kernel

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
