"""Checks of builder arguments: a bad value gets a ValueError that names the argument.

Each check returns the value in the form the builder uses (a plain `int`, `float` or `tuple`),
so `width = check_int("width", width)` both checks and normalises. NumPy scalars pass as numbers;
bools do not pass as numbers, nor numbers as bools.
"""

import numbers

import numpy as np


def is_int(value):
    """Whether `value` is an int (a NumPy one too), and not a bool."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """Whether `value` is a real number (a NumPy one too), and not a bool."""
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name, value, minimum=1):
    """`value` as an int of at least `minimum`."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value!r}.")
    return int(value)


def check_ints(name, values):
    """`values` as a non-empty tuple of positive ints."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or not len(values):
        raise ValueError(f"`{name}` must be a non-empty tuple of positive ints, got {values!r}.")
    if not all(is_int(v) and v >= 1 for v in values):
        raise ValueError(f"`{name}` must hold positive ints, got {tuple(values)!r}.")
    return tuple(int(v) for v in values)


def check_float(name, value):
    """`value` as a finite float > 0."""
    if not is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"`{name}` must be a finite number > 0, got {value!r}.")
    return float(value)


def check_rate(name, value):
    """`value` as a dropout-style rate in [0, 1)."""
    if not is_number(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1), got {value!r}.")
    return float(value)


def check_bool(name, value):
    """`value` as a bool (a NumPy bool passes; 0, 1 and strings do not)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


def check_choice(name, value, choices):
    """`value` if it is one of `choices`."""
    if not any(value is choice or (type(value) is type(choice) and value == choice) for choice in choices):
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")
    return value
