import json

import keras
import numpy as np
import pytest
import torch

from kvit.layers import ConvNormAct
from kvit.models.timm_layout import conv_kernel, depthwise_kernel

RNG = np.random.default_rng(0)


def torch_conv_norm_act(channels, filters, kernel_size, strides, groups, activation):
    """The PyTorch reference with noisy BatchNorm statistics, as timm's ConvNormAct pads it."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, filters, kernel_size, strides, ((strides - 1) + (kernel_size - 1)) // 2, groups=groups, bias=False)
    bn = torch.nn.BatchNorm2d(filters)
    with torch.no_grad():
        for tensor in (bn.weight, bn.bias, bn.running_mean):
            tensor.copy_(torch.randn(filters))
        bn.running_var.copy_(torch.rand(filters) + 0.5)
    return torch.nn.Sequential(conv, bn, activation).eval()


def copy_weights(layer, reference):
    conv, bn = reference[0], reference[1]
    kernel = conv.weight.detach().numpy()
    layer.conv.kernel.assign(depthwise_kernel(kernel) if layer.groups > 1 else conv_kernel(kernel))
    for variable, tensor in zip(
        (layer.bn.gamma, layer.bn.beta, layer.bn.moving_mean, layer.bn.moving_variance),
        (bn.weight, bn.bias, bn.running_mean, bn.running_var),
    ):
        variable.assign(tensor.detach().numpy())


@pytest.mark.parametrize("size", [(10, 12), (9, 11)], ids=["even", "odd"])
@pytest.mark.parametrize("kernel_size, strides, depthwise", [(3, 1, False), (3, 2, False), (3, 2, True), (1, 1, False), (5, 2, True)])
def test_matches_pytorch_padding_and_norm(size, kernel_size, strides, depthwise):
    channels, filters = (6, 6) if depthwise else (4, 8)
    groups = channels if depthwise else 1
    reference = torch_conv_norm_act(channels, filters, kernel_size, strides, groups, torch.nn.SiLU())
    layer = ConvNormAct(filters, kernel_size, strides=strides, groups=groups)
    x = RNG.normal(size=(2, *size, channels)).astype("float32")
    layer.build(x.shape)
    copy_weights(layer, reference)
    output = keras.ops.convert_to_numpy(layer(x))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    assert output.shape == expected.shape == tuple(layer.compute_output_shape((2, *size, channels)))
    np.testing.assert_allclose(output, expected, atol=1e-5, rtol=0)


def test_training_updates_statistics_like_pytorch():
    reference = torch_conv_norm_act(3, 5, 1, 1, 1, torch.nn.Identity()).train()
    layer = ConvNormAct(5, activation=None)
    x = RNG.normal(size=(4, 6, 6, 3)).astype("float32")
    layer.build(x.shape)
    copy_weights(layer, reference)
    output = keras.ops.convert_to_numpy(layer(x, training=True))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(output, expected, atol=1e-5)  # normalised with the batch's statistics
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.bn.moving_mean), reference[1].running_mean.numpy(), atol=1e-5)


def test_frozen_norm_uses_its_statistics_while_training():
    reference = torch_conv_norm_act(3, 5, 3, 1, 1, torch.nn.SiLU())
    layer = ConvNormAct(5, 3)
    x = RNG.normal(size=(4, 6, 6, 3)).astype("float32")
    layer.build(x.shape)
    copy_weights(layer, reference)
    layer.bn.trainable = False
    output = keras.ops.convert_to_numpy(layer(x, training=True))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(output, expected, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.bn.moving_mean), reference[1].running_mean.numpy())


def test_groups_must_divide_the_widths():
    with pytest.raises(ValueError, match="`groups`=3"):
        ConvNormAct(8, 3, groups=3)(np.zeros((1, 4, 4, 6), "float32"))


def test_config_round_trip():
    layer = ConvNormAct(8, 3, strides=2, groups=2, activation="hard_swish", epsilon=1e-7)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(layer))))
    assert restored.get_config() == layer.get_config()


@pytest.mark.parametrize("use_norm", [True, False])
def test_bias_and_optional_norm_match_pytorch(use_norm):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3, 2, 1, bias=True)
    bn = torch.nn.BatchNorm2d(6) if use_norm else torch.nn.Identity()
    with torch.no_grad():
        conv.bias.copy_(torch.randn(6))
        if use_norm:
            for tensor in (bn.weight, bn.bias, bn.running_mean):
                tensor.copy_(torch.randn(6))
            bn.running_var.copy_(torch.rand(6) + 0.5)
    reference = torch.nn.Sequential(conv, bn, torch.nn.Hardswish()).eval()
    layer = ConvNormAct(6, 3, strides=2, activation="hard_swish", use_bias=True, use_norm=use_norm)
    x = RNG.normal(size=(2, 9, 10, 4)).astype("float32")
    layer.build(x.shape)
    layer.conv.kernel.assign(conv_kernel(conv.weight.detach().numpy()))
    layer.conv.bias.assign(conv.bias.detach().numpy())
    if use_norm:
        for variable, tensor in zip(
            (layer.bn.gamma, layer.bn.beta, layer.bn.moving_mean, layer.bn.moving_variance),
            (bn.weight, bn.bias, bn.running_mean, bn.running_var),
        ):
            variable.assign(tensor.detach().numpy())
    else:
        assert layer.bn is None and len(layer.weights) == 2
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-5, rtol=0)
    if not use_norm:  # nothing to fold or to train differently
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=True)), expected, atol=1e-5, rtol=0)
