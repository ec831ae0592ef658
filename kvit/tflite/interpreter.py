"""`kvit.tflite.Interpreter`: a `.tflite` model on the LiteRT runtime, fed and read as floats."""

import collections
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np

from kvit.models.arguments import check_bool, is_int
from kvit.native_stderr import quiet
from kvit.tflite.flatbuffer import read_model
from kvit.tflite.litert import litert_module


# Loads, allocates and runs a model once on zeros, in a process of its own (see `_probe`). It
# imports LiteRT and NumPy only, not kvit, so it starts in a fraction of a second.
_PROBE = """
import sys
import numpy as np
from ai_edge_litert import interpreter as litert
path, xnnpack, num_threads = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
with open(path, "rb") as f:
    content = f.read()
resolvers = litert.OpResolverType
resolver = resolvers.AUTO if xnnpack else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
try:
    interpreter = litert.Interpreter(
        model_content=content, num_threads=num_threads, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    for details in interpreter.get_input_details():
        interpreter.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
    interpreter.invoke()
except Exception as error:
    print(f"{type(error).__name__}: {error}")
    sys.exit(3)
"""
PROBE_TIMEOUT_SECONDS = 600
# Models this process may load without a probe, the latest `TRUSTED_MODELS` of them: `(sha256,
# xnnpack)` of those that passed one, and the converter's outputs (`trust`).
TRUSTED_MODELS = 256
_trusted = collections.OrderedDict()


def trust(content):
    """Lets `Interpreter` load `content` without a probe: for models kvit's converter just made."""
    digest = hashlib.sha256(content).hexdigest()
    _remember((digest, True))
    _remember((digest, False))


def _remember(key):
    _trusted[key] = True
    _trusted.move_to_end(key)
    while len(_trusted) > TRUSTED_MODELS:
        _trusted.popitem(last=False)


def _probe(content, xnnpack, num_threads):
    """Runs `content` once in a child process before this process loads it.

    LiteRT checks a flatbuffer's layout but not its meaning: a `.tflite` with a damaged shape or
    index (a corrupt download, a hostile file) can crash the process that loads it (a
    segmentation fault while XNNPACK allocates, found by fuzzing), which no exception can
    catch. The child takes that crash instead, and it becomes a ValueError here. A model passes
    once per process (by content); those kvit converted are trusted.
    """
    key = (hashlib.sha256(content).hexdigest(), bool(xnnpack))
    if key in _trusted:
        _trusted.move_to_end(key)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.tflite")
        with open(path, "wb") as f:
            f.write(content)
        command = [sys.executable, "-c", _PROBE, path, "1" if xnnpack else "0", str(num_threads)]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired as error:
            raise ValueError(
                f"`model` did not load and run once on the LiteRT runtime within "
                f"{PROBE_TIMEOUT_SECONDS} s."
            ) from error
    if result.returncode == 3:
        raise ValueError(
            f"`model` could not be loaded by the LiteRT interpreter: {result.stdout.strip()}"
        )
    if result.returncode != 0:
        code = result.returncode
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        raise ValueError(
            f"`model` crashed the LiteRT runtime ({how}) while it was loaded in a probe process: a "
            f"corrupt or hostile .tflite. {result.stderr.strip()[-500:]}"
        )
    _remember(key)


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

    A model this process did not convert is first loaded and run once in a child process, so that
    a corrupt or hostile file that would crash the runtime is refused with a ValueError instead
    (see `_probe`).

    Args:
        model: path or bytes of a `.tflite` model with one image input.
        num_threads: int, CPU threads; None uses every core available to the process.
        xnnpack: bool. True (LiteRT's default) lets the XNNPACK delegate run the ops it supports;
            False runs the builtin kernels only (`OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`),
            the baseline XNNPACK is compared with.
        preserve_all_tensors: bool, keep every intermediate tensor's value after a run, for
            `tensor` to read (LiteRT's `experimental_preserve_all_tensors`; memory grows to every
            tensor at once). Needs `xnnpack=False`: a delegate keeps its tensors to itself.

    Attributes:
        input_shape: static `(batch, height, width, channels)` of the input tensor.
        input_dtype: NumPy dtype of the input tensor.
        output_dtypes: NumPy dtypes of the output tensors, before dequantization.
    """

    def __init__(self, model, num_threads=None, xnnpack=True, preserve_all_tensors=False):
        content = read_model(model)
        if num_threads is None:
            num_threads = available_cores()
        if not is_int(num_threads) or num_threads < 1:
            raise ValueError(f"`num_threads` must be None or a positive int, got {num_threads!r}.")
        check_bool("xnnpack", xnnpack)
        check_bool("preserve_all_tensors", preserve_all_tensors)
        if preserve_all_tensors and xnnpack:
            raise ValueError(
                "`preserve_all_tensors=True` needs `xnnpack=False`: the XNNPACK delegate keeps the "
                "intermediate tensors of the ops it runs to itself."
            )
        litert = litert_module("interpreter")
        _probe(content, xnnpack, num_threads)
        resolver = (
            litert.OpResolverType.AUTO
            if xnnpack
            else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        try:
            with quiet():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self._interpreter = litert.Interpreter(
                    model_content=content,
                    num_threads=int(num_threads),
                    experimental_op_resolver_type=resolver,
                    experimental_preserve_all_tensors=preserve_all_tensors,
                )
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"`model` could not be loaded by the LiteRT interpreter: {error}") from error
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"`model` must have one image input, it has {len(inputs)}.")
        self._input = inputs[0]
        self._outputs = self._interpreter.get_output_details()
        self._details = None  # every tensor's details, read when `tensor` is first called

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
                NaN or infinite values are refused.

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

    def tensor(self, index):
        """Tensor `index` (its position in the `.tflite`'s tensor list) as the last run left it.

        Intermediate tensors keep their values only with `preserve_all_tensors=True`, and only
        those of the last batch.

        Returns:
            `(value, scale, zero_point)`: a copy of the value in its stored type (integer codes for
            a quantized tensor), and its per-tensor quantization (`0.0, 0` for a float tensor).
        """
        if self._details is None:
            self._details = {d["index"]: d for d in self._interpreter.get_tensor_details()}
        scale, zero_point = self._details[index]["quantization"]
        return self._interpreter.get_tensor(index), float(scale), int(zero_point)

    @property
    def delegate_partitions(self):
        """How many subgraphs a delegate (XNNPACK) took over: 1 when it runs the whole graph.

        Every cut between partitions is an op the delegate has no kernel for, run by LiteRT's
        builtin kernels instead. (Read from the interpreter's node list, where each delegated
        subgraph is one `DELEGATE` node; LiteRT exposes it only through a private method.)
        """
        return sum(op["op_name"] == "DELEGATE" for op in self._interpreter._get_ops_details())

    def _checked(self, images):
        try:
            images = np.asarray(images)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`images` must be an array of pixels, got {type(images).__name__}: {error}") from error
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
        images = images.astype("float32")
        if not np.isfinite(images).all():
            raise ValueError("`images` holds NaN or infinite values (or values beyond float32's range).")
        return images

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
