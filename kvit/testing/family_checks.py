"""The checks each model family's tests run, in the spirit of keras-hub's `run_backbone_test`.

A family's test file builds small (or full-size) models and hands them here: parity with timm on
the same noised random weights loaded from a checkpoint file (logits and feature maps), the
`.keras` round trip, the feature levels, and the float32 TFLite conversion. Each check raises an
`AssertionError` on a mismatch.
"""

import copy
import json
import os
import tempfile

import keras
import numpy as np
from safetensors.numpy import save_file

from kvit.models import feature_extractor, feature_levels
from kvit.testing import oracle


def pixels(size, batch=1, channels=3, seed=0):
    """Random images of `size` (height, width): float32 pixels in [0, 255], `(batch, height, width, channels)`."""
    return np.random.default_rng(seed).uniform(0.0, 255.0, (batch, *size, channels)).astype("float32")


def normalize(images, mean, std):
    """[0, 255] pixels as timm's transforms hand them to its models: `(images / 255 - mean) / std`."""
    return ((images / 255.0 - np.array(mean)) / np.array(std)).astype("float32")


def predict(model, x):
    """`model`'s inference outputs on `x` as NumPy (a list of them for several outputs).

    TensorFlow runs a single batch fastest eagerly; JAX compiles one graph faster than its ops one
    by one, and PyTorch needs predict's no_grad.
    """
    if keras.backend.backend() == "tensorflow":
        outputs = model(x, training=False)
    else:
        outputs = model.predict_on_batch(x)
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    return keras.ops.convert_to_numpy(outputs)


def timm_checkpoint(directory, timm_name, **timm_kwargs):
    """timm's `timm_name` with noised random weights (`oracle.create_timm_model`, `timm_kwargs`),
    and its state dict saved as `<directory>/<timm_name>.safetensors`.

    Returns the timm model, its state dict (NumPy) and the file's path.
    """
    model, state = oracle.create_timm_model(timm_name, **timm_kwargs)
    path = os.path.join(directory, f"{timm_name}.safetensors")
    save_file(state, path)
    return model, state, path


def check_timm_parity(
    build, timm_model, *, mean, std, levels=None, atol=1e-4, batch=1, timm_reference=None,
    timm_rounding=False, **timm_kwargs,
):
    """Checks a kvit model that loads timm's checkpoint against timm, on the same random weights.

    The timm model's state dict is saved as a `.safetensors` file, `build(weights=path)` builds the
    kvit model from it, and both run on the same random [0, 255] pixels: kvit's model takes them
    as they are (it carries its own preprocessing), timm's `normalize`d with `mean` and `std`.

    Args:
        build: a function `build(weights=path) -> keras.Model`, e.g. an application with its
            `input_shape` and `classifier_activation=None` bound; the model's input size is the test's.
        timm_model: a timm model name (built with noised weights, `oracle.create_timm_model`, and
            `timm_kwargs`), or a timm model with its weights.
        mean, std: timm's normalisation of the pixels.
        levels: the feature levels the kvit model's `feature_extractor` must return, in order,
            each held against timm's `forward_intermediates` map of the same index; None checks
            the logits only.
        atol: the logits' tolerance; a map's is `atol` times its largest value (at least 1):
            deep maps grow large with random weights, and float32 rounding grows with them.
        batch: the number of images.
        timm_reference: a function `timm_reference(path) -> timm model` that builds the timm model
            to compare with from the checkpoint file (e.g. timm's own resizing of it); by default
            the checkpoint's own model.
        timm_rounding: a map can be more sensitive to float32 rounding than the logits (pooling
            averages it out), e.g. where a linear attention's normaliser hangs on rounding. With
            this, an element outside a map's tolerance is held instead to that tolerance plus four
            times timm's own float32 error there, measured against timm in float64.

    Returns the kvit model. Prints the largest errors (`pytest -s` shows them).
    """
    with tempfile.TemporaryDirectory() as directory:
        if isinstance(timm_model, str):
            timm_name = timm_model
            timm_model, _, path = timm_checkpoint(directory, timm_name, **timm_kwargs)
        else:
            timm_name = type(timm_model).__name__
            path = os.path.join(directory, "timm.safetensors")
            save_file(oracle.numpy_state(timm_model), path)
        model = build(weights=path)
        if timm_reference is not None:
            timm_model = timm_reference(path)
    x = pixels(model.input_shape[1:3], batch=batch, channels=model.input_shape[3])
    if levels is None:
        logits, maps = predict(model, x), []
    else:
        features = feature_extractor(model).output
        assert list(features) == list(levels), (list(features), levels)
        logits, *maps = predict(keras.Model(model.input, [model.output, *features.values()]), x)
    images = normalize(x, mean, std)
    expected_logits, expected_maps = _timm_outputs(timm_model, images, levels is not None)
    errors = {"logits": np.abs(logits - expected_logits).max()}
    np.testing.assert_allclose(logits, expected_logits, atol=atol, rtol=0)
    assert len(maps) == len(expected_maps), (len(maps), len(expected_maps))
    exact_maps = None
    for index, (level, output, reference) in enumerate(zip(levels or (), maps, expected_maps)):
        tolerance = atol * max(1.0, np.abs(reference).max())
        errors[level] = np.abs(output - reference).max()
        if errors[level] <= tolerance:
            continue
        if not timm_rounding:
            np.testing.assert_allclose(output, reference, atol=tolerance, rtol=0, err_msg=level)  # raises
        if exact_maps is None:
            exact_maps = _timm_outputs(copy.deepcopy(timm_model).double(), images.astype("float64"), True)[1]
        truth = exact_maps[index]
        assert np.all(np.abs(output - truth) <= tolerance + 4 * np.abs(reference - truth)), level
    print(
        f"{model.name} vs timm {timm_name} at {x.shape[1]}x{x.shape[2]}, {keras.backend.backend()}: max error "
        + ", ".join(f"{name} {error:.1e}" for name, error in errors.items())
    )
    return model


