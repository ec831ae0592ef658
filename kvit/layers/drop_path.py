import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class DropPath(keras.layers.Layer):
    """Stochastic depth: drops the whole residual branch per sample while training.

    Kept samples are scaled by `1 / (1 - rate)` so the expectation is unchanged.

    Args:
        rate: float in [0, 1), probability of dropping a sample's branch.
        seed: int or None, seed of the layer's random generator.

    Shape: `(batch, ...)` in and out.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be in [0, 1), got {rate}.")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator, dtype=x.dtype))
        return x * mask / keep

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
