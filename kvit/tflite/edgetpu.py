"""`kvit.tflite.edgetpu_report`: a static check of a `.tflite` against the Edge TPU's rules.

The Edge TPU compiler (`edgetpu_compiler`) is closed source, x86-64 Debian only and distributed
from Coral's apt repository; it is not available to kvit, so nothing here compiles anything. The
report lints the flatbuffer against what Coral documents ("TensorFlow models on the Edge TPU",
coral.ai/docs/edgetpu/models-intro: its requirements and operator table, plus the ExpandDims,
LSTM, Pack, PReLU, Quantize, ReduceMax and ReduceMin of the table's later version) and what
google-coral/edgetpu issues report of compiler 16:

- every tensor is 8-bit quantized (int32 biases and shape operands aside): no float op;
- tensor sizes are static and the batch is 1; a tensor of more than 3 dimensions may have sizes
  above 1 only in its 3 innermost ones;
- every op is in the operator table and meets its limitations (listed in `_RULES`);
- the compiler maps one partition from the start of the graph: the first op that fails sends it
  and every later op to the CPU.

Op versions are not judged (the compiler accepts only the versions of its TFLite release, and
which those are is not published), nor are the size heuristics (resize ops "may not be mapped
to avoid loss in precision") or the 8 MiB on-chip parameter cache.
"""

import collections
import dataclasses

import numpy as np

from kvit.tflite.flatbuffer import inspect_model, schema

INTEGER_TYPES = ("int8", "uint8")
# Ops the published table lists without a limitation. Ops with one are the keys of `_RULES`.
_UNLIMITED = frozenset(
    {
        "ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "L2_NORMALIZATION", "LOGISTIC",
        "LSTM", "MAXIMUM", "MINIMUM", "MUL", "PACK", "PRELU", "QUANTIZE", "REDUCE_MAX",
        "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR", "SLICE", "SPACE_TO_DEPTH", "SPLIT", "SUB", "TANH",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
    }
)
# Why ops that vision transformers produce are missing from the table.
_KNOWN_UNMAPPED = {
    "BATCH_MATMUL": "not mapped by the compiler (google-coral/edgetpu#24, #381)",
    "GELU": "newer than the compiler's TFLite schema ('Op builtin_code out of range: 150', edgetpu#667)",
    "TRANSPOSE": "not in the op table; compiler 16 leaves it 'not mapped due to some unspecified "
    "limitation' (edgetpu#433)",
    "HARD_SWISH": "not in the op table",
    "RSQRT": "not in the op table (it is LayerNorm's 1/std)",
    "SQUARED_DIFFERENCE": "not in the op table (it is LayerNorm's variance)",
    "DEQUANTIZE": "not in the op table: float results run on the CPU",
}


@dataclasses.dataclass(frozen=True)
class OperatorCheck:
    """The verdict on one operator.

    Attributes:
        index: position in execution order.
        type: the op type, e.g. `"CONV_2D"`.
        layer: the name of its first output, which carries the Keras layer path.
        problems: why it would not map to the Edge TPU; empty when it follows every rule.
    """

    index: int
    type: str
    layer: str
    problems: tuple

    @property
    def supported(self):
        return not self.problems


@dataclasses.dataclass(frozen=True)
class EdgeTPUReport:
    """What `edgetpu_report` found. `str(report)` is the human-readable summary.

    Attributes:
        operators: one `OperatorCheck` per op, in execution order.
        model_problems: rules the whole model breaks (I/O types, batch size).
    """

    operators: tuple
    model_problems: tuple

    @property
    def first_fallback(self):
        """The first op that would run on the CPU (None when every op follows the rules)."""
        return next((check for check in self.operators if not check.supported), None)

    @property
    def mapped_operators(self):
        """How many ops the single Edge TPU partition would hold: all those before the first fallback."""
        if self.model_problems:
            return 0
        first = self.first_fallback
        return len(self.operators) if first is None else first.index

    def __str__(self):
        total = len(self.operators)
        lines = [
            "Edge TPU static check. The Edge TPU compiler did NOT run (it is closed source and not "
            "available here); this lints the model against Coral's published rules and can only "
            "estimate what the compiler would do.",
            f"Ops that would map to the Edge TPU: {self.mapped_operators} of {total}.",
        ]
        lines += [f"Model: {problem}" for problem in self.model_problems]
        first = self.first_fallback
        if first is not None:
            lines.append(
                f"First op to fall back to the CPU: #{first.index} {first.type} ({first.layer}): "
                f"{'; '.join(first.problems)}. The compiler maps one partition, so it and every "
                "later op would run on the CPU."
            )
            failing = collections.Counter(
                (check.type, "; ".join(check.problems)) for check in self.operators if check.problems
            )
            lines.append("Ops breaking the rules:")
            lines += [f"  {op} x{count}: {problems}" for (op, problems), count in failing.items()]
        elif not self.model_problems:
            lines.append("Every op follows the published rules.")
        return "\n".join(lines)


