import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvit")
class MLP(keras.layers.Layer):
    """The transformer feed-forward: `fc1 -> activation -> dropout -> fc2 -> dropout`.

    The dense layers run on the tokens flattened to `(tokens, dim)`: on a 3-D input Keras'
    TensorFlow matmul reshapes around the MatMul, and the graph optimizer can then fuse neither
    the bias nor the activation into it (an exact GELU alone is five more ops per layer).

    Args:
        hidden_dim: int, width of the hidden layer.
        activation: activation of the hidden layer; `"gelu"` is the exact (erf) GELU of ViT,
            `"silu"` the one of MobileViT.
        dropout_rate: float, dropout after each of the two projections.

    Shape: `(..., dim)` in and out.
    """

    def __init__(self, hidden_dim, activation="gelu", dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.activation = activation
        self.dropout_rate = dropout_rate
        self.fc1 = keras.layers.Dense(hidden_dim, activation=activation, name="fc1")
        self.dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        self.fc1.build(input_shape)
        self.fc2 = keras.layers.Dense(input_shape[-1], name="fc2")
        self.fc2.build((*input_shape[:-1], self.hidden_dim))

    def call(self, x, training=None):
        shape = ops.shape(x)
        x = self.dropout(self.fc1(ops.reshape(x, (-1, shape[-1]))), training=training)
        return ops.reshape(self.dropout(self.fc2(x), training=training), shape)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "activation": self.activation,
            "dropout_rate": self.dropout_rate,
        }
