"""timm, the numerical oracle of the parity tests, imported without torchvision.

timm imports a few torchvision names at import time, but the torchvision wheel that pip resolves
here is CUDA-only and raises when imported (and breaks transformers with it). So timm is installed
with `--no-deps`, and while it is imported, stand-in modules answer for torchvision; they are
removed again afterwards so that nothing else mistakes them for the real package.
"""

import importlib.machinery
import sys
import types

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


def create_timm_model(name, seed=0, **kwargs):
    """A timm model with random weights in eval mode, and its state dict as NumPy arrays.

    Every float tensor gets noise on top of timm's initialisation (norm scales and biases, running
    statistics, position embeddings included), so that a wrong epsilon, a swapped gamma/beta or a
    stale running mean shows up in the outputs.
    """
    import torch

    timm = import_timm()
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **kwargs).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.05)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return model, state


def run_timm(model, images):
    """Runs a timm model on channels-last float images, returning NumPy outputs."""
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
    return out.numpy()
