"""`kvit.tflite.Interpreter`: a `.tflite` model on the LiteRT runtime, fed and read as floats."""

import os

import numpy as np
from ai_edge_litert import interpreter as litert

from kvit.tflite.flatbuffer import read_model


def available_cores():
    """The number of CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Interpreter:
    """Runs a `.tflite` image model with `ai_edge_litert`, on the XNNPACK delegate by default.

    Callers pass float pixels in [0, 255], as to the Keras model. When the model's input is an
    integer tensor (int8, uint8 or int16: the full-integer modes), the images are quantized with
    its scale and zero point, and integer outputs are dequantized, so outputs are always float32.

    Args:
        model: path or bytes of a `.tflite` model with one image input.
        num_threads: int, CPU threads; None uses every core available to the process.
        xnnpack: bool. True (LiteRT's default) lets the XNNPACK delegate run the ops it supports;
            False runs the builtin kernels only (`OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`),
            the baseline XNNPACK is compared with.

    Attributes:
        input_shape: static `(batch, height, width, channels)` of the input tensor.
        input_dtype: NumPy dtype of the input tensor.
        output_dtypes: NumPy dtypes of the output tensors, before dequantization.
    """

    def __init__(self, model, num_threads=None, xnnpack=True):
        content = read_model(model)
        if num_threads is None:
            num_threads = available_cores()
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"`num_threads` must be None or a positive int, got {num_threads!r}.")
        resolver = (
            litert.OpResolverType.AUTO
            if xnnpack
            else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        try:
            self._interpreter = litert.Interpreter(
                model_content=content,
                num_threads=num_threads,
                experimental_op_resolver_type=resolver,
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"`model` could not be loaded by the LiteRT interpreter: {error}") from error
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"`model` must have one image input, it has {len(inputs)}.")
        self._input = inputs[0]
        self._outputs = self._interpreter.get_output_details()

    @property
    def input_shape(self):
        return tuple(int(d) for d in self._input["shape"])

    @property
    def input_dtype(self):
        return np.dtype(self._input["dtype"])

    @property
    def output_dtypes(self):
        return [np.dtype(output["dtype"]) for output in self._outputs]

    def __call__(self, images):
        """Runs the model on `images`, in batches of the model's static batch size.

        Args:
            images: `(n, height, width, channels)` float (or uint8) pixels in [0, 255], any n;
                the last partial batch is padded, and the padding dropped from the outputs.

        Returns:
            float32 array `(n, ...)`, or a list of them for a model with several outputs.
        """
        images = self._checked(images)
        batch = self.input_shape[0]
        results = []
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            padding = np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
            padded = np.concatenate([chunk, padding])
            self._interpreter.set_tensor(self._input["index"], _quantize(padded, self._input))
            self._interpreter.invoke()
            results.append([self._output(output)[: len(chunk)] for output in self._outputs])
        outputs = [np.concatenate(parts) for parts in zip(*results)]
        return outputs[0] if len(outputs) == 1 else outputs

    def invoke(self):
        """Runs the model again on the input last set by a call, for timing."""
        self._interpreter.invoke()

    @property
    def delegate_partitions(self):
        """How many subgraphs a delegate (XNNPACK) took over: 1 when it runs the whole graph.

        Every cut between partitions is an op the delegate has no kernel for, run by LiteRT's
        builtin kernels instead. (Read from the interpreter's node list, where each delegated
        subgraph is one `DELEGATE` node; LiteRT exposes it only through a private method.)
        """
        return sum(op["op_name"] == "DELEGATE" for op in self._interpreter._get_ops_details())

    def _checked(self, images):
        images = np.asarray(images)
        if not (np.issubdtype(images.dtype, np.floating) or images.dtype == np.uint8):
            raise ValueError(
                f"`images` must be float (or uint8) pixels in [0, 255], got dtype {images.dtype}. "
                f"Pass unquantized pixels: the interpreter quantizes them for the model's "
                f"{self.input_dtype} input itself."
            )
        expected = self.input_shape[1:]
        if images.ndim != 4 or images.shape[1:] != expected or len(images) == 0:
            raise ValueError(
                f"`images` must have shape (n, {', '.join(map(str, expected))}) with n >= 1, got "
                f"{images.shape}."
            )
        return images.astype("float32")

    def _output(self, details):
        value = self._interpreter.get_tensor(details["index"])
        scale, zero_point = details["quantization"]
        if np.issubdtype(value.dtype, np.integer) and scale:
            return ((value.astype("float32") - zero_point) * scale).astype("float32")
        return value.astype("float32")


def _quantize(images, details):
    dtype = np.dtype(details["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return images.astype(dtype)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(images / scale + zero_point), info.min, info.max).astype(dtype)
