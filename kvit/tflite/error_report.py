"""`kvit.tflite.quantization_report`: where a quantized `.tflite` loses precision, tensor by tensor.

The model is converted twice, in float32 and in the quantized mode, and both files run on the same
images on LiteRT's builtin kernels with every intermediate tensor kept. Each tensor of the
quantized file is matched to the float file's by the converter's names (which carry the Keras
layer paths) and compared with it after dequantization. The error is given as a signal-to-
quantization-noise ratio, `SQNR = 10 log10(sum(float^2) / sum((quantized - float)^2))` in dB over
all the images' elements: about 6 dB per bit, so 40 dB is an error of 1% RMS, 20 dB of 10%.
Each tensor gets two: the total error that reaches it (its own rounding and everything upstream),
and its own, the float tensor rounded to its integer grid alone, which says where precision is
lost rather than where it shows; the report ranks by the latter unless asked otherwise.
"""

import dataclasses
import math

import numpy as np

from kvit.models.arguments import is_int
from kvit.tflite.calibration import representative_images
from kvit.tflite.converter import CALIBRATED_MODES, QUANTIZATION_MODES, _layer_path, _load, convert
from kvit.tflite.flatbuffer import inspect_model
from kvit.tflite.interpreter import Interpreter

REPORTED_MODES = tuple(mode for mode in QUANTIZATION_MODES if mode != "float32")
# The ops that only move a tensor between float and integer: their outputs are compared only
# where they keep the float file's name (a float output).
CASTS = ("QUANTIZE", "DEQUANTIZE")
REPORT_ORDERS = ("own", "total")


@dataclasses.dataclass(frozen=True)
class TensorError:
    """How far one tensor of the quantized file is from the float file's.

    Attributes:
        layer: the Keras layer paths the tensor comes from, `" + "`-joined where the converter
            fused ops of several layers (`"blocks_0/norm1 + blocks_0/attn/qkv"`); `""` for ops
            of the model's own graph.
        op: the builtin op that writes it (`"FULLY_CONNECTED"`).
        name: the converter's name of the tensor (its first `;`-separated part).
        dtype: its type in the quantized file (`"int8"`, or `"float32"` where it stayed float).
        total_sqnr_db: float, the SQNR of the quantized file's tensor against the float file's: the
            error that has reached this tensor, its own rounding and everything upstream.
        own_sqnr_db: float, the SQNR of the float file's tensor rounded (and clipped) to this
            tensor's own integer grid alone: what its scale costs by itself. `inf` for a float one.
        clipped: float, the fraction of the float file's values outside that grid's range.
        scale: float, the tensor's quantization step (0.0 for a float tensor).
        float_min, float_max: floats, the range of the float file's values over the images.
    """

    layer: str
    op: str
    name: str
    dtype: str
    total_sqnr_db: float
    own_sqnr_db: float
    clipped: float
    scale: float
    float_min: float
    float_max: float


