"""PyTorch tensor layouts to Keras ones, for the checkpoint maps beside each model."""

import numpy as np


def linear_kernel(weight):
    """`nn.Linear.weight` (out, in) -> `Dense.kernel` (in, out)."""
    return np.ascontiguousarray(weight.T)


def conv_kernel(weight):
    """`nn.Conv2d.weight` (out, in, h, w) -> `Conv2D.kernel` (h, w, in, out)."""
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def depthwise_kernel(weight):
    """Depthwise `nn.Conv2d.weight` (channels, 1, h, w) -> `DepthwiseConv2D.kernel` (h, w, channels, 1)."""
    return np.ascontiguousarray(weight.transpose(2, 3, 0, 1))


def batch_norm(prefix, target, state_dict):
    """Maps `prefix.{weight,bias,running_mean,running_var}` to a Keras BatchNormalization at `target`."""
    return {
        f"{target}/gamma": state_dict[f"{prefix}.weight"],
        f"{target}/beta": state_dict[f"{prefix}.bias"],
        f"{target}/moving_mean": state_dict[f"{prefix}.running_mean"],
        f"{target}/moving_variance": state_dict[f"{prefix}.running_var"],
    }
