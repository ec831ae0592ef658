"""The optimizer of the recipes: AdamW, linear warm-up then cosine decay, weight decay where it belongs.

`adamw(model, ...)` returns `AdamW` here, a Keras AdamW, for `model.compile`: its learning rate
follows `warmup_cosine`, its weight decay skips what DeiT, Swin and MAE leave undecayed
(`no_weight_decay`), with `layer_decay` it scales each variable's learning rate (for layer-wise
decay in fine-tuning, `kvit.recipes.layer_decay`), and on PyTorch and TensorFlow it runs their
fused Adam kernels. Everything is a Keras optimizer or schedule, serialisable and restored with
the optimizer's state, so a resumed run continues its schedule at the step it stopped.
"""

import re

import keras

from kvit import fast_paths

# Names of variables that carry no weight decay besides every 1-D one (norm scales and shifts,
# biases): class/distillation tokens, position embeddings, Swin's relative position bias tables,
# MAE's mask token. Matched with `re.search` on the variable path.
NO_DECAY_PATTERNS = (
    r"(^|/)prefix_tokens/",
    r"(^|/)pos_embed/",
    r"position_embedding",
    r"relative_position_bias",
    r"absolute_pos_embed",
    r"mask_token",
)


def warmup_cosine(peak, total_steps, warmup_steps=0, initial=0.0, final=0.0):
    """A linear warm-up from `initial` to `peak` over `warmup_steps`, then a cosine decay to `final`.

    timm's `CosineLRScheduler` with `warmup_lr_init=initial`, `lr_min=final`, stepped per optimizer
    step. Returns a `keras.optimizers.schedules.CosineDecay`.

    Args:
        peak: float, the learning rate after warm-up.
        total_steps: int, all optimizer steps, warm-up included; the rate stays at `final` after.
        warmup_steps: int.
        initial: float, the learning rate at step 0.
        final: float, the learning rate at `total_steps`.
    """
    if not isinstance(total_steps, int) or total_steps <= warmup_steps or warmup_steps < 0:
        raise ValueError(
            f"`total_steps` ({total_steps!r}) must be an int greater than `warmup_steps` ({warmup_steps!r}) >= 0."
        )
    if peak <= 0 or final < 0 or final > peak:
        raise ValueError(f"Learning rates must satisfy 0 <= final ({final}) <= peak ({peak}), peak > 0.")
    decay_steps = total_steps - warmup_steps
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps, alpha=final / peak)
    return keras.optimizers.schedules.CosineDecay(
        initial, decay_steps, alpha=final / peak, warmup_target=peak, warmup_steps=warmup_steps
    )


def no_weight_decay(model, patterns=NO_DECAY_PATTERNS):
    """The trainable variables that take no weight decay: every one of rank <= 1, and those `patterns` name."""
    compiled = [re.compile(p) for p in patterns]
    return [
        v for v in model.trainable_variables
        if len(v.shape) <= 1 or any(p.search(v.path) for p in compiled)
    ]


