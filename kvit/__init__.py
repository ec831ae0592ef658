"""kvit: vision transformers for Keras 3 on TensorFlow, JAX and PyTorch, shipped as TFLite."""

from kvit import applications, layers, models

__version__ = "0.1.0"
