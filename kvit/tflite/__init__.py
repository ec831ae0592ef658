"""TFLite (LiteRT) for phones and the Edge TPU: conversion, quantization, runtime, checks.

`convert` turns a Keras model of any backend into a builtin-only `.tflite` (float32, float16,
dynamic-range int8, full int8, int8 with float attention ("mixed") or int16x8); `Interpreter`
runs it on `ai_edge_litert` with XNNPACK; `benchmark` and `evaluate` time and score it;
`edgetpu_report` lints it against the Edge TPU's published rules; `quantization_report` finds
the tensors where a quantized conversion loses most precision, by Keras layer. TensorFlow is
imported only when converting or calibrating.
"""

from kvit.tflite.benchmark import benchmark
from kvit.tflite.calibration import representative_images
from kvit.tflite.converter import CALIBRATED_MODES, QUANTIZATION_MODES, convert
from kvit.tflite.edgetpu import EdgeTPUReport, edgetpu_report
from kvit.tflite.error_report import QuantizationReport, TensorError, quantization_report
from kvit.tflite.evaluate import evaluate
from kvit.tflite.flatbuffer import inspect_model
from kvit.tflite.interpreter import Interpreter
