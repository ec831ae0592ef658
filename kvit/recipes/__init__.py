"""Training recipes: tf.data input pipelines, augmentation and training entry points.

Importing this package imports TensorFlow (tf.data), on every backend.
"""

from kvit.recipes import digits, multiscale, pipeline, segmentation
