"""Numerics under stress: every family stays finite on all-0 and all-255 images, in float32 and
under the mixed-precision policies, and its norms' epsilons are timm's.
"""

import keras
import numpy as np
import pytest
from small_applications import family_representatives, image_size, small_application

from kvit import applications
from kvit.testing import import_timm, noise_weights

# One application per builder: the others differ in sizes only.
FAMILY_NAMES = family_representatives()


def extreme_images(size, channels=3):
    """One all-0 and one all-255 image."""
    return np.stack([np.zeros((size, size, channels)), np.full((size, size, channels), 255.0)]).astype("float32")


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_family_is_finite_at_0_and_255(name):
    size = image_size(name)
    for include_preprocessing in (True, False):
        model = noise_weights(small_application(name, classes=10, include_preprocessing=include_preprocessing))
        # Compiled: an eager call on JAX compiles each op of a fresh model on its own (7x slower).
        outputs = model.predict_on_batch(extreme_images(size))
        assert np.isfinite(outputs).all(), (name, include_preprocessing)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_family_is_finite_under_mixed_precision(name, policy):
    size = image_size(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = noise_weights(small_application(name, classes=10, classifier_activation="softmax"))
        outputs = model.predict_on_batch(extreme_images(size))
    finally:
        keras.config.set_dtype_policy(previous)
    assert outputs.dtype == np.float32  # the final softmax runs in float32
    assert np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs.sum(-1), 1.0, atol=1e-3)


def _kvit_epsilons(model):
    return sorted({float(layer.epsilon) for layer in model._flatten_layers() if hasattr(layer, "epsilon")})


def _timm_epsilons(name):
    timm = import_timm()
    reference = timm.create_model(applications.PRESETS[name]["hub_id"].removeprefix("timm/"), pretrained=False)
    return sorted({float(module.eps) for module in reference.modules() if hasattr(module, "eps")})


@pytest.mark.once
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_norm_epsilons_are_timms(name):
    np.testing.assert_allclose(_kvit_epsilons(small_application(name)), _timm_epsilons(name), rtol=1e-6)
