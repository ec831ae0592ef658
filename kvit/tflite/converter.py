"""`kvit.tflite.convert`: a Keras model, trained on any backend, to a builtin-only `.tflite`.

The TFLite converter needs the TensorFlow backend. A model of the TensorFlow backend converts in
this process; one of JAX or PyTorch is saved as `.keras` and converted by a worker process
(`python -m kvit.tflite`) started with `KERAS_BACKEND=tensorflow`, since the backend of a
process is fixed at import. Either way the caller's memory stays flat over any number of
conversions (see `_forget_custom_gradients` for what in-process conversion used to keep). Keras'
own LiteRT export cannot do it in place: it refuses JAX, and on PyTorch it needs litert-torch, a
different converter; going through TensorFlow keeps one converter, and one set of quantizers,
for every backend.
"""

import collections
import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings

import keras
import numpy as np

from kvit.files import atomic_write
from kvit.models.arguments import check_bool, is_int
from kvit.native_stderr import quiet
from kvit.tflite.calibration import representative_images
from kvit.tflite.flatbuffer import inspect_model
from kvit.tflite.interpreter import Interpreter, trust

QUANTIZATION_MODES = ("float32", "float16", "dynamic", "int8", "mixed", "int16x8")
CALIBRATED_MODES = ("int8", "mixed", "int16x8")
# Ops that "mixed" keeps in float32: XNNPACK has no int8 kernel for them, so in full int8 they run
# on LiteRT's slower builtin kernels (int8 BATCH_MATMUL on the reference one) and split the graph.
# (A RELU fused into the op before it is no op of its own; a standalone one, as on linear
# attention's q and k, has no int8 XNNPACK kernel either.)
# The ADDs that feed an RSQRT (a norm's `variance + epsilon`) stay float32 too: in int8 their two
# scales are too far apart for XNNPACK's kernel.
FLOAT_OPS_OF_MIXED = ("BATCH_MATMUL", "SOFTMAX", "RSQRT", "GELU", "RELU")
# The ops that stay float32 in "mixed" where all their inputs are (see `_float_followers`).
FLOAT_FOLLOWERS = ("STRIDED_SLICE", "ADD", "MUL")
# The input/output types each mode allows; the first is the default.
IO_DTYPES = {
    "float32": ("float32",),
    "float16": ("float32",),
    "dynamic": ("float32",),
    "int8": ("int8", "uint8", "float32"),
    "mixed": ("float32",),
    "int16x8": ("int16", "float32"),
}
EDGETPU_IO_DTYPES = ("uint8", "int8")
# Models with more bytes of weights convert through a SavedModel rather than a frozen graph: see
# `convert_with_tensorflow`.
FROZEN_GRAPH_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class ConversionSettings:
    """Everything the converter is configured with, besides the model and the calibration images.

    Attributes:
        quantization: one of `QUANTIZATION_MODES`.
        io_dtype: the type of the model's input and output tensors (see `IO_DTYPES`).
        per_channel: bool, per-channel weight scales (else one scale per tensor).
        batch_size: int, the static batch of the input.
        input_shape: `(height, width, channels)`, static.
    """

    quantization: str
    io_dtype: str
    per_channel: bool
    batch_size: int
    input_shape: tuple


