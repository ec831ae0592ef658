import keras
import numpy as np
from keras import ops

from kvit.recipes.sam import SAM


@keras.saving.register_keras_serializable(package="kvit_tests")
class Product(keras.layers.Layer):
    """Predicts `a * b`: with the target 1, the minima are the hyperbola `a * b = 1`, whose
    sharpness (the Hessian's largest eigenvalue of `(a * b - 1) ** 2`) is `2 * (a ** 2 + b ** 2)`:
    flattest at `a = b = 1`."""

    def build(self, input_shape):
        self.a = self.add_weight(shape=(), initializer=keras.initializers.Constant(3.0), name="a")
        self.b = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.1), name="b")

    def call(self, x):
        return ops.zeros_like(x[:, :1]) + self.a * self.b


def product_model():
    inputs = keras.Input((1,))
    return keras.Model(inputs, Product()(inputs))


class CountingSAM(SAM):
    losses_computed = 0

    def compute_loss(self, *args, **kwargs):
        CountingSAM.losses_computed += 1
        return super().compute_loss(*args, **kwargs)


def test_two_gradient_evaluations_per_step():
    x, y = np.ones((8, 1), "float32"), np.ones((8, 1), "float32")
    sam = CountingSAM(product_model(), rho=0.1)
    sam.compile(keras.optimizers.SGD(0.01), "mse", run_eagerly=True)
    sam.fit(x[:2], y[:2], verbose=0)  # builds (JAX and PyTorch also trace the loss once for that)
    CountingSAM.losses_computed = 0
    sam.fit(x, y, batch_size=2, epochs=1, verbose=0)  # 4 steps
    assert CountingSAM.losses_computed == 8


def test_finds_a_flatter_minimum():
    x = np.ones((3200, 1), "float32")

    def train(wrap):
        model = product_model()
        trained = wrap(model)
        trained.compile(keras.optimizers.SGD(0.02), "mse")
        trained.fit(x, x, batch_size=8, epochs=1, verbose=0, shuffle=False)  # 400 steps
        a, b = (float(ops.convert_to_numpy(w)) for w in model.weights)
        return (a * b - 1) ** 2, 2 * (a * a + b * b)

    plain_loss, plain_sharpness = train(lambda model: model)
    sam_loss, sam_sharpness = train(lambda model: SAM(model, rho=0.1))
    assert plain_loss < 1e-6 and sam_loss < 1e-2  # both at (about) a minimum
    assert sam_sharpness < 0.75 * plain_sharpness  # measured: 12.1 against 18.4
