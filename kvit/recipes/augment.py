"""DeiT's augmentation and mixing, built from Keras 3's own preprocessing layers.

RandAugment, MixUp, CutMix and RandomErasing are `keras.layers` (the layers keras-cv had; keras-cv
is frozen). They run inside `tf.data` on every backend. Magnitudes follow timm's spelling, e.g.
`rand-m9-mstd0.5-inc1` is `rand_augment(num_ops=2, magnitude=9)`; Keras has no magnitude noise.
Label smoothing is the loss's (`keras.losses.CategoricalCrossentropy(label_smoothing=...)`), which
smooths mixed labels exactly as timm's mixup targets do.
"""

import keras
import tensorflow as tf


class _Equalization(keras.layers.Equalization):
    """`keras.layers.Equalization` with its histogram taken by the backend it runs on.

    Keras 3.15 picks its histogram by the global backend: under JAX it builds 256 comparisons even
    inside `tf.data`, where the layer runs on TensorFlow, which makes RandAugment about 15x slower
    there. This uses the backend the layer is running on, which is what Keras meant.
    """

    def _custom_histogram_fixed_width(self, values, value_range, nbins):
        if self.backend.name == "jax":
            return super()._custom_histogram_fixed_width(values, value_range, nbins)
        scaled = (self.backend.cast(values, "float32") - value_range[0]) * (nbins - 1) / (value_range[1] - value_range[0])
        indices = self.backend.numpy.clip(self.backend.cast(scaled, "int32"), 0, nbins - 1)
        return self.backend.numpy.bincount(self.backend.numpy.reshape(indices, [-1]), minlength=nbins)


def rand_augment(num_ops=2, magnitude=9, seed=None):
    """Keras' `RandAugment` on [0, 255] images, with timm's magnitude scale.

    Apply it to one image at a time (the pipelines do): on a batch, Keras draws one choice of
    operations for the whole batch.

    Args:
        num_ops: int, operations applied in sequence to each image.
        magnitude: float in [0, 10], timm's `m` (strength `magnitude / 10` in Keras' terms).
        seed: int or None.
    """
    if not 0 <= magnitude <= 10:
        raise ValueError(f"`magnitude` must be in [0, 10] (timm's scale), got {magnitude!r}.")
    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=num_ops, factor=magnitude / 10.0, seed=seed)
    layer.equalization = _Equalization(value_range=(0, 255))
    return layer


class BatchAugmentation:
    """Batch-level augmentation for `tf.data`: translation, random erasing, then MixUp or CutMix.

    Called on a batch `(images, labels)`, images `(batch, h, w, c)` float [0, 255] and labels
    one-hot `(batch, classes)` float; returns the augmented pair. When both mixing methods are on,
    each batch takes CutMix with probability `switch_prob`, else MixUp (timm's `Mixup`); each
    batch is mixed with probability `mix_prob`.

    Args:
        mixup: float, MixUp's Beta alpha; 0 turns it off.
        cutmix: float in [0, 1], CutMix's Beta alpha; 0 turns it off.
        switch_prob: float, probability of CutMix when both are on.
        mix_prob: float, probability a batch is mixed at all.
        erasing: float, probability each image gets a random erased box (noise filled).
        translate: float, largest random shift as a fraction of the side (zero filled).
        seed: int or None.
    """

    def __init__(self, mixup=0.0, cutmix=0.0, switch_prob=0.5, mix_prob=1.0, erasing=0.0, translate=0.0, seed=None):
        for name, value in (("mixup", mixup), ("cutmix", cutmix), ("switch_prob", switch_prob),
                            ("mix_prob", mix_prob), ("erasing", erasing), ("translate", translate)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
        if cutmix > 1:
            raise ValueError(f"`cutmix` alpha must be in [0, 1] (Keras' CutMix), got {cutmix!r}.")
        self.mixup = keras.layers.MixUp(alpha=mixup, seed=seed) if mixup else None
        self.cutmix = keras.layers.CutMix(factor=(cutmix, cutmix), seed=seed) if cutmix else None
        self.erasing = keras.layers.RandomErasing(factor=(erasing, erasing), value_range=(0, 255), seed=seed) if erasing else None
        self.translate = (
            keras.layers.RandomTranslation(translate, translate, fill_mode="constant", seed=seed) if translate else None
        )
        self.switch_prob = switch_prob
        self.mix_prob = mix_prob
        self.generator = tf.random.Generator.from_seed(0 if seed is None else seed)

    @property
    def mixes_labels(self):
        return self.mixup is not None or self.cutmix is not None

    def __call__(self, images, labels):
        if self.translate is not None:
            images = self.translate(images, training=True)
        if self.erasing is not None:
            images = self.erasing(images, training=True)
        if not self.mixes_labels:
            return images, labels
        draws = self.generator.uniform([2])

        def mix():
            if self.mixup is not None and self.cutmix is not None:
                return tf.cond(
                    draws[0] < self.switch_prob,
                    lambda: _mixed(self.cutmix, images, labels),
                    lambda: _mixed(self.mixup, images, labels),
                )
            return _mixed(self.mixup or self.cutmix, images, labels)

        if self.mix_prob >= 1:
            return mix()
        return tf.cond(draws[1] < self.mix_prob, mix, lambda: (images, labels))

def _mixed(layer, images, labels):
    out = layer({"images": images, "labels": labels}, training=True)
    return tf.cast(out["images"], images.dtype), tf.cast(out["labels"], labels.dtype)