def convert(
    model,
    output_path=None,
    quantization=None,
    representative_data=None,
    edgetpu=False,
    batch_size=1,
    io_dtype=None,
    per_channel=True,
    input_shape=None,
    calibration_size=200,
    verbose=False,
):
    """Converts a Keras image model to a TFLite (LiteRT) flatbuffer of builtin ops only.

    The input shape is static, `(batch_size, height, width, channels)`; no Flex (TF Select) or
    custom op is ever emitted: when the graph needs one, conversion fails naming the op and the
    layer it comes from. The result is run once on LiteRT's builtin kernels before it is returned,
    so a model the runtime cannot run is refused here, not on the phone.

    A model of the JAX or PyTorch backend is converted by a TensorFlow worker process that loads
    its `.keras` file. The worker imports kvit, so kvit's layers load; a model with custom layers
    of your own should be saved as `.keras` and converted in a `KERAS_BACKEND=tensorflow` process
    that imports them.

    For full-integer modes, prefer a model that outputs logits (`classifier_activation=None`):
    an int8 softmax over many classes rounds small probabilities to the same code.

    Args:
        model: a `keras.Model` of any backend, or the path of a `.keras` file.
        output_path: optional path the `.tflite` is also written to.
        quantization: post-training quantization:
            - None or `"float32"`: none;
            - `"float16"`: float16 weights, float compute;
            - `"dynamic"`: int8 weights, activations quantized on the fly (the fast CPU mode);
            - `"int8"`: full integer, int8 weights and activations, calibrated on
              `representative_data` (the NPU and Edge TPU mode);
            - `"mixed"`: int8 like `"int8"`, calibrated, except the ops of `FLOAT_OPS_OF_MIXED`
              (attention's matmuls and softmax, GELU, the norms' rsqrt and `variance +
              epsilon`) and the slices, additions and products that take only their outputs
              (`FLOAT_FOLLOWERS`), which stay float32 between dequantize/quantize pairs, so
              XNNPACK runs the whole graph (the fast CPU mode; float32 I/O);
            - `"int16x8"`: full integer with int16 activations and int8 weights, calibrated.
        representative_data: calibration images for `"int8"`, `"mixed"` and `"int16x8"`: a NumPy
            array, a `tf.data.Dataset`, an image folder path or `"digits"` (see
            `kvit.tflite.calibration.representative_images`). Pixels in [0, 255].
        edgetpu: bool, build for the Edge TPU compiler: full int8, batch 1, uint8 I/O by default.
            Check the result with `kvit.tflite.edgetpu_report`.
        batch_size: int, the static batch size.
        io_dtype: type of the input and output tensors: for `"int8"`, `"int8"` (default),
            `"uint8"` or `"float32"`; for `"int16x8"`, `"int16"` (default) or `"float32"`; float
            modes are always `"float32"`. `kvit.tflite.Interpreter` handles each.
        per_channel: bool, per-channel weight scales (default) or one scale per tensor.
        input_shape: `(height, width, channels)`, needed only when the model's is not static.
        calibration_size: int, the most calibration images used.
        verbose: bool, show what the converter's native code writes to stderr (its
            `fully_quantize: 0, inference_type: 6, ...` lines); by default it is shown only if
            the conversion fails.

    Returns:
        The `.tflite` model as bytes. `output_path` is written atomically: a reader (or a later
        call) finds the old file or the whole new one, never a truncated one, even if this
        process is killed while writing.

    Raises:
        ValueError: for an unknown mode, a missing, empty or wrong-shape `representative_data`,
            a graph that needs non-builtin ops, or a converted model that LiteRT cannot run
            (a quantized kernel it lacks).
    """
    edgetpu = check_bool("edgetpu", edgetpu)
    per_channel = check_bool("per_channel", per_channel)
    mode = _quantization_mode(quantization, edgetpu)
    io_dtype = _io_dtype(mode, io_dtype, edgetpu)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
    if not is_int(calibration_size) or calibration_size < 1:
        raise ValueError(f"`calibration_size` must be a positive int, got {calibration_size!r}.")
    if output_path is not None and not isinstance(output_path, (str, os.PathLike)):
        raise ValueError(f"`output_path` must be None or a file path, got {type(output_path).__name__}.")
    if edgetpu and batch_size != 1:
        raise ValueError(
            f"`batch_size` must be 1 with `edgetpu=True` (the Edge TPU runs batch 1), got {batch_size}."
        )
    if mode in CALIBRATED_MODES and representative_data is None:
        raise ValueError(f"`representative_data` is required by quantization={mode!r}.")
    if mode not in CALIBRATED_MODES and representative_data is not None:
        raise ValueError(
            f"`representative_data` is only used by {CALIBRATED_MODES}, not quantization={mode!r}."
        )
    keras_model, path = _load(model)
    settings = ConversionSettings(
        quantization=mode,
        io_dtype=io_dtype,
        per_channel=bool(per_channel),
        batch_size=batch_size,
        input_shape=_static_input_shape(keras_model, input_shape),
    )
    images = None
    if mode in CALIBRATED_MODES:
        images = representative_images(representative_data, settings.input_shape, calibration_size)
        if len(images) < batch_size:
            raise ValueError(
                f"`representative_data` has {len(images)} images, fewer than `batch_size`={batch_size}."
            )
    with quiet(check_bool("verbose", verbose)):
        if keras.backend.backend() == "tensorflow":
            content = convert_with_tensorflow(keras_model, settings, images)
        else:
            content = _convert_in_worker(keras_model, path, settings, images)
        _check_runs(content)
    if output_path is not None:
        atomic_write(output_path, content)
    return content


