"""timm, the numerical oracle of the tests and the anchor of the benchmarks, and random weights
with noise on every one of them.

timm imports a few torchvision names at import time, but the torchvision wheel that pip resolves
here is CUDA-only and raises when imported (and breaks transformers with it). So timm is installed
with `--no-deps`, and while it is imported, stand-in modules answer for torchvision; they are
removed again afterwards so that nothing else mistakes them for the real package.

Noise: a freshly initialised norm (scale 1, shift 0, mean 0, variance 1) is a constant that
TensorFlow's graph optimizer and the TFLite converter fold away, and a trained model has none.
Noise on every float weight, with running variances drawn from [0.5, 1.5), leaves nothing to fold,
and makes a wrong epsilon, a swapped scale and shift or a stale running mean show in the outputs.
"""

import importlib.machinery
import sys
import types

import keras
import numpy as np

_TORCHVISION_MODULES = (
    "torchvision",
    "torchvision.datasets",
    "torchvision.models",
    "torchvision.models.feature_extraction",
    "torchvision.ops",
    "torchvision.ops.misc",
    "torchvision.transforms",
    "torchvision.transforms.functional",
)
NOISE_STDDEV = 0.05


class _StandInClass(type):
    # Any attribute (e.g. `InterpolationMode.BILINEAR`) is another distinct stand-in.
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _StandInClass(f"{cls.__name__}.{name}", (), {})
        setattr(cls, name, value)
        return value


class _StandInModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _StandInClass(name, (), {})
        setattr(self, name, value)
        return value


def import_timm():
    """The `timm` module, imported with stand-ins for torchvision."""
    if "timm" in sys.modules:
        return sys.modules["timm"]
    for name in _TORCHVISION_MODULES:
        module = _StandInModule(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        module.__path__ = []
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    try:
        import timm
        import timm.models  # noqa: F401
    finally:
        for name in _TORCHVISION_MODULES:
            sys.modules.pop(name, None)
    return timm


def noise_weights(model, seed=0, stddev=NOISE_STDDEV):
    """Puts noise on every float weight of a Keras model, in place, and returns the model.

    Each weight gets normal noise of `stddev` on its value (a norm's scale stays around 1), except
    running variances (`moving_variance`), drawn from [0.5, 1.5).
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if not str(variable.dtype).startswith("float"):
            continue
        value = keras.ops.convert_to_numpy(variable)
        if variable.path.endswith("moving_variance"):
            noised = rng.uniform(0.5, 1.5, value.shape)
        else:
            noised = value + rng.normal(0.0, stddev, value.shape)
        variable.assign(noised.astype(value.dtype))
    return model


def noise_torch_weights(module, seed=0, stddev=NOISE_STDDEV):
    """`noise_weights` for a torch module: every float tensor of its state dict (buffers included), in place."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in module.state_dict().items():
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape, generator=generator) * stddev)
    return module


def numpy_state(module):
    """A torch module's state dict as contiguous NumPy arrays."""
    return {key: tensor.detach().numpy().copy() for key, tensor in module.state_dict().items()}


def create_timm_model(name, seed=0, **kwargs):
    """timm's model `name` with noised random weights in eval mode, and its state dict as NumPy arrays.

    `kwargs` go to `timm.create_model` (e.g. `img_size`, `num_classes`).
    """
    import torch

    timm = import_timm()
    torch.manual_seed(seed)
    model = noise_torch_weights(timm.create_model(name, pretrained=False, **kwargs).eval(), seed + 1)
    return model, numpy_state(model)


def run_timm(model, images):
    """Runs a timm model on channels-last float images `(batch, height, width, channels)`; NumPy outputs."""
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
    return out.numpy()