@keras.saving.register_keras_serializable(package="kvit")
class AdamW(keras.optimizers.AdamW):
    """Keras AdamW with a learning-rate multiplier per variable, fused on PyTorch and TensorFlow.

    Each variable's step, weight decay included (timm's and MAE's parameter groups scale both),
    is taken at `learning_rate * lr_multipliers[variable.path]`; variables not named take the
    full rate. Works as any Keras optimizer on every backend (the multiplier is applied in
    `update_step`, which each backend's optimizer calls per variable, and in PyTorch's fused
    update, which groups variables by multiplier). Adam's update does not
    change when the gradient is scaled, so scaling gradients instead would do nothing.

    On PyTorch the update runs as torch's fused AdamW, one pass over each variable
    (`kvit.fast_paths.torch_fused_adamw`); on TensorFlow each variable's Adam step is one
    `ResourceApplyAdam` (`kvit.fast_paths.tensorflow_apply_adam`). Both keep Keras' arithmetic.
    JAX compiles Keras' update as it is.

    Args:
        lr_multipliers: dict `{variable path: float}`, e.g. from
            `kvit.recipes.layer_decay.layer_decay_multipliers`.
        **kwargs: `keras.optimizers.AdamW`'s arguments.
    """

    def __init__(self, lr_multipliers=None, **kwargs):
        super().__init__(**kwargs)
        self.lr_multipliers = dict(lr_multipliers or {})

    def build(self, variables):
        super().build(variables)
        self._multipliers = [self.lr_multipliers.get(v.path, 1.0) for v in variables]

    def _apply_weight_decay(self, variables):
        # Decay is applied per variable in `update_step`, at the variable's own rate.
        return

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not fast_paths.use_torch_fused_adamw(self.amsgrad):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        groups = {}  # one fused call per (multiplier, decays): torch takes one rate per call
        for grad, variable in zip(grads, trainable_variables):
            index = self._get_variable_index(variable)
            decays = self.weight_decay is not None and self._use_weight_decay(variable)
            groups.setdefault((self._multipliers[index], decays), []).append((grad, variable.value, index))
        step = int(self.iterations) + 1
        for (multiplier, decays), members in groups.items():
            fast_paths.torch_fused_adamw(
                [value for _, value, _ in members],
                [grad for grad, _, _ in members],
                [self._momentums[index].value for _, _, index in members],
                [self._velocities[index].value for _, _, index in members],
                step=step,
                learning_rate=float(learning_rate) * multiplier,
                weight_decay=self.weight_decay if decays else 0.0,
                beta_1=self.beta_1,
                beta_2=self.beta_2,
                epsilon=self.epsilon,
            )

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._multipliers[self._get_variable_index(variable)]
        if multiplier != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, multiplier)
        if self.weight_decay is not None and self._use_weight_decay(variable):
            decay = keras.ops.cast(learning_rate, variable.dtype) * keras.ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(variable, keras.ops.multiply(variable, decay))
        if fast_paths.use_tensorflow_apply_adam(gradient, self.amsgrad):
            index = self._get_variable_index(variable)
            fast_paths.tensorflow_apply_adam(
                variable,
                gradient,
                self._momentums[index],
                self._velocities[index],
                step=self.iterations + 1,
                learning_rate=learning_rate,
                beta_1=self.beta_1,
                beta_2=self.beta_2,
                epsilon=self.epsilon,
            )
        else:
            super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": self.lr_multipliers}


def adamw(
    model,
    learning_rate,
    weight_decay=0.05,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    clipnorm=None,
    use_ema=False,
    ema_momentum=0.9999,
    layer_decay=None,
    no_decay_patterns=NO_DECAY_PATTERNS,
):
    """The recipes' AdamW for `model`.

    Args:
        model: the built model it will train (its variables decide what decays).
        learning_rate: float or a schedule, e.g. `warmup_cosine(...)`.
        weight_decay: float, decoupled weight decay (AdamW's), skipped by `no_weight_decay(model)`.
        beta_1, beta_2, epsilon: Adam's.
        clipnorm: float or None, clip the global gradient norm to this (Keras `global_clipnorm`).
        use_ema, ema_momentum: keep an exponential moving average of the weights (Keras' EMA:
            `keras.callbacks.SwapEMAWeights` evaluates with it; `fit` ends with it in the model).
        layer_decay: float in (0, 1] or None, layer-wise learning-rate decay (`AdamW` above).
        no_decay_patterns: regexes of variable paths besides rank <= 1 that take no decay.

    Returns:
        This module's `AdamW` (a `keras.optimizers.AdamW`).
    """
    kwargs = dict(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=clipnorm,
        use_ema=use_ema,
        ema_momentum=ema_momentum,
    )
    multipliers = None
    if layer_decay is not None and layer_decay != 1.0:
        from kvit.recipes.layer_decay import layer_decay_multipliers

        multipliers = layer_decay_multipliers(model, layer_decay)
    optimizer = AdamW(lr_multipliers=multipliers, **kwargs)
    optimizer.exclude_from_weight_decay(var_list=no_weight_decay(model, no_decay_patterns))
    return optimizer
