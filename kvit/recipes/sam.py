"""Sharpness-aware minimisation (Foret et al. 2021) as a Keras train step on JAX, TensorFlow and PyTorch.

Each step takes two gradients: `g` at the weights `w`, then `g'` at `w + rho * g / ||g||` (the
worst nearby point to first order), and the optimizer applies `g'` at `w`. Any Keras optimizer,
loss and metrics compose with it. Keras has no backend-independent gradient call, so the step is
written once per backend, each after Keras' own `train_step`. The second pass updates no state:
batch-norm statistics and random-generator states come from the first.

Supported: one device on every backend, and `keras.distribution.DataParallel` on JAX (the
gradient norm is the global batch's). Not supported: `tf.distribute` strategies, which forbid
assigning the perturbation to mirrored variables inside a replica (`kvit train` refuses the pair).
"""

import keras
from keras import ops


class SharpnessAware:
    """Mixin for `keras.Model` subclasses: SAM's two-gradient `train_step` when `self.rho > 0`.

    The class using it sets `self.rho`; with `rho == 0` the model trains with Keras' own step.
    """

    rho = 0.0

    def train_step(self, *args):
        if not self.rho:
            return super().train_step(*args)
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_sam_step(*args)
        if backend == "tensorflow":
            return self._tensorflow_sam_step(*args)
        if backend == "torch":
            return self._torch_sam_step(*args)
        raise ValueError(f"SAM has no train step for the {backend!r} backend.")

    def _perturbation(self, grads):
        """`rho * g / ||g||` for each gradient (zeros where a variable has none)."""
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads if g is not None))
        scale = self.rho / (norm + 1e-12)
        return [None if g is None else g * ops.cast(scale, g.dtype) for g in grads]

    def _jax_sam_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (_, aux), grads = grad_fn(
            trainable, non_trainable, metrics_variables, x, y, sample_weight,
            training=True, optimizer_variables=optimizer_variables,
        )
        unscaled_loss, y_pred, new_non_trainable, new_metrics_variables = aux
        perturbed = [w if e is None else w + e for w, e in zip(trainable, self._perturbation(grads))]
        _, grads = grad_fn(
            perturbed, non_trainable, metrics_variables, x, y, sample_weight,
            training=True, optimizer_variables=optimizer_variables,
        )
        trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
        logs, new_metrics_variables = self._update_metrics_variables(
            new_metrics_variables, unscaled_loss, x, y, y_pred, sample_weight
        )
        return logs, (trainable, new_non_trainable, optimizer_variables, new_metrics_variables)

    def _tensorflow_sam_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables

        def loss_and_grads():
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
                scaled = self.optimizer.scale_loss(loss)
            return y_pred, loss, tape.gradient(scaled, variables)

        y_pred, loss, grads = loss_and_grads()
        state = [tf.identity(v.value) for v in self.non_trainable_variables]
        perturbation = self._perturbation(grads)
        for variable, e in zip(variables, perturbation):
            if e is not None:
                variable.assign_add(e)
        _, _, grads = loss_and_grads()
        for variable, e in zip(variables, perturbation):
            if e is not None:
                variable.assign_sub(e)
        for variable, value in zip(self.non_trainable_variables, state):
            variable.assign(value)
        self.optimizer.apply(grads, variables)
        return self._sam_logs(x, y, y_pred, sample_weight, loss)

    def _torch_sam_step(self, data):
        import torch

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables

        def loss_and_grads():
            y_pred = self(x, training=True)
            self.zero_grad()
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            self.optimizer.scale_loss(loss).backward()
            return y_pred, loss, [v.value.grad for v in variables]

        y_pred, loss, grads = loss_and_grads()
        with torch.no_grad():
            state = [v.value.clone() for v in self.non_trainable_variables]
            perturbation = self._perturbation([None if g is None else g.clone() for g in grads])
            for variable, e in zip(variables, perturbation):
                if e is not None:
                    variable.value.add_(e)
        _, _, grads = loss_and_grads()
        with torch.no_grad():
            for variable, e in zip(variables, perturbation):
                if e is not None:
                    variable.value.sub_(e)
            for variable, value in zip(self.non_trainable_variables, state):
                variable.assign(value)
            self.optimizer.apply(grads, variables)
        return self._sam_logs(x, y, y_pred, sample_weight, loss.detach())

    def _sam_logs(self, x, y, y_pred, sample_weight, loss):
        batch = ops.shape(next(i for i in keras.tree.flatten(x) if i is not None))[0]
        self._loss_tracker.update_state(loss, sample_weight=batch)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


class SAM(SharpnessAware, keras.Model):
    """Trains `model` with sharpness-aware minimisation: compile and fit this, save `model`.

    Args:
        model: the Keras model to train.
        rho: float > 0, the radius of the neighbourhood (0.05 in the paper for ImageNet).
    """

    def __init__(self, model, rho=0.05, **kwargs):
        super().__init__(name=kwargs.pop("name", f"sam_{model.name}"), **kwargs)
        if not rho > 0:
            raise ValueError(f"`rho` must be positive, got {rho!r}.")
        self.model = model
        self.rho = float(rho)
        self.built = model.built

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)