def convert_with_tensorflow(model, settings, images=None):
    """Runs the TFLite converter on a model of the TensorFlow backend.

    The model's inference call (`training=False`) is traced once at the static input shape and
    the converter freezes its variables into the graph: the graph `model.export(...,
    format="litert")` gives, op for op, without writing and re-reading a SavedModel, which takes
    four to six times as long. Freezing copies the weights through several graph forms, though
    (a peak of about 25 times their size, against 10 through a SavedModel), and a frozen graph
    is a protobuf, which cannot pass 2 GB. So models with more than `FROZEN_GRAPH_BYTES` of
    weights (ViT-B and up) go through a SavedModel, and their `.tflite` keeps the weights after
    the flatbuffer (buffer offsets), past the flatbuffer's own 2 GB limit (ViT-H in float32).

    Args:
        model: a `keras.Model` built under `KERAS_BACKEND=tensorflow`.
        settings: a `ConversionSettings`.
        images: float32 `(n, *settings.input_shape)` calibration images for calibrated modes.

    Returns:
        The `.tflite` bytes.
    """
    import tensorflow as tf
    from tensorflow.lite.python.convert_phase import ConverterError

    signature = tf.TensorSpec((settings.batch_size, *settings.input_shape), tf.float32, name="images")
    weight_bytes = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.weights)
    with tempfile.TemporaryDirectory() as folder:
        if weight_bytes < FROZEN_GRAPH_BYTES:
            function = tf.function(lambda x: model(x, training=False), input_signature=[signature])
            # Without a trackable object the converter freezes the function, saving no SavedModel.
            # TF logs that this path is deprecated; it is the one TF takes itself for functions
            # without one, and it is kept in TF 2.21. Were it to go, FROZEN_GRAPH_BYTES = 0 sends
            # every model through the SavedModel.
            concrete_function = function.get_concrete_function()
            traced = concrete_function.graph
            with _absl_log_filtered("Please consider providing the trackable_obj"):
                converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function])
        else:
            archive = keras.export.ExportArchive()
            archive.track(model)
            endpoint = archive.add_endpoint(
                "serve", functools.partial(model.__call__, training=False), input_signature=[signature]
            )
            archive.write_out(folder, verbose=False)
            traced = endpoint.get_concrete_function().graph
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            converter._experimental_use_buffer_offset = True
        _configure(converter, settings, images)
        try:
            with warnings.catch_warnings(), _forget_custom_gradients(traced):
                # Raised for every integer input; the stats it asks for belong to the TF1 converter.
                warnings.filterwarnings("ignore", "Statistics for quantized inputs were expected")
                # The quantization debugger behind "mixed" still runs the deprecated tf.lite.Interpreter.
                warnings.filterwarnings("ignore", ".*tf.lite.Interpreter is deprecated")
                if settings.quantization == "mixed":
                    return _convert_mixed(converter)
                return converter.convert()
        except ConverterError as error:
            unsupported = _unsupported_ops(error, model)
            if unsupported:
                raise ValueError(
                    f"The model needs ops that TFLite has no builtin for: {'; '.join(unsupported)}. "
                    "kvit converts to builtin ops only (Flex/TF Select ops do not run on the LiteRT "
                    "runtime of phones and NPUs); rewrite that layer with ops that have builtins."
                ) from error
            raise