def edgetpu_report(model):
    """Checks a `.tflite` model against the Edge TPU's published rules, without the compiler.

    Args:
        model: path or bytes of a `.tflite` model (from `kvit.tflite.convert(..., edgetpu=True)`).

    Returns:
        An `EdgeTPUReport`: how many ops would map, the first that would fall back to the CPU and
        why. It is an estimate: see this module's docstring for what is and is not checked.
    """
    graph = inspect_model(model)
    model_problems = []
    for role, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for tensor in tensors:
            if tensor.dtype not in INTEGER_TYPES:
                model_problems.append(f"the {role} {tensor.name!r} is {tensor.dtype}, not int8/uint8")
    for tensor in graph.inputs:
        if not tensor.static or not tensor.shape or tensor.shape[0] != 1:
            model_problems.append(
                f"the input {tensor.name!r} has shape {tensor.shape}; the Edge TPU needs a static batch of 1"
            )
    if graph.num_subgraphs > 1:
        model_problems.append(
            f"the model has {graph.num_subgraphs} subgraphs (control flow); the Edge TPU maps one"
        )
    checks = tuple(
        OperatorCheck(
            index=op.index,
            type=op.type,
            layer=op.outputs[0].name.split(";")[0] if op.outputs else "",
            problems=tuple(_problems(op)),
        )
        for op in graph.operators
    )
    return EdgeTPUReport(checks, tuple(model_problems))


def _problems(op):
    problems = []
    if op.type not in _UNLIMITED and op.type not in _RULES:
        problems.append(_KNOWN_UNMAPPED.get(op.type, "not in the Edge TPU op table"))
    float_types = sorted({t.dtype for t in op.inputs + op.outputs if t.is_float})
    if float_types:
        problems.append(f"computes in {'/'.join(float_types)}; the Edge TPU runs 8-bit integers only")
    activations = [t for t in op.inputs + op.outputs if t.data is None]
    if any(not t.static for t in activations):
        problems.append("has a dynamic tensor shape")
    for tensor in activations:
        if any(d != 1 for d in tensor.shape[:-3]):
            problems.append(
                f"tensor {tensor.shape} has sizes above 1 outside its 3 innermost dimensions"
            )
            break
    if op.type in _RULES and not problems:
        problems += _RULES[op.type](op)
    return problems


def _non_unit(shape):
    return [d for d in shape if d != 1]


def _no_fused_activation(op):
    if op.options.fusedActivationFunction != schema().ActivationFunctionType.NONE:
        return ["has a fused activation, which the Edge TPU does not support on this op"]
    return []


def _concatenation(op):
    problems = _no_fused_activation(op)
    constants = [t for t in op.inputs if t.data is not None]
    if constants and (len(op.inputs) != 2 or any(np.any(np.asarray(t.data) != 0) for t in constants)):
        problems.append(
            "concatenates a constant that is not an all-zero pad (a learned token, say); the table "
            "allows a constant only as the second of two inputs, all zeros"
        )
    return problems


def _fully_connected(op):
    problems = []
    if op.options.weightsFormat != schema().FullyConnectedOptionsWeightsFormat.DEFAULT:
        problems.append("uses shuffled weights; only the default format is supported")
    if len(_non_unit(op.outputs[0].shape)) > 1:
        problems.append(
            f"output {op.outputs[0].shape} is not one-dimensional (a token-wise Dense); the table "
            "supports FULLY_CONNECTED only with a 1-D output"
        )
    return problems


def _softmax(op):
    shape = op.inputs[0].shape
    if len(_non_unit(shape)) > 1 or int(np.prod(shape)) > 16000:
        return [f"input {shape} is not 1-D of at most 16,000 elements (attention softmax is not)"]
    return []


def _spatial_axes_only(op, axes, what):
    rank = len(op.inputs[0].shape)
    axes = {int(a) % rank for a in np.ravel(axes)}
    if rank != 4 or not axes <= {1, 2}:
        return [f"{what} axes {sorted(axes)} of a rank-{rank} tensor; only x/y (1, 2 of NHWC) are supported"]
    return []


def _mean(op):
    return _spatial_axes_only(op, op.inputs[1].data, "reduces over")


def _pad(op):
    paddings = np.asarray(op.inputs[1].data)
    axes = [i for i, row in enumerate(paddings) if np.any(row != 0)]
    return _spatial_axes_only(op, axes, "pads along")


def _strided_slice(op):
    problems = []
    strides = op.inputs[3].data if len(op.inputs) > 3 else None
    if strides is None or np.any(np.asarray(strides) != 1):
        problems.append("has strides other than 1")
    if op.options.ellipsisMask or op.options.newAxisMask:
        problems.append("uses an ellipsis or new-axis mask")
    return problems


def _squeeze(op):
    shape = op.inputs[0].shape
    dims = getattr(op.options, "squeezeDims", None)
    squeezed = {int(d) % len(shape) for d in ([] if dims is None else dims)}
    squeezed = squeezed or {i for i, d in enumerate(shape) if d == 1}
    leading = next((i for i, d in enumerate(shape) if d != 1), len(shape))
    if any(axis >= leading for axis in squeezed):
        return [f"squeezes {shape} past its leading ones, which needs a relayout"]
    return []


# Ops of the table that come with a limitation, each with its check.
_RULES = {
    "AVERAGE_POOL_2D": _no_fused_activation,
    "CONCATENATION": _concatenation,
    "FULLY_CONNECTED": _fully_connected,
    "MAX_POOL_2D": _no_fused_activation,
    "MEAN": _mean,
    "PAD": _pad,
    "SOFTMAX": _softmax,
    "SQUEEZE": _squeeze,
    "STRIDED_SLICE": _strided_slice,
}
