"""DeiT's knowledge distillation (Touvron et al. 2021) from any Keras teacher, on every backend.

A distilled DeiT (`distilled=True`) has two heads: the class token's learns the labels, the
distillation token's learns the teacher (`kvit.models.distillation_outputs` exposes both). DeiT's
loss, on those logits `Z_cls`, `Z_dist` and the teacher's `Z_t`:

- hard: `(1 - alpha) * L(Z_cls, y) + alpha * CE(Z_dist, argmax Z_t)`, alpha 0.5 in the paper;
- soft: `(1 - alpha) * L(Z_cls, y) + alpha * tau**2 * KL(softmax(Z_t / tau) || softmax(Z_dist / tau))`.

`L` is the loss `compile` is given (label smoothing, mixed labels: the recipe's loss). A student
without a distillation token learns both terms on its one head (Hinton-style). Predictions for
metrics, and the student's own output, are the mean of the two heads' logits.

The distillation is written in `compute_loss`, which Keras' train step calls on every backend,
so plain `fit` trains it on TensorFlow, JAX and PyTorch alike.
"""

import keras
from keras import ops

from kvit.recipes.sam import SharpnessAware

KINDS = ("hard", "soft")


def logits_model(model):
    """`model` itself if it outputs logits; the same layers up to its softmax if it ends in one.

    kvit applications end in an `Activation("softmax")` layer named `predictions` by default;
    distillation needs the logits before it.
    """
    last = model.layers[-1]
    if isinstance(last, keras.layers.Activation) and getattr(last.activation, "__name__", "") == "softmax":
        return keras.Model(model.inputs, last.input, name=f"{model.name}_logits")
    return model


class Distiller(SharpnessAware, keras.Model):
    """Trains `student` with DeiT's distillation from `teacher`: compile and fit this, save `student`.

    Args:
        student: the model to train: a distilled kvit ViT (its distillation token's head learns
            from the teacher) or any classifier (one head learns from both).
        teacher: any Keras classifier of the same classes; frozen. Images are resized (and grey
            ones repeated to 3 channels) to its input when its input shape differs.
        kind: `"hard"` (DeiT's best) or `"soft"`.
        alpha: float in [0, 1], the weight of the distillation term.
        temperature: float, soft distillation's tau.
        rho: float, sharpness-aware minimisation's radius (`kvit.recipes.sam`); 0 for plain steps.
    """

    def __init__(self, student, teacher, kind="hard", alpha=0.5, temperature=1.0, rho=0.0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{student.name}_distiller"), **kwargs)
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}.")
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive, got {temperature!r}.")
        layer_names = {layer.name for layer in student.layers}
        if {"head", "head_dist"} <= layer_names:
            from kvit.models import distillation_outputs

            self.student_heads = distillation_outputs(student)
            self.two_heads = True
        else:
            self.student_heads = logits_model(student)
            self.two_heads = False
        self.student = student
        self.teacher = logits_model(teacher)
        self.teacher.trainable = False
        self.kind = kind
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.rho = float(rho)
        self.built = True

    def call(self, images, training=None):
        heads = self.student_heads(images, training=training)
        class_logits, distillation_logits = heads if self.two_heads else (heads, heads)
        teacher_logits = ops.stop_gradient(self.teacher(self._teacher_images(images), training=False))
        return class_logits, distillation_logits, teacher_logits

    def _teacher_images(self, images):
        shape = self.teacher.inputs[0].shape
        if shape[-1] == 3 and images.shape[-1] == 1:
            images = ops.repeat(images, 3, axis=-1)
        size = tuple(shape[1:3])
        if None not in size and size != tuple(images.shape[1:3]):
            images = ops.image.resize(images, size, interpolation="bilinear")
        return images

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        class_logits, distillation_logits, teacher_logits = y_pred
        base = super().compute_loss(x, y, class_logits, sample_weight, training=training)
        teacher_logits = ops.cast(teacher_logits, "float32")
        distillation_logits = ops.cast(distillation_logits, "float32")
        if self.kind == "hard":
            targets = ops.argmax(teacher_logits, axis=-1)
            distill = ops.mean(
                keras.losses.sparse_categorical_crossentropy(targets, distillation_logits, from_logits=True)
            )
        else:
            tau = self.temperature
            teacher_log_probs = ops.log_softmax(teacher_logits / tau, axis=-1)
            student_log_probs = ops.log_softmax(distillation_logits / tau, axis=-1)
            kl = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
            distill = ops.mean(kl) * tau * tau
        return (1.0 - self.alpha) * base + self.alpha * distill

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        class_logits, distillation_logits, _ = y_pred
        return super().compute_metrics(x, y, (class_logits + distillation_logits) / 2.0, sample_weight)
