"""The MobileViT paper's multi-scale sampler (Mehta & Rastegari 2022, Sec. 3.3) as a tf.data transformation.

Every batch is drawn at one resolution `(h, w)`, chosen uniformly at random per step from a list,
and holds `floor(batch_size * H * W / (h * w))` images (at least 1), so that each step sees about
as many pixels as a batch of `batch_size` at the base resolution `(H, W)`: small resolutions come
in large batches, large ones in small batches. The model must accept any image size: build it
with `input_shape=(None, None, 3)`.
"""

import tensorflow as tf

# The paper's resolutions for a base of 256x256.
PAPER_SIZES = (160, 192, 224, 256, 288, 320)


def multiscale_schedule(batch_size, sizes=PAPER_SIZES, base_size=256):
    """The `((height, width), batch_size)` of each resolution of `multiscale_batches`.

    Args:
        batch_size: int, the batch size at `base_size`.
        sizes: the resolutions: ints for squares, or `(height, width)` pairs.
        base_size: int or `(height, width)`, the resolution `batch_size` is meant for.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
    base_height, base_width = _pair(base_size, "base_size")
    if not sizes:
        raise ValueError("`sizes` must name at least one resolution.")
    schedule = []
    for size in sizes:
        height, width = _pair(size, "sizes")
        schedule.append(((height, width), max(1, batch_size * base_height * base_width // (height * width))))
    return schedule


def multiscale_batches(dataset, batch_size, sizes=PAPER_SIZES, base_size=256, seed=None, resize=None):
    """Batches `(image, label)` elements at a resolution drawn anew for every batch.

    The resolution of each batch is drawn uniformly from `sizes` (again on every pass over the
    data), its batch size follows `multiscale_schedule`, and every image of the batch is brought
    to that resolution by `resize`. Elements keep their order; a last incomplete batch is dropped.

    Args:
        dataset: unbatched `tf.data.Dataset` of `(image, label)`; images `(height, width,
            channels)` of any size and dtype.
        batch_size: int, the batch size at `base_size`.
        sizes: the resolutions: ints for squares, or `(height, width)` pairs.
        base_size: int or `(height, width)`, the resolution `batch_size` is meant for.
        seed: int or None, seed of the resolution draws.
        resize: callable `(image, size) -> image` that brings one image to `size`, an int32
            tensor `(height, width)`, e.g. a random resized crop; by default a bilinear resize.

    Returns:
        `tf.data.Dataset` of `(images, labels)`, images `(batch, height, width, channels)` float32
        with height, width and batch varying from batch to batch.
    """
    schedule = multiscale_schedule(batch_size, sizes, base_size)
    resolutions = tf.constant([size for size, _ in schedule], tf.int32)
    batch_sizes = tf.constant([batch for _, batch in schedule], tf.int64)
    resize = resize or (lambda image, size: tf.image.resize(image, size, method="bilinear"))

    def assign_resolution(state, element):
        # A batch starts when the previous one is full, with the resolution its first element's
        # random number picks (`%` is floor-mod: never negative).
        remaining, index = state
        draw, (image, label) = element
        starts = tf.equal(remaining, 0)
        index = tf.where(starts, draw % len(schedule), index)
        remaining = tf.where(starts, batch_sizes[index], remaining) - 1
        return (remaining, index), (index, image, label)

    def to_resolution(index, image, label):
        return index, tf.cast(resize(image, resolutions[index]), tf.float32), label

    def batch_window(index, window):
        batches = window.batch(batch_sizes[index], drop_remainder=True)
        return batches.map(lambda _, images, labels: (images, labels))

    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip((draws, dataset))
    dataset = dataset.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), assign_resolution)
    dataset = dataset.map(to_resolution, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # Each batch's elements arrive together, so a window completes exactly when its batch does.
    return dataset.group_by_window(
        key_func=lambda index, image, label: index,
        reduce_func=batch_window,
        window_size_func=lambda index: batch_sizes[index],
    )


def _pair(size, name):
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise ValueError(f"`{name}` must hold positive ints or (height, width) pairs of them, got {size!r}.")
    return pair
