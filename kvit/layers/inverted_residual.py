import keras

from kvit.layers.conv_norm_act import ConvNormAct
from kvit.layers.drop_path import DropPath


def make_divisible(value, divisor=8, round_limit=0.9):
    """Rounds a channel count to the nearest multiple of `divisor`, never more than 10% down.

    timm's `make_divisible`, which sizes the hidden width of its inverted residuals.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


@keras.saving.register_keras_serializable(package="kvit")
class InvertedResidual(keras.layers.Layer):
    """MobileNetV2's inverted residual block (Sandler et al. 2018).

    A 1x1 expansion `ConvNormAct` to `make_divisible(channels * expansion_ratio)` channels, a
    `kernel_size` depthwise `ConvNormAct` that carries the stride, and a 1x1 projection with
    BatchNorm but no activation. The input is added back when the stride is 1 and the width is
    unchanged; that residual branch is the one stochastic depth drops.

    Args:
        filters: int, output channels.
        expansion_ratio: float, hidden width over the input width.
        strides: int, stride of the depthwise convolution.
        kernel_size: int, side of the depthwise kernel.
        activation: activation after the expansion and the depthwise convolution.
        epsilon: float, BatchNorm epsilon.
        drop_path_rate: float, stochastic depth of the residual branch.

    Shape: `(batch, height, width, channels)` in,
        `(batch, ceil(height / strides), ceil(width / strides), filters)` out.
    """

    def __init__(
        self,
        filters,
        expansion_ratio=4.0,
        strides=1,
        kernel_size=3,
        activation="silu",
        epsilon=1e-5,
        drop_path_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.expansion_ratio = expansion_ratio
        self.strides = strides
        self.kernel_size = kernel_size
        self.activation = activation
        self.epsilon = epsilon
        self.drop_path_rate = drop_path_rate
        self.project_conv = ConvNormAct(filters, 1, activation=None, epsilon=epsilon, name="project_conv")

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = make_divisible(channels * self.expansion_ratio)
        self.drop_path = DropPath(self.drop_path_rate) if self.strides == 1 and channels == self.filters else None
        self.expand_conv = ConvNormAct(hidden, 1, activation=self.activation, epsilon=self.epsilon, name="expand_conv")
        self.depthwise_conv = ConvNormAct(
            hidden,
            self.kernel_size,
            strides=self.strides,
            groups=hidden,
            activation=self.activation,
            epsilon=self.epsilon,
            name="depthwise_conv",
        )
        self.expand_conv.build(input_shape)
        hidden_shape = (*input_shape[:-1], hidden)
        self.depthwise_conv.build(hidden_shape)
        self.project_conv.build(self.depthwise_conv.compute_output_shape(hidden_shape))

    def call(self, inputs, training=None):
        x = self.expand_conv(inputs, training=training)
        x = self.depthwise_conv(x, training=training)
        x = self.project_conv(x, training=training)
        if self.drop_path is not None:
            x = inputs + self.drop_path(x, training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "expansion_ratio": self.expansion_ratio,
            "strides": self.strides,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "epsilon": self.epsilon,
            "drop_path_rate": self.drop_path_rate,
        }
