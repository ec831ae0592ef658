import keras
from keras import ops


def silu(x):
    """`x * sigmoid(x)` written out: TensorFlow's graph optimizer fuses this form, not `tf.nn.silu`
    (what `keras.activations.silu` runs there), into the convolution before it."""
    return x * ops.sigmoid(x)


# Activations by name that replace Keras' own of that name.
ACTIVATIONS = {"silu": silu}


@keras.saving.register_keras_serializable(package="kvit")
class ConvNormAct(keras.layers.Layer):
    """Bias-free convolution, BatchNorm, then an activation: timm's `ConvNormAct`.

    Padded the PyTorch way, `((strides - 1) + (kernel_size - 1)) // 2` on every side. For stride 1
    and an odd kernel that is Keras' `"same"`; otherwise the padding is explicit, because Keras'
    `"same"` pads a strided convolution on the bottom/right only and shifts every output pixel.
    When `groups` equals the input and output widths the convolution is a `DepthwiseConv2D`.
    Outside training (and while the BatchNorm is frozen) the norm is folded into the convolution.

    Args:
        filters: int, output channels.
        kernel_size: int, side of the square kernel.
        strides: int, stride of the convolution.
        groups: int, channel groups of the convolution (1: dense, the width: depthwise).
        activation: activation after the norm (e.g. `"silu"`, `"relu"`, `"hard_swish"`), or None.
        epsilon: float, BatchNorm epsilon; PyTorch's default 1e-5, not Keras' 1e-3.

    Shape: `(batch, height, width, channels)` in,
        `(batch, ceil(height / strides), ceil(width / strides), filters)` out for odd kernels.
    """

    def __init__(
        self,
        filters,
        kernel_size=1,
        strides=1,
        groups=1,
        activation="silu",
        epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.groups = groups
        self.activation = activation
        self.epsilon = epsilon
        # PyTorch's BatchNorm momentum 0.1 weighs the new batch; Keras' momentum weighs the old value.
        self.bn = keras.layers.BatchNormalization(epsilon=epsilon, momentum=0.9, name="bn")
        self.act = (ACTIVATIONS.get(activation) or keras.activations.get(activation)) if activation else None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels % self.groups or self.filters % self.groups:
            raise ValueError(
                f"`groups`={self.groups} must divide the input width {channels} and `filters`={self.filters}."
            )
        if self._same_padding():
            self.pad, conv_padding = None, "same"
        else:
            padding = self._padding()
            self.pad = keras.layers.ZeroPadding2D(padding, name="pad") if padding else None
            conv_padding = "valid"
        conv_args = dict(strides=self.strides, padding=conv_padding, use_bias=False, name="conv")
        if self.groups > 1 and self.groups == channels == self.filters:
            self.conv = keras.layers.DepthwiseConv2D(self.kernel_size, **conv_args)
        else:
            self.conv = keras.layers.Conv2D(self.filters, self.kernel_size, groups=self.groups, **conv_args)
        if self.pad is not None:
            self.pad.build(input_shape)
            input_shape = self.pad.compute_output_shape(input_shape)
        self.conv.build(input_shape)
        self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        if self.pad is not None:
            x = self.pad(x)
        if training and self.bn.trainable:
            x = self.bn(self.conv(x), training=True)
        else:
            x = self._folded_conv(x)
        return self.act(x) if self.act is not None else x

    def _folded_conv(self, x):
        """The convolution with BatchNorm's inference affine folded into its kernel, plus a bias.

        Scaling the small kernel instead of the output map saves a pass over the map; the results
        agree with convolution-then-BatchNorm to float rounding. The bias goes on with `ops.add`,
        not `+`: on TensorFlow that is a `BiasAdd`, which the graph optimizer fuses into the
        convolution together with the activation after it.
        """
        bn, conv = self.bn, self.conv
        scale = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
        shift = ops.cast(bn.beta - bn.moving_mean * scale, x.dtype)
        if isinstance(conv, keras.layers.DepthwiseConv2D):
            kernel = ops.cast(conv.kernel * ops.expand_dims(scale, -1), x.dtype)
            return ops.add(ops.depthwise_conv(x, kernel, conv.strides, conv.padding), shift)
        return ops.add(conv.convolution_op(x, ops.cast(conv.kernel * scale, x.dtype)), shift)

    def compute_output_shape(self, input_shape):
        def size(n):
            if n is None or self._same_padding():
                return n
            return (n + 2 * self._padding() - self.kernel_size) // self.strides + 1

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), self.filters)

    def _padding(self):
        return ((self.strides - 1) + (self.kernel_size - 1)) // 2

    def _same_padding(self):
        return self.strides == 1 and self.kernel_size % 2 == 1

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "groups": self.groups,
            "activation": self.activation,
            "epsilon": self.epsilon,
        }
