import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class PrefixTokens(keras.layers.Layer):
    """Prepends learned tokens to a token sequence: the class token, and DeiT's distillation token.

    Args:
        num_tokens: int, how many tokens to prepend (1: class; 2: class then distillation).

    Shape: `(batch, tokens, dim)` in, `(batch, num_tokens + tokens, dim)` out.
    """

    def __init__(self, num_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens

    def build(self, input_shape):
        self.tokens = self.add_weight(
            shape=(1, self.num_tokens, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="tokens",
        )

    def call(self, x):
        tokens = ops.tile(ops.cast(self.tokens, x.dtype), (ops.shape(x)[0], 1, 1))
        return ops.concatenate([tokens, x], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = None if input_shape[1] is None else input_shape[1] + self.num_tokens
        return (input_shape[0], tokens, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens}