@contextlib.contextmanager
def _forget_custom_gradients(graph):
    """Drops, when the block ends, the gradient functions `graph`'s custom gradients registered.

    Traced into a graph, every `tf.custom_gradient` (Keras' SiLU on TensorFlow is one:
    `tf.nn.silu`) registers its gradient function in TensorFlow's process-wide gradient registry
    under a fresh name, `CustomGradient-<uid>`, and that function holds the tensors of the graph:
    every conversion kept its traced graph alive, about 35 MB for MobileViT-XXS. The names are
    read from the graph's own ops (their `_gradient_op_type`), so registrations of other graphs,
    traced meanwhile by other threads, stay. Conversion never takes a gradient of this graph.
    """
    try:
        yield
    finally:
        from tensorflow.python.framework import ops

        registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
        if isinstance(registry, dict):
            for op in graph.get_operations():
                try:
                    name = op.get_attr("_gradient_op_type").decode()
                except ValueError:
                    continue
                if name.startswith("CustomGradient-"):
                    registry.pop(name, None)


@contextlib.contextmanager
def _absl_log_filtered(prefix):
    """Drops the absl log records that start with `prefix` (TF's converter logs through absl)."""

    def keep(record):
        return not record.getMessage().startswith(prefix)

    logger = logging.getLogger("absl")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _configure(converter, settings, images):
    """Sets a `tf.lite.TFLiteConverter` up for `settings`: builtin ops, quantization, I/O types."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    mode = settings.quantization
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel = not settings.per_channel
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in CALIBRATED_MODES:
        converter.target_spec.supported_ops = [
            {
                "int8": tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                "mixed": tf.lite.OpsSet.TFLITE_BUILTINS,
                "int16x8": tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            }[mode]
        ]
        batch = settings.batch_size
        converter.representative_dataset = lambda: (
            [images[i : i + batch]] for i in range(0, len(images) - batch + 1, batch)
        )
        if settings.io_dtype != "float32":
            converter.inference_input_type = getattr(tf, settings.io_dtype)
            converter.inference_output_type = getattr(tf, settings.io_dtype)


def _convert_mixed(converter):
    """Calibrates like full int8, then quantizes every op but those of `FLOAT_OPS_OF_MIXED`.

    TF's quantization debugger calibrates once; the ADDs that feed an RSQRT and the float ops'
    followers (`_float_followers`), found in the calibrated float graph, are then kept float32
    by their output tensors' names.
    """
    import tensorflow as tf

    def options(nodes=None):
        return tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(FLOAT_OPS_OF_MIXED), denylisted_nodes=nodes
        )

    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=converter.representative_dataset, debug_options=options()
    )
    graph = inspect_model(debugger.calibrated_model)
    consumers = collections.defaultdict(list)
    for op in graph.operators:
        for tensor in op.inputs:
            consumers[tensor.index].append(op.type)
    epsilon_adds = [
        op.outputs[0].name
        for op in graph.operators
        if op.type == "ADD" and consumers[op.outputs[0].index] == ["RSQRT"]
    ]
    kept = list(dict.fromkeys(epsilon_adds + _float_followers(graph)))  # a name once
    if kept:
        debugger.options = options(kept)
    return debugger.get_nondebug_quantized_model()


def _float_followers(graph):
    """Output names of the ops of `FLOAT_FOLLOWERS` whose every input is float in "mixed".

    A float op's output goes on in float through the slices and arithmetic that take nothing
    else (but constants): quantizing it there would round values that a later division or
    softmax needs at full precision. EfficientViT's linear attention is the case: its last
    matmul yields numerators and normalisers side by side, and the normalisers, up to hundreds,
    would set one int8 scale for both, rounding the small normalisers (and the numerators) to
    nothing before they are divided.
    """
    float_tensors = {op.outputs[0].index for op in graph.operators if op.type in FLOAT_OPS_OF_MIXED}
    followers = []
    for op in graph.operators:  # in execution order
        dynamic = [tensor for tensor in op.inputs if tensor.data is None]
        if op.type in FLOAT_FOLLOWERS and dynamic and all(t.index in float_tensors for t in dynamic):
            float_tensors.add(op.outputs[0].index)
            followers.append(op.outputs[0].name)
    return followers


def _check_runs(content):
    """Refuses a converted model that holds non-builtin ops or that LiteRT's kernels cannot run.

    The builtin-only converter never emits Flex ops, and this makes sure of it; but it does emit
    ops whose runtime kernel lacks the quantized type (int16 SQUARED_DIFFERENCE, say), which only
    running the model reveals. One invocation on a blank image, as LiteRT runs it by default
    (XNNPACK for what it takes, the builtin kernels for the rest), does. Not on the builtin
    kernels alone: some of their float kernels take minutes where XNNPACK takes milliseconds
    (EfficientViT-L1's float model at 64x64: 17 ms against more than 4 minutes).
    """
    graph = inspect_model(content)
    custom = graph.custom_operators()
    if custom:
        types = sorted({op.type for op in custom})
        raise ValueError(f"The converted model holds non-builtin ops {types}.")
    trust(content)
    try:
        interpreter = Interpreter(content, num_threads=1)
        interpreter(np.zeros(interpreter.input_shape, "float32"))
    except (RuntimeError, ValueError) as error:
        node = re.search(r"Node number (\d+)", str(error))
        where = ""
        if node and int(node.group(1)) < len(graph.operators):
            op = graph.operators[int(node.group(1))]
            where = f" Op #{op.index} {op.type} ({op.outputs[0].name.split(';')[0]})."
        raise ValueError(
            f"The converted model does not run on the LiteRT runtime: {str(error).strip()}{where}"
        ) from error


def _quantization_mode(quantization, edgetpu):
    if quantization is not None and quantization not in QUANTIZATION_MODES:
        raise ValueError(
            f"`quantization` must be None or one of {QUANTIZATION_MODES}, got {quantization!r}."
        )
    if edgetpu:
        if quantization not in (None, "int8"):
            raise ValueError(
                "`edgetpu=True` needs full-integer int8; leave `quantization` None or 'int8', "
                f"got {quantization!r}."
            )
        return "int8"
    return quantization or "float32"


def _io_dtype(mode, io_dtype, edgetpu):
    allowed = EDGETPU_IO_DTYPES if edgetpu else IO_DTYPES[mode]
    if io_dtype is None:
        return allowed[0]
    if io_dtype not in allowed:
        raise ValueError(
            f"`io_dtype` must be one of {allowed} for quantization={mode!r}"
            f"{' with edgetpu=True' if edgetpu else ''}, got {io_dtype!r}."
        )
    return io_dtype


def _load(model):
    """Returns `(keras_model, path)`: the model, and the `.keras` file it came from (or None)."""
    if isinstance(model, keras.Model):
        return model, None
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError(f"`model` must be a keras.Model or a .keras path, got {type(model).__name__}.")
    path = os.fspath(model)
    if not path.endswith(".keras") or not os.path.isfile(path):
        raise ValueError(f"`model` {path!r} is not an existing .keras file.")
    return load_keras_file(path), path


def load_keras_file(path, argument="model"):
    """Loads a `.keras` file with `safe_mode=True`: a config naming a Lambda's Python code, or a
    class outside the registered and Keras ones, is refused with a ValueError naming `argument`;
    nothing of the file runs.
    """
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises ValueError, TypeError, KeyError, zip and h5 errors
        raise ValueError(
            f"`{argument}` {path!r} could not be loaded as a Keras model with safe_mode=True (custom "
            f"layers must be importable where it converts; see `kvit.tflite.convert`): "
            f"{type(error).__name__}: {error}"
        ) from error


def _static_input_shape(model, input_shape):
    if len(model.inputs) != 1:
        raise ValueError(
            f"kvit converts image models with one input; {model.name!r} has {len(model.inputs)}."
        )
    model_shape = tuple(model.inputs[0].shape[1:])
    if input_shape is None:
        if None in model_shape:
            raise ValueError(
                f"{model.name!r} takes inputs of shape {model_shape}; pass a static `input_shape`."
            )
        return model_shape
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != len(model_shape) or any(
        m is not None and m != d for m, d in zip(model_shape, input_shape)
    ):
        raise ValueError(f"`input_shape` {input_shape} does not fit the model's {model_shape}.")
    return input_shape


def _unsupported_ops(error, model):
    """`["Erf (layer 'blocks_0/mlp')", ...]` for the ops a ConverterError says need Flex or custom ops."""
    names = {layer.name for layer in model._flatten_layers(include_self=False)}
    found = []
    for data in getattr(error, "errors", []):
        if data.error_code not in (data.ERROR_NEEDS_FLEX_OPS, data.ERROR_NEEDS_CUSTOM_OPS):
            continue
        op = data.operator.name.removeprefix("tf.")
        paths = [_layer_path(call.name, names) for call in data.location.call]
        layers = [path for path in paths if path]
        found.append(f"{op} (layer {layers[0]!r})" if layers else op)
    return list(dict.fromkeys(found))


def _layer_path(location, layer_names):
    """The Keras layers named in a converter location such as `model_1/blocks_0/attn_1/Erf@fn`."""
    scopes = location.split("@")[0].split("/")[:-1]
    path = []
    for scope in scopes:
        base = re.sub(r"_\d+$", "", scope)
        if scope in layer_names or base in layer_names:
            path.append(scope if scope in layer_names else base)
    return "/".join(path)


def _convert_in_worker(model, path, settings, images):
    """Converts in a `KERAS_BACKEND=tensorflow` process: the way for JAX and PyTorch models."""
    with tempfile.TemporaryDirectory() as folder:
        if path is None:
            path = os.path.join(folder, "model.keras")
            model.save(path)
        request = {
            "model": os.path.abspath(path),
            "settings": dataclasses.asdict(settings),
            "images": None,
            "output": os.path.join(folder, "model.tflite"),
            "error": os.path.join(folder, "error.txt"),
        }
        if images is not None:
            request["images"] = os.path.join(folder, "images.npy")
            np.save(request["images"], images)
        request_path = os.path.join(folder, "request.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {
            **os.environ,
            "KERAS_BACKEND": "tensorflow",
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        }
        command = [sys.executable, "-m", "kvit.tflite", request_path]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if os.path.isfile(request["error"]):
            with open(request["error"]) as f:
                raise ValueError(f.read())
        if result.returncode != 0 or not os.path.isfile(request["output"]):
            raise RuntimeError(
                f"The TensorFlow conversion worker failed (exit code {result.returncode}):\n"
                + result.stderr[-4000:]
            )
        with open(request["output"], "rb") as f:
            return f.read()


def run_request(request_path):
    """The worker's side of `_convert_in_worker`: converts the request's `.keras` model.

    A `ValueError` (an unsupported op, say) is written to the request's error file for the parent
    to raise as its own; anything else fails the process.
    """
    with open(request_path) as f:
        request = json.load(f)
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("The conversion worker must run with KERAS_BACKEND=tensorflow.")
    settings = request["settings"]
    settings = ConversionSettings(**{**settings, "input_shape": tuple(settings["input_shape"])})
    images = None if request["images"] is None else np.load(request["images"])
    try:
        content = convert_with_tensorflow(load_keras_file(request["model"]), settings, images)
    except ValueError as error:
        atomic_write(request["error"], str(error).encode())
        return
    atomic_write(request["output"], content)
