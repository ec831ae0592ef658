"""Reading a `.tflite` flatbuffer: its operators and tensors, without running it.

Parsed with the LiteRT schema (`ai_edge_litert.schema_py_generated`) through its lazy accessors,
so a large model's weights are viewed in place, never copied into Python lists.
"""

import dataclasses
import functools
import os

import numpy as np

from kvit.tflite.litert import litert_module

FLOAT_TYPES = ("float16", "float32", "float64", "bfloat16")
_FILE_IDENTIFIER = b"TFL3"


def schema():
    """LiteRT's flatbuffer schema module."""
    return litert_module("schema_py_generated")


@functools.cache
def operator_names():
    """`{builtin operator code: name}`, e.g. `{9: "FULLY_CONNECTED"}`."""
    return {code: name for name, code in vars(schema().BuiltinOperator).items() if not name.startswith("_")}


@functools.cache
def tensor_types():
    """`{tensor type code: NumPy-style name}`, e.g. `{0: "float32"}`."""
    return {code: name.lower() for name, code in vars(schema().TensorType).items() if not name.startswith("_")}


def read_model(model, argument="model"):
    """Returns the bytes of a `.tflite` model given as bytes or as a path, checked to be one.

    Args:
        model: `bytes` of a flatbuffer, or the path of a `.tflite` file.
        argument: the caller's argument name, used in error messages.

    Raises:
        ValueError: naming `argument`, when the file is missing, empty or not a TFLite flatbuffer.
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        content, source = bytes(model), "the given bytes"
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ValueError(f"`{argument}` {path!r} is not a file.")
        with open(path, "rb") as f:
            content = f.read()
        source = repr(path)
    else:
        raise ValueError(
            f"`{argument}` must be the bytes or the path of a .tflite model, got {type(model).__name__}."
        )
    if not content:
        raise ValueError(f"`{argument}` ({source}) is empty: a .tflite model has at least a header.")
    if len(content) < 8 or content[4:8] != _FILE_IDENTIFIER:
        raise ValueError(
            f"`{argument}` ({source}) is not a TFLite flatbuffer: it lacks the {_FILE_IDENTIFIER!r} "
            "file identifier (corrupt, truncated, or another format)."
        )
    return content


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One tensor of the graph.

    Attributes:
        index: position in the subgraph's tensor list.
        name: the converter's name; it carries the Keras layer path (`model/blocks_0/attn/...`).
        dtype: lower-case TFLite type name, e.g. `"float32"`, `"int8"`.
        shape: the static shape, batch included.
        static: False when the shape signature has unknown (-1) dimensions.
        scales: number of quantization scales: 0 not quantized, 1 per-tensor, more per-channel.
        data: the value of a constant tensor (weights, axes, paddings), else None.
    """

    index: int
    name: str
    dtype: str
    shape: tuple
    static: bool
    scales: int
    data: object = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def is_float(self):
        return self.dtype in FLOAT_TYPES


@dataclasses.dataclass(frozen=True)
class Operator:
    """One operator, in execution order.

    Attributes:
        index: position in execution order.
        type: builtin name (`"CONV_2D"`), or the custom code of a custom op (`"FlexErf"`).
        version: the op's version.
        custom: whether it is a custom (or Flex) op, which the builtin runtime cannot run.
        inputs, outputs: tuples of `Tensor` (optional inputs that are absent are left out).
        options: the op's builtin options (a schema `*OptionsT` object), or None.
    """

    index: int
    type: str
    version: int
    custom: bool
    inputs: tuple
    outputs: tuple
    options: object = dataclasses.field(default=None, repr=False, compare=False)

    def signature(self):
        """`"CONV_2D(int8,int8,int32->int8)"`: the op type with its tensor types."""
        inputs = ",".join(t.dtype for t in self.inputs)
        outputs = ",".join(t.dtype for t in self.outputs)
        return f"{self.type}({inputs}->{outputs})"


