"""Fuzzing the builders of `families.FAMILIES` with valid, invalid and arbitrary arguments.

Valid arguments build a model whose outputs on random, all-0 and all-255 images of any batch size
and input dtype are finite and of the documented shape, and whose `.keras` file loads back to the
same outputs. Every invalid value is refused with a ValueError/TypeError naming its argument. An
arbitrary value in one to three arguments does one or the other, never anything else.
"""

import keras
import pytest
from families import FAMILIES, REQUIRES
from fuzzing import assert_names_argument, case, check_model, examples, expected_output_shape, images_for
from hypothesis import given
from hypothesis import strategies as st

IMAGE_SIDES = (8, 13, 16)
# Anything a user might pass: numbers of every sign and kind, None, bools, strings, tuples.
ANYTHING = st.one_of(
    st.integers(-3, 12),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.none(),
    st.booleans(),
    st.sampled_from(("", "avg", "max", "token", "softmax", "8")),
    st.tuples(st.integers(-2, 12)),
    st.tuples(st.integers(-2, 12), st.integers(-2, 12)),
    st.tuples(st.integers(-2, 12), st.integers(-2, 12), st.integers(-2, 12)),
)
FAMILY_IDS = [builder.__name__ for builder in FAMILIES]


def _run(family, model, arguments, data):
    height, width, channels = arguments["input_shape"]
    size = tuple(side or data.draw(st.sampled_from(IMAGE_SIDES)) for side in (height, width))
    images = images_for(data, (*size, channels))
    expected = expected_output_shape(arguments, family.feature_map(arguments, size), len(images))
    check_model(model, images, expected)


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILY_IDS)
@examples(ci=2, fuzz=80)
@given(data=st.data())
def test_valid_arguments_build_run_and_round_trip(family, data):
    arguments = data.draw(family.valid, label="arguments")
    with case(f"valid {family.builder.__name__}"):
        keras.utils.clear_session()
        _run(family, family.builder(**arguments), arguments, data)


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILY_IDS)
@examples(ci=6, fuzz=150)
@given(data=st.data())
def test_invalid_values_are_refused_by_name(family, data):
    arguments = data.draw(family.valid, label="arguments")
    invalid = family.invalid_values()
    name = data.draw(st.sampled_from(sorted(invalid)), label="argument")
    value = data.draw(st.sampled_from(invalid[name]), label="value")
    if callable(value):
        value = value(arguments)
    arguments = {**arguments, **REQUIRES.get(name, {}), name: value}
    with case(f"invalid {family.builder.__name__}"):
        with pytest.raises(Exception) as error:
            family.builder(**arguments)
        assert_names_argument(error.value, [name])


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILY_IDS)
@examples(ci=3, fuzz=150)
@given(data=st.data())
def test_arbitrary_values_work_or_are_refused_by_name(family, data):
    arguments = data.draw(family.valid, label="arguments")
    names = data.draw(st.lists(st.sampled_from(sorted(arguments)), min_size=1, max_size=3, unique=True))
    arguments = {**arguments, **{name: data.draw(ANYTHING, label=name) for name in names}}
    with case(f"arbitrary {family.builder.__name__}"):
        keras.utils.clear_session()
        try:
            model = family.builder(**arguments)
        except Exception as error:  # the assertion says which kinds may be raised
            assert_names_argument(error, names)
            return
        _run(family, model, arguments, data)
