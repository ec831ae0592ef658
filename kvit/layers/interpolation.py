from keras import ops


def resize_bilinear(x, size, align_corners=False):
    """PyTorch's `F.interpolate(x, size, mode="bilinear", align_corners=...)` on channels-last maps.

    `keras.ops.image.resize` has no `align_corners`, and its backends disagree on how they
    downsample. This computes PyTorch's source coordinates and weights (in float32, as PyTorch
    does) and interpolates each axis with two gathers, so it matches PyTorch on every backend.
    For static sizes the coordinates are constants, and a TFLite graph keeps only `GATHER`, `MUL`
    and `ADD`; sizes may also be scalar tensors (a TensorFlow graph of an any-size model).

    Args:
        x: tensor `(batch, height, width, channels)`.
        size: `(new_height, new_width)`, ints or scalar tensors.
        align_corners: bool, PyTorch's flag: True maps corner pixel centres onto each other,
            False (half-pixel centres) is PyTorch's default.

    Returns:
        Tensor `(batch, new_height, new_width, channels)`.
    """
    for axis, new_size in ((1, size[0]), (2, size[1])):
        old_size = ops.shape(x)[axis]
        if isinstance(old_size, int) and isinstance(new_size, int) and old_size == new_size:
            continue
        low, high, high_weight = _linear_taps(old_size, new_size, align_corners)
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        high_weight = ops.cast(ops.reshape(high_weight, shape), x.dtype)
        x = ops.take(x, low, axis=axis) * (1.0 - high_weight) + ops.take(x, high, axis=axis) * high_weight
    return x


def _linear_taps(old_size, new_size, align_corners):
    """Source indices and the weight of the upper one, as PyTorch's `upsample_bilinear2d` computes them."""
    target = ops.arange(new_size, dtype="float32")
    old, new = ops.cast(old_size, "float32"), ops.cast(new_size, "float32")
    if align_corners:
        source = target * ((old - 1.0) / ops.maximum(new - 1.0, 1.0))
    else:
        source = ops.maximum((old / new) * (target + 0.5) - 0.5, 0.0)
    low = ops.minimum(ops.floor(source), old - 1.0)
    high = ops.minimum(low + 1.0, old - 1.0)
    return ops.cast(low, "int32"), ops.cast(high, "int32"), source - low