@dataclasses.dataclass(frozen=True)
class QuantizationReport:
    """The error of every tensor of a quantized `.tflite` against its float32 conversion.

    Attributes:
        quantization: the mode reported on.
        num_images: how many images both files ran on.
        tensors: tuple of `TensorError` in execution order, one per matched tensor.
        unmatched: int, the quantized file's op outputs left out: casts, and tensors the float
            file has no tensor of the same name and shape for.
    """

    quantization: str
    num_images: int
    tensors: tuple
    unmatched: int

    def worst(self, count=10, by=None):
        """The `count` tensors with the lowest SQNR (all for `count=None`), worst first.

        Args:
            count: int or None.
            by: `"own"` ranks by `own_sqnr_db`, what each tensor's own integer grid costs (the
                places to fix; float tensors last, among themselves by `total_sqnr_db`);
                `"total"` by `total_sqnr_db`, the error that has reached each tensor (which grows
                with depth). None: `"own"` for the calibrated modes, else `"total"` (the other
                modes quantize no activation).
        """
        if by is None:
            by = "own" if self.quantization in CALIBRATED_MODES else "total"
        if by not in REPORT_ORDERS:
            raise ValueError(f"`by` must be one of {REPORT_ORDERS}, got {by!r}.")
        if by == "own":
            ranked = sorted(self.tensors, key=lambda t: (t.own_sqnr_db, t.total_sqnr_db))
        else:
            ranked = sorted(self.tensors, key=lambda t: t.total_sqnr_db)
        return ranked if count is None else ranked[:count]

    def table(self, count=10, by=None):
        """The `worst(count, by)` tensors as a text table."""
        by = by or ("own" if self.quantization in CALIBRATED_MODES else "total")
        rows = self.worst(count, by)
        lines = [
            f"{self.quantization}: the {len(rows)} of {len(self.tensors)} tensors with the lowest "
            f"{'own ' if by == 'own' else ''}SQNR against float32 ({self.num_images} images). SQNR = "
            "10 log10(signal / error) in dB: 'total' the error that reaches the tensor, 'own' its "
            "own rounding alone",
            f"{'own dB':>7} {'total dB':>8} {'clipped':>8} {'scale':>9} {'float range':>20}  "
            f"{'dtype':<7} {'op':<15} layer (op name)",
        ]
        for row in rows:
            value_range = f"[{row.float_min:.3g}, {row.float_max:.3g}]"
            lines.append(
                f"{row.own_sqnr_db:>7.1f} {row.total_sqnr_db:>8.1f} {row.clipped:>8.2%} {row.scale:>9.3g} "
                f"{value_range:>20}  {row.dtype:<7} {row.op:<15} {row.layer or '-'} "
                f"({row.name.rsplit('/', 1)[-1]})"
            )
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def quantization_report(
    model,
    quantization="int8",
    representative_data=None,
    images=None,
    num_images=4,
    quantized_model=None,
    calibration_size=200,
):
    """Measures, tensor by tensor, how far a quantized conversion of `model` is from float32.

    Both files run on LiteRT's builtin kernels (XNNPACK keeps its intermediate tensors to itself),
    one image at a time, so keep the images few: each run keeps every tensor of the model.

    Args:
        model: a `keras.Model` of any backend, or the path of a `.keras` file.
        quantization: one of `REPORTED_MODES` (`"int8"`, `"mixed"`, `"dynamic"`, ...).
        representative_data: the calibration images of the calibrated modes (`CALIBRATED_MODES`),
            as `kvit.tflite.convert` takes them.
        images: `(n, height, width, channels)` [0, 255] pixels both files run on; None takes the
            first `num_images` of `representative_data`.
        num_images: int, how many calibration images to run on when `images` is None.
        quantized_model: optional bytes or path of the `.tflite` already converted from `model` in
            `quantization` at batch 1 (as `kvit convert` has it), so it is not converted again.
        calibration_size: int, the most calibration images the conversion uses.

    Returns:
        A `QuantizationReport`; `str(report)` is the table of the 10 tensors with the largest
        error of their own (`report.worst`).

    Raises:
        ValueError: naming the argument, for an unknown `quantization`, a calibrated mode without
            `representative_data`, or neither `images` nor `representative_data`.
    """
    if quantization not in REPORTED_MODES:
        raise ValueError(f"`quantization` must be one of {REPORTED_MODES}, got {quantization!r}.")
    if quantization in CALIBRATED_MODES and representative_data is None:
        raise ValueError(f"`representative_data` is required by quantization={quantization!r}.")
    if images is None and representative_data is None:
        raise ValueError("`images` is required when there is no `representative_data` to take them from.")
    if not is_int(num_images) or num_images < 1:
        raise ValueError(f"`num_images` must be a positive int, got {num_images!r}.")
    keras_model, _ = _load(model)
    reference = convert(keras_model)
    if quantized_model is None:
        calibration = representative_data if quantization in CALIBRATED_MODES else None
        quantized_model = convert(
            keras_model,
            quantization=quantization,
            representative_data=calibration,
            calibration_size=calibration_size,
        )
    reference_runner = Interpreter(reference, xnnpack=False, preserve_all_tensors=True)
    quantized_runner = Interpreter(quantized_model, xnnpack=False, preserve_all_tensors=True)
    if quantized_runner.input_shape != reference_runner.input_shape:
        raise ValueError(
            f"`quantized_model` takes inputs of shape {quantized_runner.input_shape}, not "
            f"{reference_runner.input_shape}: convert it with batch_size=1 from the same model."
        )
    if images is None:
        images = representative_images(representative_data, reference_runner.input_shape[1:], num_images)
    pairs, unmatched = _matched_tensors(inspect_model(reference), inspect_model(quantized_model))
    layer_names = {layer.name for layer in keras_model._flatten_layers(include_self=False)}
    sums = [_ErrorSums() for _ in pairs]
    for image in np.asarray(images):
        reference_runner(image[None])
        quantized_runner(image[None])
        for (reference_index, _, tensor), tensor_sums in zip(pairs, sums):
            expected, _, _ = reference_runner.tensor(reference_index)
            tensor_sums.add(expected.astype("float64"), *quantized_runner.tensor(tensor.index))
    tensors = [
        tensor_sums.result(
            layer=_layers(tensor.name, layer_names), op=op_type, name=tensor.name.split(";")[0], dtype=tensor.dtype
        )
        for (_, op_type, tensor), tensor_sums in zip(pairs, sums)
    ]
    return QuantizationReport(
        quantization=quantization,
        num_images=len(images),
        tensors=tuple(t for t in tensors if t is not None),
        unmatched=unmatched,
    )


