"""tf.data input pipelines for classification training."""

import keras
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def array_pipeline(images, labels, batch_size, training, seed=0, translate=0.0):
    """A batched `tf.data.Dataset` of `(images, labels)` from in-memory arrays.

    Args:
        images: `(n, height, width, channels)` float pixels in [0, 255].
        labels: `(n,)` integer labels.
        batch_size: int.
        training: bool; shuffles, augments and drops the last partial batch (static shapes).
        seed: int, seed of the shuffle and the augmentation.
        translate: float, largest random shift as a fraction of the image side (training only).
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    if training and translate:
        shift = keras.layers.RandomTranslation(translate, translate, fill_mode="constant", seed=seed)
        dataset = dataset.map(lambda x, y: (shift(x, training=True), y), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)
