"""Window machinery of window attention (Swin): partition and merge, cyclic shifts, the
shifted-window mask and the relative position index.

Everything runs at rank 4 or below (TFLite's builtins go no higher) and shifts are slices and
concatenations (TFLite has no `roll`). The mask and the index depend on sizes only and are NumPy
constants, computed once when a layer is built.
"""

import numpy as np
from keras import ops

# timm's (and the paper's) mask value between tokens of different regions: large enough to
# vanish in the softmax, small enough to stay finite in float16 and int8.
MASKED = -100.0


def window_partition(x, window_size):
    """Cuts a map into non-overlapping windows, windows row-major and the window index fastest.

    Args:
        x: `(batch, height, width, channels)`, static height and width divisible by the window.
        window_size: `(window_height, window_width)`.

    Returns:
        `(batch * num_windows, window_height * window_width, channels)`: timm's `window_partition`
        order, so window `w` of image `b` is row `b * num_windows + w`.
    """
    height, width, channels = x.shape[1:]
    (wh, ww), rows, cols = window_size, height // window_size[0], width // window_size[1]
    x = ops.reshape(x, (-1, wh, cols, ww * channels))  # (batch * rows, wh, cols, (ww, c))
    if wh > 1 and cols > 1:
        x = ops.transpose(x, (0, 2, 1, 3))  # (batch * rows, cols, wh, (ww, c))
    return ops.reshape(x, (-1, wh * ww, channels))


def window_merge(windows, window_size, size):
    """The inverse of `window_partition`: `(batch * num_windows, tokens, channels)` back to a map.

    Args:
        windows: `(batch * num_windows, window_height * window_width, channels)`.
        window_size: `(window_height, window_width)`.
        size: `(height, width)` of the map, multiples of the window.

    Returns:
        `(batch, height, width, channels)`.
    """
    channels = windows.shape[-1]
    (wh, ww), (height, width) = window_size, size
    cols = width // ww
    x = ops.reshape(windows, (-1, cols, wh, ww * channels))
    if wh > 1 and cols > 1:
        x = ops.transpose(x, (0, 2, 1, 3))  # (batch * rows, wh, cols, (ww, c))
    return ops.reshape(x, (-1, height, width, channels))


def cyclic_shift(x, shift, axis, length=None):
    """`roll(x[:length], shift)` along `axis`, written as two slices and a concatenation.

    Args:
        x: tensor with a static size on `axis`.
        shift: int, positive rolls towards higher indices (`torch.roll` semantics).
        axis: int, the axis to roll.
        length: int, how many leading entries of `axis` to keep before rolling; all if None.

    Returns:
        The rolled tensor, `length` entries long on `axis`.
    """
    length = x.shape[axis] if length is None else length
    shift %= length
    if not shift:
        return x if length == x.shape[axis] else _slice(x, axis, 0, length)
    return ops.concatenate([_slice(x, axis, length - shift, length), _slice(x, axis, 0, length - shift)], axis=axis)


def _slice(x, axis, start, stop):
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def shifted_window_mask(size, window_size, shift_size):
    """The additive attention mask of shifted windows, timm's `get_attn_mask`.

    The padded map is cut into the regions `[0, -window)`, `[-window, -shift)`, `[-shift, end)`
    along each axis; two tokens of one window that lie in different regions get `MASKED`, others 0.

    Args:
        size: `(height, width)` of the padded map (multiples of the window).
        window_size: `(window_height, window_width)`.
        shift_size: `(shift_height, shift_width)`; an axis with shift 0 has one region.

    Returns:
        float32 NumPy array `(num_windows, tokens, tokens)`, windows in `window_partition` order.
    """
    labels = np.zeros(size, dtype=np.float32)
    bounds = [
        ((0, -w), (-w, -s), (-s, None)) if s else ((0, None),)
        for w, s in zip(window_size, shift_size)
    ]
    count = 0
    for rows in bounds[0]:
        for cols in bounds[1]:
            labels[slice(*rows), slice(*cols)] = count
            count += 1
    (wh, ww), (height, width) = window_size, size
    windows = labels.reshape(height // wh, wh, width // ww, ww).transpose(0, 2, 1, 3).reshape(-1, wh * ww)
    different = windows[:, None, :] != windows[:, :, None]
    return np.where(different, MASKED, 0.0).astype(np.float32)


def relative_position_index(window_size):
    """Index of each token pair's offset into a `(2 * wh - 1) * (2 * ww - 1)` table, timm's order.

    Args:
        window_size: `(window_height, window_width)`.

    Returns:
        int32 NumPy array `(tokens, tokens)`: `(dy + wh - 1) * (2 * ww - 1) + (dx + ww - 1)` for
        query token `i` and key token `j`, `dy, dx` the offset of `i` from `j`.
    """
    wh, ww = window_size
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    relative = coords[:, :, None] - coords[:, None, :]
    return ((relative[0] + wh - 1) * (2 * ww - 1) + relative[1] + ww - 1).astype(np.int32)