def _timm_outputs(timm_model, images, with_maps):
    """timm's logits and, `with_maps`, its `forward_intermediates` maps (channels-last) on `images`."""
    import torch

    if not with_maps:
        return oracle.run_timm(timm_model, images), []
    with torch.no_grad():
        final, maps = timm_model.forward_intermediates(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
        logits = timm_model.forward_head(final).numpy()
    return logits, [m.numpy().transpose(0, 2, 3, 1) for m in maps]


def check_keras_round_trip(model, x, *, atol=1e-6):
    """Saves `model` as `.keras`, loads it back with `safe_mode=True`, and checks that the loaded
    model has the same config and, on `x`, the same outputs within `atol`.

    `model` may be a list of models (of distinct names) that all take `x`: they and their loaded
    copies run in one graph, which JAX compiles once. Give the models weights away from their
    initial values (`oracle.noise_weights`), so that a weight the file skips shows.

    Returns the original model's outputs on `x` (a list of them for a list of models).
    """
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    images = keras.Input(x.shape[1:])
    outputs = []
    with tempfile.TemporaryDirectory() as directory:
        for original in models:
            path = os.path.join(directory, f"{original.name}.keras")
            original.save(path)
            loaded = keras.saving.load_model(path, safe_mode=True)
            assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(original.get_config(), sort_keys=True)
            loaded.name = f"{original.name}_loaded"
            outputs += [original(images), loaded(images)]
    results = predict(keras.Model(images, outputs), x)
    for index, original in enumerate(models):
        np.testing.assert_allclose(results[2 * index + 1], results[2 * index], atol=atol, err_msg=original.name)
    return results[0::2] if isinstance(model, (list, tuple)) else results[0]


def check_feature_levels(model, shapes, strides):
    """Checks `model`'s feature levels: `shapes` maps every level `kvit.models.feature_levels` names
    to its output shape `(None, height, width, channels)`, and `strides` each level of
    `feature_extractor`'s default, in order, to its stride. Returns the extractor.
    """
    levels, default = feature_levels(model)
    assert {name: tuple(level.output.shape) for name, level in levels.items()} == shapes
    extractor = feature_extractor(model)
    assert list(extractor.output) == default == list(strides), (list(extractor.output), default)
    assert {name: tuple(output.shape) for name, output in extractor.output.items()} == {k: shapes[k] for k in default}
    assert extractor.feature_strides == strides
    return extractor


def check_tflite(model, x, *, atol=1e-4):
    """Converts `model` to a float32 `.tflite` (`kvit.tflite.convert`) and checks it: TFLite
    builtin ops only, every RESHAPE and TRANSPOSE at rank 4 or below, and LiteRT's outputs on `x`
    within `atol` of Keras'.

    Returns the graph (`kvit.tflite.inspect_model`) and the `kvit.tflite.Interpreter`.
    """
    from kvit import tflite

    content = tflite.convert(model)
    graph = tflite.inspect_model(content)
    assert not graph.custom_operators()
    for op in graph.operators:
        if op.type in ("TRANSPOSE", "RESHAPE"):
            assert max(len(t.shape) for t in op.inputs + op.outputs) <= 4, op
    interpreter = tflite.Interpreter(content)
    np.testing.assert_allclose(interpreter(x), predict(model, x), atol=atol, rtol=0)
    return graph, interpreter
