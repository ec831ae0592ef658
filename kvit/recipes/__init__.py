"""Training recipes: tf.data input pipelines, augmentation and training entry points."""
