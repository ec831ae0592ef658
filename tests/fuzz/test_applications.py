"""Fuzzing every application of `kvit.applications.APPLICATIONS` (through `small_applications`).

Random input shapes, batch sizes, input dtypes and `include_top`/`pooling`/`classes`/
`classifier_activation`/`include_preprocessing` combinations build a model whose outputs are
finite, of the documented shape (its family's entry in `families.FAMILIES` says what the last
feature map is), and the same after a `.keras` round trip; invalid arguments are refused with a
ValueError/TypeError naming them.
"""

import inspect

import keras
import numpy as np
import pytest
from families import family_of, head_arguments
from fuzzing import assert_names_argument, case, check_model, examples, expected_output_shape, images_for
from hypothesis import given
from hypothesis import strategies as st
from small_applications import NAMES, config, image_size, small_application, small_config

from kvit import applications

INVALID = {
    "weights": (3, b"weights.h5", "no_such_file.weights.h5", "weights.npz", ["imagenet"]),
    "input_shape": ((0, 64, 3), (64, 64), "64", 64, (64, 64, -3), (64.5, 64, 3)),
    "input_tensor": (np.zeros((1, 64, 64, 3)), 5, "images"),
    "include_top": ("yes", None),
    "pooling": ("mean", 2),
    "classes": (0, -5, 1.5, "3", None),
    "classifier_activation": ("no_such_activation", 1),
    "include_preprocessing": ("no", None),
    "no_such_argument": (1,),
}
REQUIRES = {"classes": dict(include_top=True), "classifier_activation": dict(include_top=True)}


def _resolved(name, arguments):
    """The builder arguments application `name` was built with: the builder's defaults, the preset's
    config, the small build's and the drawn ones."""
    parameters = inspect.signature(applications.APPLICATIONS[name].builder).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    return {**defaults, **config(name), **small_config(name), **arguments}


def _input_shape(data, name):
    """A random shape the application takes: multiples of the patch for patch families."""
    patch = config(name).get("patch_size")
    channels = data.draw(st.sampled_from((1, 3, 4)), label="channels")
    if patch:
        rows, cols = data.draw(st.integers(1, 4), label="rows"), data.draw(st.integers(1, 4), label="cols")
        return (rows * patch, cols * patch, channels)
    height = data.draw(st.sampled_from((32, 45, 64)), label="height")
    return (height, data.draw(st.sampled_from((32, 64)), label="width"), channels)


@pytest.mark.once
@examples(ci=4, fuzz=150)
@given(data=st.data())
def test_applications_take_any_valid_combination(data):
    name = data.draw(st.sampled_from(NAMES), label="name")
    family = family_of(applications.APPLICATIONS[name].builder)
    arguments = {**data.draw(head_arguments(), label="head"), "input_shape": _input_shape(data, name)}
    with case("valid application"):
        keras.utils.clear_session()
        model = small_application(name, **arguments)
        resolved = _resolved(name, arguments)
        images = images_for(data, arguments["input_shape"])
        feature_map = family.feature_map(resolved, arguments["input_shape"][:2])
        check_model(model, images, expected_output_shape(arguments, feature_map, len(images)))


@pytest.mark.once
@examples(ci=4, fuzz=150)
@given(data=st.data())
def test_applications_refuse_invalid_arguments_by_name(data):
    name = data.draw(st.sampled_from(NAMES), label="name")
    argument = data.draw(st.sampled_from(sorted(INVALID)), label="argument")
    value = data.draw(st.sampled_from(INVALID[argument]), label="value")
    size = image_size(name)
    arguments = {"input_shape": (size, size, 3), **REQUIRES.get(argument, {}), argument: value}
    with case("invalid application"):
        keras.utils.clear_session()
        with pytest.raises(Exception) as error:
            small_application(name, **arguments)
        assert_names_argument(error.value, [argument])
