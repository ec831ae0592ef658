import keras
from keras import ops

from kvit import fast_paths


def silu(x):
    """`x * sigmoid(x)` written out: TensorFlow's graph optimizer fuses this form, not `tf.nn.silu`
    (what `keras.activations.silu` runs there), into the convolution before it."""
    return x * ops.sigmoid(x)


@keras.saving.register_keras_serializable(package="kvit")
def hard_swish(x):
    """PyTorch's `Hardswish`, `x * relu6(x + 3) / 6`, written as `relu6(x + 3) * x * (1 / 6)`.

    The order matters on both TensorFlow paths. TensorFlow's graph optimizer (with oneDNN) fuses
    this form, with the convolution and bias before it, into one `_FusedConv2D`: a 1x1
    convolution with it over (16, 56, 56, 64) ran 35.7 ms against 53.9 ms for `(x / 6) *
    relu6(x + 3)`, which it leaves as three ops. The TFLite converter keeps it as an `ADD` (with
    a fused RELU6) and two `MUL`s, which XNNPACK runs in int8 too; the forms it fuses into one
    `HARD_SWISH` op (`x * relu6(x + 3) / 6`, Keras' own `hard_swish` among them) have no int8
    XNNPACK kernel and split a quantized graph.
    """
    return ops.relu6(x + 3.0) * x * (1.0 / 6.0)


@keras.saving.register_keras_serializable(package="kvit")
def gelu_tanh(x):
    """GELU with the tanh approximation, PyTorch's `GELU(approximate="tanh")` (one TFLite `GELU`)."""
    return keras.activations.gelu(x, approximate=True)


# Activations by name that replace Keras' own of that name, or that Keras does not have.
ACTIVATIONS = {"silu": silu, "hard_swish": hard_swish, "gelu_tanh": gelu_tanh}


def get_activation(activation):
    """The activation function of a name of `ACTIVATIONS` or of Keras, or None for None."""
    if activation is None:
        return None
    return ACTIVATIONS.get(activation) or keras.activations.get(activation)


@keras.saving.register_keras_serializable(package="kvit")
class ConvNormAct(keras.layers.Layer):
    """Convolution, BatchNorm, then an activation: timm's `ConvNormAct`.

    Padded the PyTorch way, `((strides - 1) + (kernel_size - 1)) // 2` on every side. For stride 1
    and an odd kernel that is Keras' `"same"`; otherwise the padding is explicit, because Keras'
    `"same"` pads a strided convolution on the bottom/right only and shifts every output pixel.
    When `groups` equals the input and output widths the convolution is a `DepthwiseConv2D`.
    Outside training (and while the BatchNorm is frozen) the norm is folded into the convolution.
    The convolution is bias-free by default; the norm may be left out (EfficientViT's blocks
    have convolutions with a bias and no norm).

    Args:
        filters: int, output channels.
        kernel_size: int, side of the square kernel.
        strides: int, stride of the convolution.
        groups: int, channel groups of the convolution (1: dense, the width: depthwise).
        activation: activation after the norm (e.g. `"silu"`, `"relu"`, `"hard_swish"`,
            `"gelu_tanh"`; see `ACTIVATIONS`), or None.
        epsilon: float, BatchNorm epsilon; PyTorch's default 1e-5, not Keras' 1e-3.
        use_bias: bool, whether the convolution adds a bias.
        use_norm: bool, whether the BatchNorm follows the convolution.

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
        use_bias=False,
        use_norm=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.groups = groups
        self.activation = activation
        self.epsilon = epsilon
        self.use_bias = use_bias
        self.use_norm = use_norm
        # PyTorch's BatchNorm momentum 0.1 weighs the new batch; Keras' momentum weighs the old value.
        self.bn = keras.layers.BatchNormalization(epsilon=epsilon, momentum=0.9, name="bn") if use_norm else None
        self.act = get_activation(activation)

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
        conv_args = dict(strides=self.strides, padding=conv_padding, use_bias=self.use_bias, name="conv")
        if self.groups > 1 and self.groups == channels == self.filters:
            self.conv = keras.layers.DepthwiseConv2D(self.kernel_size, **conv_args)
        else:
            self.conv = keras.layers.Conv2D(self.filters, self.kernel_size, groups=self.groups, **conv_args)
        if self.pad is not None:
            self.pad.build(input_shape)
            input_shape = self.pad.compute_output_shape(input_shape)
        self.conv.build(input_shape)
        if self.bn is not None:
            self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        if self.pad is not None:
            x = self.pad(x)
        if self.bn is not None and training and self.bn.trainable:
            x = self.bn(self._convolve(x, self.conv.kernel, self.conv.bias), training=True)
        else:
            x = self._folded_conv(x)
        return self.act(x) if self.act is not None else x

    def _folded_conv(self, x):
        """The convolution with BatchNorm's inference affine folded into its kernel, plus a bias.

        Scaling the small kernel instead of the output map saves a pass over the map; the results
        agree with convolution-then-BatchNorm to float rounding. The bias goes on with `ops.add`,
        not `+`: on TensorFlow that is a `BiasAdd`, which the graph optimizer fuses into the
        convolution together with the activation after it. Without a norm this is the
        convolution and its own bias, if any.
        """
        bn, conv = self.bn, self.conv
        depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
        kernel, shift = conv.kernel, conv.bias
        if bn is not None:
            scale = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
            kernel = kernel * (ops.expand_dims(scale, -1) if depthwise else scale)
            mean = bn.moving_mean if shift is None else bn.moving_mean - shift
            shift = bn.beta - mean * scale
        return self._convolve(x, kernel, shift)

    def _convolve(self, x, kernel, bias):
        """The layer's convolution with `kernel`, plus `bias` (None for none)."""
        kernel = ops.cast(kernel, x.dtype)
        if isinstance(self.conv, keras.layers.DepthwiseConv2D):
            strides, padding = self.conv.strides, self.conv.padding
            if fast_paths.use_jax_cpu_depthwise(kernel, strides, padding):
                x = fast_paths.depthwise_conv_as_shifted_slices(x, kernel, strides, padding)
            else:
                x = ops.depthwise_conv(x, kernel, strides, padding)
        else:
            x = self.conv.convolution_op(x, kernel)
        return x if bias is None else ops.add(x, ops.cast(bias, x.dtype))

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
            "use_bias": self.use_bias,
            "use_norm": self.use_norm,
        }
