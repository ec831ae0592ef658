"""Training recipes: tf.data input pipelines, augmentation, optimisation, checkpoints, `kvit train`.

Each piece composes with plain Keras on any backend (`model.fit` in your own script):
`data.load_source` opens tensorflow-datasets, image folders, TFRecords, arrays or the digits;
`pipeline.train_pipeline` / `pipeline.eval_pipeline` batch them (`transforms.eval_transform` is
timm's evaluation crop); `augment` holds DeiT's augmentation from Keras' own layers;
`optimizers.adamw` with `optimizers.warmup_cosine` and `layer_decay` is the optimisation;
`checkpoint` resumes killed runs. Importing this package imports TensorFlow (tf.data), on every
backend.
"""

from kvit.recipes import (
    augment,
    checkpoint,
    config,
    data,
    distillation,
    distribute,
    layer_decay,
    multiscale,
    optimizers,
    pipeline,
    predict,
    pretrain,
    quickstart,
    sam,
    segmentation,
    train,
    transforms,
)
from kvit.recipes.transforms import eval_transform
