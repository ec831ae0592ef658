import keras

from kvit.layers.conv_norm_act import ConvNormAct
from kvit.layers.drop_path import DropPath


def make_divisible(value, divisor=8, round_limit=0.9):
    """Rounds a channel count to the nearest multiple of `divisor`, never more than 10% down.

    timm's `make_divisible`, which sizes the hidden width of its inverted residuals.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


# The convolutions of each kind of block, in order: (name, kernel, depthwise, width). The kernel
# is 1 or `kernel_size` ("k"); the width is the hidden one, the input's or the output's. The first
# convolution with the k x k kernel carries the stride; every one but the last has the activation.
BLOCK_KINDS = {
    # MobileNetV2's MBConv: 1x1 expansion, k x k depthwise, 1x1 projection.
    "inverted": (("expand_conv", 1, False, "hidden"), ("depthwise_conv", "k", True, "hidden"),
                 ("project_conv", 1, False, "filters")),
    # EfficientNetV2's fused MBConv: one dense k x k expansion, 1x1 projection.
    "fused": (("expand_conv", "k", False, "hidden"), ("project_conv", 1, False, "filters")),
    # MobileNetV1's depthwise-separable convolution: k x k depthwise, 1x1 projection; no expansion.
    "separable": (("depthwise_conv", "k", True, "input"), ("project_conv", 1, False, "filters")),
    # Two dense k x k convolutions (EfficientViT-L's stem `ConvBlock`).
    "conv": (("expand_conv", "k", False, "hidden"), ("project_conv", "k", False, "filters")),
}


@keras.saving.register_keras_serializable(package="kvit")
class InvertedResidual(keras.layers.Layer):
    """MobileNetV2's inverted residual block (Sandler et al. 2018) and its relatives.

    The default `kind="inverted"`: a 1x1 expansion `ConvNormAct` to
    `make_divisible(channels * expansion_ratio, hidden_divisor)` channels, a `kernel_size`
    depthwise `ConvNormAct` that carries the stride, and a 1x1 projection without activation.
    `"fused"` replaces the first two by one dense `kernel_size` convolution, `"separable"` drops
    the expansion (a depthwise then a 1x1 convolution), `"conv"` is two dense `kernel_size`
    convolutions (see `BLOCK_KINDS`). Every convolution has BatchNorm and no bias unless
    `use_norm` / `use_bias` say otherwise. The input is added back when the stride is 1 and the
    width is unchanged; that residual branch is the one stochastic depth drops.

    Args:
        filters: int, output channels.
        expansion_ratio: float, hidden width over the input width (not used by `"separable"`).
        strides: int, stride of the block's first `kernel_size` convolution.
        kernel_size: int, side of the spatial kernel.
        activation: activation after every convolution but the projection.
        epsilon: float, BatchNorm epsilon.
        drop_path_rate: float, stochastic depth of the residual branch.
        kind: `"inverted"`, `"fused"`, `"separable"` or `"conv"`.
        use_bias: bool, or one bool per convolution of the kind, whether it adds a bias.
        use_norm: bool, or one bool per convolution of the kind, whether BatchNorm follows it.
        hidden_divisor: int, the hidden width is rounded to a multiple of it (timm's
            `make_divisible`; 1 rounds to the nearest integer, as EfficientViT does).

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
        kind="inverted",
        use_bias=False,
        use_norm=True,
        hidden_divisor=8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in BLOCK_KINDS:
            raise ValueError(f"`kind` must be one of {sorted(BLOCK_KINDS)}, got {kind!r}.")
        self.filters = filters
        self.expansion_ratio = expansion_ratio
        self.strides = strides
        self.kernel_size = kernel_size
        self.activation = activation
        self.epsilon = epsilon
        self.drop_path_rate = drop_path_rate
        self.kind = kind
        self.use_bias = use_bias
        self.use_norm = use_norm
        self.hidden_divisor = hidden_divisor
        self._per_conv = {"use_bias": self._per_conv_values("use_bias", use_bias),
                          "use_norm": self._per_conv_values("use_norm", use_norm)}

    def _per_conv_values(self, argument, value):
        count = len(BLOCK_KINDS[self.kind])
        if isinstance(value, bool):
            return (value,) * count
        value = tuple(value)
        if len(value) != count or not all(isinstance(v, bool) for v in value):
            raise ValueError(
                f"`{argument}` must be a bool or {count} bools (one per convolution of a "
                f"{self.kind!r} block), got {value!r}."
            )
        return value

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = make_divisible(channels * self.expansion_ratio, self.hidden_divisor)
        widths = {"hidden": hidden, "input": channels, "filters": self.filters}
        self.drop_path = DropPath(self.drop_path_rate) if self.strides == 1 and channels == self.filters else None
        strided = False
        shape = input_shape
        specs = BLOCK_KINDS[self.kind]
        for index, (name, kernel, depthwise, width) in enumerate(specs):
            spatial = kernel == "k"
            width = widths[width]
            conv = ConvNormAct(
                width,
                self.kernel_size if spatial else 1,
                strides=self.strides if spatial and not strided else 1,
                groups=width if depthwise else 1,
                activation=self.activation if index < len(specs) - 1 else None,
                epsilon=self.epsilon,
                use_bias=self._per_conv["use_bias"][index],
                use_norm=self._per_conv["use_norm"][index],
                name=name,
            )
            strided = strided or spatial
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            setattr(self, name, conv)

    def call(self, inputs, training=None):
        x = inputs
        for name, *_ in BLOCK_KINDS[self.kind]:
            x = getattr(self, name)(x, training=training)
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
            "kind": self.kind,
            "use_bias": self.use_bias,
            "use_norm": self.use_norm,
            "hidden_divisor": self.hidden_divisor,
        }