def _matched_tensors(reference, quantized):
    """Pairs each op output of the `quantized` graph with the `reference` (float) graph's.

    A tensor matches the float tensor of the same name; where the converter named them apart
    (the outputs of a SPLIT get fused names in a quantized graph), it matches the output at the
    same position of the float op whose first output's name starts the same. Casts match by name
    only (a DEQUANTIZE of one SPLIT output shares the SPLIT's name). Shapes must agree.

    Returns:
        `([(reference_tensor_index, op_type, quantized_tensor), ...], unmatched)`, in the
        quantized graph's execution order.
    """
    by_name, by_op = {}, {}
    for op in reference.operators:
        for position, tensor in enumerate(op.outputs):
            by_name[tensor.name] = tensor
            by_op[(op.outputs[0].name.split(";")[0], position)] = tensor
    pairs, used, unmatched = [], set(), 0
    for op in quantized.operators:
        for position, tensor in enumerate(op.outputs):
            match = by_name.get(tensor.name)
            if match is None and op.type not in CASTS:
                match = by_op.get((op.outputs[0].name.split(";")[0], position))
            if match is None or match.index in used or match.shape != tensor.shape:
                unmatched += 1
                continue
            used.add(match.index)
            pairs.append((match.index, op.type, tensor))
    return pairs, unmatched


def _layers(tensor_name, layer_names):
    """`"blocks_0/norm1 + blocks_0/attn/qkv"`: the Keras layers in a (fused) converter name."""
    paths = (_layer_path(part, layer_names) for part in tensor_name.split(";"))
    return " + ".join(dict.fromkeys(filter(None, paths)))


class _ErrorSums:
    """What one tensor's errors add up to over the images."""

    def __init__(self):
        self.signal = self.error = self.own_error = 0.0
        self.clipped = self.count = 0
        self.low, self.high = math.inf, -math.inf
        self.scale = 0.0

    def add(self, expected, value, scale, zero_point):
        """Adds one run: `expected` the float file's tensor, `value` the quantized file's as stored."""
        self.signal += float(np.sum(expected**2))
        self.count += expected.size
        self.low, self.high = min(self.low, float(expected.min())), max(self.high, float(expected.max()))
        if np.issubdtype(value.dtype, np.integer) and scale:
            self.scale = scale
            info = np.iinfo(value.dtype)
            codes = np.round(expected / scale) + zero_point
            self.clipped += int(np.sum((codes < info.min) | (codes > info.max)))
            rounded = (np.clip(codes, info.min, info.max) - zero_point) * scale
            self.own_error += float(np.sum((rounded - expected) ** 2))
            value = (value.astype("float64") - zero_point) * scale
        self.error += float(np.sum((value.astype("float64") - expected) ** 2))

    def result(self, **names):
        """The `TensorError`, or None for a tensor that was zero on every image (no signal to compare)."""
        if self.signal == 0:
            return None
        return TensorError(
            **names,
            total_sqnr_db=_sqnr_db(self.signal, self.error),
            own_sqnr_db=_sqnr_db(self.signal, self.own_error),
            clipped=self.clipped / self.count,
            scale=self.scale,
            float_min=self.low,
            float_max=self.high,
        )


def _sqnr_db(signal, error):
    return math.inf if error == 0 else 10 * math.log10(signal / error)