@dataclasses.dataclass(frozen=True)
class Graph:
    """The main subgraph of a `.tflite` model: operators in execution order, inputs and outputs."""

    operators: tuple
    inputs: tuple
    outputs: tuple
    num_subgraphs: int

    def float_operators(self):
        """Operators that compute in floating point: the float islands of a quantized model.

        A QUANTIZE that reads a float graph input, or a DEQUANTIZE that writes a float graph output,
        is the float I/O boundary, not an island; everything else touching a float tensor is one.
        """
        inputs = {t.index for t in self.inputs}
        outputs = {t.index for t in self.outputs}
        islands = []
        for op in self.operators:
            if op.type == "QUANTIZE" and all(t.index in inputs for t in op.inputs if t.is_float):
                continue
            if op.type == "DEQUANTIZE" and all(t.index in outputs for t in op.outputs if t.is_float):
                continue
            if any(t.is_float for t in op.inputs + op.outputs):
                islands.append(op)
        return islands

    def custom_operators(self):
        """Custom and Flex (`Flex*`) operators: those the builtin runtime cannot run."""
        return [op for op in self.operators if op.custom]


def inspect_model(model, argument="model"):
    """Parses a `.tflite` model into a `Graph` of its first (main) subgraph.

    Args:
        model: bytes or path of a `.tflite` file.
        argument: the caller's argument name, used in error messages.
    """
    content = read_model(model, argument)
    schema_module = schema()
    try:
        root = schema_module.Model.GetRootAs(content, 0)
        subgraph = root.Subgraphs(0)
        codes = [_operator_type(root.OperatorCodes(i)) for i in range(root.OperatorCodesLength())]
        tensors = [_tensor(root, subgraph, i, content) for i in range(subgraph.TensorsLength())]
        operators = []
        for i in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(i)
            op_type, version, custom = codes[op.OpcodeIndex()]
            operators.append(
                Operator(
                    index=i,
                    type=op_type,
                    version=version,
                    custom=custom,
                    inputs=tuple(tensors[j] for j in op.InputsAsNumpy() if j >= 0),
                    outputs=tuple(tensors[j] for j in op.OutputsAsNumpy()),
                    options=schema_module.OperatorT.InitFromObj(op).builtinOptions,
                )
            )
        return Graph(
            operators=tuple(operators),
            inputs=tuple(tensors[j] for j in subgraph.InputsAsNumpy()),
            outputs=tuple(tensors[j] for j in subgraph.OutputsAsNumpy()),
            num_subgraphs=root.SubgraphsLength(),
        )
    except Exception as error:  # a damaged flatbuffer fails anywhere: struct, index, decode errors
        raise ValueError(f"`{argument}` is a corrupt TFLite flatbuffer: {error!r}") from error


def _operator_type(code):
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema().BuiltinOperator.CUSTOM:
        return code.CustomCode().decode(), code.Version(), True
    return operator_names().get(builtin, f"BUILTIN_{builtin}"), code.Version(), False


def _tensor(root, subgraph, index, content):
    tensor = subgraph.Tensors(index)
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else ()
    quantization = tensor.Quantization()
    dtype = tensor_types().get(tensor.Type(), f"type_{tensor.Type()}")
    return Tensor(
        index=index,
        name=tensor.Name().decode(),
        dtype=dtype,
        shape=shape,
        static=not any(int(d) < 0 for d in signature),
        scales=quantization.ScaleLength() if quantization is not None else 0,
        data=_constant(root.Buffers(tensor.Buffer()), dtype, shape, content),
    )


def _constant(buffer, dtype, shape, content):
    if buffer is None:
        return None
    if buffer.Offset() > 1:  # stored after the flatbuffer (models over 2 GB)
        raw = np.frombuffer(content, np.uint8, count=buffer.Size(), offset=buffer.Offset())
    elif buffer.DataLength():
        raw = buffer.DataAsNumpy()
    else:
        return None
    try:
        return raw.view(np.dtype(dtype)).reshape(shape)
    except (TypeError, ValueError):  # packed (int4) or unknown types: keep the raw bytes
        return raw
