import numpy as np
from keras import ops


def resize_bilinear(x, size, align_corners=False):
    """PyTorch's `F.interpolate(x, size, mode="bilinear", align_corners=...)` on channels-last maps.

    `keras.ops.image.resize` has no `align_corners`, and its backends disagree on how they
    downsample; this one computes PyTorch's source coordinates in NumPy for the static sizes and
    interpolates each axis with two gathers at constant indices, so it is exact on every backend
    and lowers to TFLite `GATHER`, `SUB`, `MUL` and `ADD` builtins.

    Args:
        x: tensor `(batch, height, width, channels)` with static height and width.
        size: `(new_height, new_width)`.
        align_corners: bool, PyTorch's flag: True maps corner pixel centres onto each other,
            False (half-pixel centres) is PyTorch's default.

    Returns:
        Tensor `(batch, new_height, new_width, channels)`.
    """
    for axis, new_size in ((1, size[0]), (2, size[1])):
        old_size = x.shape[axis]
        if old_size == new_size:
            continue
        low, high, weight = _linear_taps(old_size, new_size, align_corners)
        weight_shape = [1, 1, 1, 1]
        weight_shape[axis] = new_size
        weight = ops.convert_to_tensor(weight.reshape(weight_shape), dtype=x.dtype)
        x_low = ops.take(x, low, axis=axis)
        x_high = ops.take(x, high, axis=axis)
        x = x_low + (x_high - x_low) * weight
    return x


def _linear_taps(old_size, new_size, align_corners):
    """Source indices and weights of 1-D linear interpolation, as `upsample_bilinear2d` computes them."""
    target = np.arange(new_size, dtype=np.float64)
    if align_corners:
        scale = (old_size - 1) / (new_size - 1) if new_size > 1 else 0.0
        source = target * scale
    else:
        source = np.maximum((target + 0.5) * (old_size / new_size) - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype("int32"), old_size - 1)
    high = np.minimum(low + 1, old_size - 1)
    return low, high, (source - low).astype("float32")
