"""What the fuzzer knows of each family: one `Family` entry per builder, in `FAMILIES`.

An entry gives the builder, a strategy of valid arguments (small: each draw builds and runs in a
second, and on JAX every new weight shape compiles, so sizes come from short lists), the invalid
values of each argument, and the documented shape of the last feature map. A family with a new
builder adds one entry; the tests read the table and cover it, builders and applications both
(`tests/fuzz/test_builders.py`, `tests/fuzz/test_applications.py`).
"""

import dataclasses
import math
from typing import Callable

from hypothesis import strategies as st

import kvit

RATES = st.sampled_from((0.0, 0.1, 0.5))
NAN, INF = float("nan"), float("inf")

# Invalid values of the arguments every builder takes (the keras.applications head and the
# preprocessing). A callable is called with the valid arguments it replaces one of.
HEAD_INVALID = {
    "input_shape": ((0, 16, 3), (16, 16), (16, 16, 0), (16, -16, 3), (16.0, 16, 3), "16", None, 16),
    "include_top": ("yes", 1, None),
    "pooling": ("mean", "AVG", 1, False),
    "classes": (0, -1, 2.5, "10", None, True),
    "classifier_activation": ("no_such_activation", 3),
    "include_preprocessing": ("yes", 0, None),
    "mean": ((), "abc", 0.5, (0.5, NAN, 0.5)),
    "std": ((0.5, 0.0, 0.5), (-1.0, 1.0, 1.0), (), (1.0, INF, 1.0)),
}
# What an invalid value needs of the other arguments to be read at all.
REQUIRES = {
    "classes": dict(include_top=True),
    "classifier_activation": dict(include_top=True),
    "mean": dict(include_preprocessing=True),
    "std": dict(include_preprocessing=True),
}


@st.composite
def head_arguments(draw):
    include_top = draw(st.booleans())
    return dict(
        include_top=include_top,
        pooling=draw(st.sampled_from((None, "avg", "max"))),
        classes=draw(st.sampled_from((1, 3, 5))),
        classifier_activation=draw(st.sampled_from((None, "softmax", "sigmoid"))),
        include_preprocessing=draw(st.booleans()),
    )


@dataclasses.dataclass(frozen=True)
class Family:
    """How to fuzz one builder.

    Attributes:
        builder: the `kvit.models` builder.
        valid: strategy of keyword arguments that must build, run and round-trip.
        invalid: `{argument: values}`, each refused with a ValueError/TypeError naming the
            argument, whatever the other (valid) arguments; a value may be a callable of them.
        feature_map: `(arguments, (height, width)) -> (height, width, channels)`, the documented
            last feature map for an image of that size (what `include_top=False` returns).
    """

    builder: Callable
    valid: st.SearchStrategy
    invalid: dict
    feature_map: Callable

    def invalid_values(self):
        """`HEAD_INVALID` and the family's own, the values of an argument both list joined."""
        names = {**HEAD_INVALID, **self.invalid}
        return {name: HEAD_INVALID.get(name, ()) + self.invalid.get(name, ()) for name in names}


# ViT / DeiT ----------------------------------------------------------------------------------


@st.composite
def vit_arguments(draw):
    patch_size = draw(st.sampled_from((2, 4, 8)))
    num_heads = draw(st.sampled_from((1, 2)))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(
        input_shape=(rows * patch_size, cols * patch_size, draw(st.sampled_from((1, 3)))),
        patch_size=patch_size,
        width=num_heads * draw(st.sampled_from((4, 8))),
        depth=draw(st.integers(1, 2)),
        num_heads=num_heads,
        mlp_ratio=draw(st.sampled_from((0.5, 1.0, 2.0))),
        qkv_bias=draw(st.booleans()),
        global_pool=draw(st.sampled_from(("token", "avg"))),
        distilled=draw(st.booleans()),
        drop_path_rate=draw(RATES),
        dropout_rate=draw(RATES),
        **draw(head_arguments()),
    )


def vit_feature_map(arguments, size):
    patch = arguments["patch_size"]
    return size[0] // patch, size[1] // patch, arguments["width"]


VIT = Family(
    builder=kvit.models.ViT,
    valid=vit_arguments(),
    invalid={
        "input_shape": (lambda a: (a["patch_size"] + 1, a["patch_size"], 3), (None, None, 3)),
        "patch_size": (0, -2, 2.5, "4", None, True),
        "width": (0, -8, 8.0, "8", None),
        "depth": (0, -1, 1.5, None),
        "num_heads": (0, -1, 1.5, None, lambda a: a["width"] + 1),
        "mlp_ratio": (0, -1.0, NAN, INF, "2", None, 1e-3),
        "qkv_bias": ("yes", 1, None),
        "global_pool": ("max", None, 0),
        "distilled": ("no", 0),
        "drop_path_rate": (-0.1, 1.0, 2, "0.1", NAN, None),
        "dropout_rate": (-0.1, 1.0, NAN),
    },
    feature_map=vit_feature_map,
)

# MobileViT and MobileViTv2 ---------------------------------------------------------------------

IMAGE_SIDES = st.sampled_from((8, 13, 16, 32))


@st.composite
def mobilevit_arguments(draw):
    stages = draw(st.integers(2, 4))
    transformer_stages = draw(st.integers(1, min(3, stages)))
    num_heads = draw(st.sampled_from((1, 2)))
    side = draw(st.one_of(IMAGE_SIDES, st.none()))
    return dict(
        input_shape=(side, None if side is None else draw(IMAGE_SIDES), draw(st.sampled_from((1, 3)))),
        stem_width=draw(st.sampled_from((8, 16))),
        widths=tuple(draw(st.sampled_from((8, 16))) for _ in range(stages)),
        depths=tuple(draw(st.integers(1, 2)) for _ in range(stages)),
        expansion_ratio=draw(st.sampled_from((1.0, 2.0))),
        transformer_widths=tuple(
            num_heads * draw(st.sampled_from((4, 8))) for _ in range(transformer_stages)
        ),
        transformer_depths=tuple(draw(st.integers(1, 2)) for _ in range(transformer_stages)),
        head_width=draw(st.sampled_from((0, 16))),
        num_heads=num_heads,
        patch_size=draw(st.sampled_from((1, 2, 3))),
        mlp_ratio=draw(st.sampled_from((1.0, 2.0))),
        drop_path_rate=draw(RATES),
        dropout_rate=draw(RATES),
        **draw(head_arguments()),
    )


def mobilevit_feature_map(arguments, size):
    # The stem halves the map, the first stage keeps it, every later one halves it (ceil).
    stride = 2 ** len(arguments["widths"])
    channels = arguments["head_width"] or arguments["widths"][-1]
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride), channels


MOBILEVIT_COMMON_INVALID = {
    "stem_width": (0, -1, 8.5, None),
    "widths": ((), (8, 0), (8, -8), "16", 16, None, (8.0, 16)),
    "depths": (lambda a: (0,) * len(a["widths"]), lambda a: (*a["depths"], 1), (), None),
    "expansion_ratio": (0, -1.0, NAN, None),
    "patch_size": (0, -1, 1.5, None),
    "mlp_ratio": (0, -1.0, 1e-3, None),
    "drop_path_rate": (-0.1, 1.0, NAN),
    "dropout_rate": (-0.1, 1.0, None),
}

MOBILEVIT = Family(
    builder=kvit.models.MobileViT,
    valid=mobilevit_arguments(),
    invalid={
        **MOBILEVIT_COMMON_INVALID,
        "transformer_widths": ((), (0,), (8.0,), lambda a: (*a["transformer_widths"], 8)),
        "transformer_depths": (lambda a: (0,) * len(a["transformer_widths"]), (), "2"),
        "head_width": (-1, 2.5, None),
        "num_heads": (0, -1, None, lambda a: max(a["transformer_widths"]) + 1),
    },
    feature_map=mobilevit_feature_map,
)


@st.composite
def mobilevit_v2_arguments(draw):
    stages = draw(st.integers(2, 4))
    side = draw(st.one_of(IMAGE_SIDES, st.none()))
    return dict(
        input_shape=(side, None if side is None else draw(IMAGE_SIDES), draw(st.sampled_from((1, 3)))),
        stem_width=draw(st.sampled_from((8, 16))),
        widths=tuple(draw(st.sampled_from((16, 32))) for _ in range(stages)),
        depths=tuple(draw(st.integers(1, 2)) for _ in range(stages)),
        expansion_ratio=draw(st.sampled_from((1.0, 2.0))),
        transformer_depths=tuple(
            draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, min(3, stages))))
        ),
        transformer_ratio=draw(st.sampled_from((0.25, 0.5, 1.0))),
        patch_size=draw(st.sampled_from((1, 2, 3))),
        mlp_ratio=draw(st.sampled_from((1.0, 2.0))),
        drop_path_rate=draw(RATES),
        dropout_rate=draw(RATES),
        **draw(head_arguments()),
    )


def mobilevit_v2_feature_map(arguments, size):
    # As MobileViT, except that each MobileViTv2 block rounds its map up to a multiple of the patch.
    patch = arguments["patch_size"]
    first_block = len(arguments["widths"]) - len(arguments["transformer_depths"])
    sides = [math.ceil(s / 2) for s in size]
    for stage in range(len(arguments["widths"])):
        if stage > 0:
            sides = [math.ceil(s / 2) for s in sides]
        if stage >= first_block:
            sides = [math.ceil(s / patch) * patch for s in sides]
    return sides[0], sides[1], arguments["widths"][-1]


MOBILEVIT_V2 = Family(
    builder=kvit.models.MobileViTV2,
    valid=mobilevit_v2_arguments(),
    invalid={
        **MOBILEVIT_COMMON_INVALID,
        "transformer_depths": ((0,), (), lambda a: (1,) * (len(a["widths"]) + 1), "2"),
        "transformer_ratio": (0, -0.5, NAN, None),
    },
    feature_map=mobilevit_v2_feature_map,
)

# Swin Transformer V1 and V2 -------------------------------------------------------------------


@st.composite
def swin_arguments(draw):
    stages = draw(st.integers(1, 3))
    patch_size = draw(st.sampled_from((1, 2, 4)))
    window_size = draw(st.sampled_from((2, 3, (2, 3))))
    return dict(
        # Static sizes only (Swin's masks are built for one); not multiples of the window or of 2.
        input_shape=(
            patch_size * draw(st.sampled_from((2, 3, 5, 8))),
            patch_size * draw(st.sampled_from((2, 4, 7))) + draw(st.integers(0, patch_size - 1)),
            draw(st.sampled_from((1, 3))),
        ),
        patch_size=patch_size,
        embed_dim=draw(st.sampled_from((4, 8))),
        depths=tuple(draw(st.integers(1, 2)) for _ in range(stages)),
        num_heads=tuple(draw(st.sampled_from((1, 2))) for _ in range(stages)),
        window_size=window_size,
        mlp_ratio=draw(st.sampled_from((0.5, 1.0, 2.0))),
        qkv_bias=draw(st.booleans()),
        drop_path_rate=draw(RATES),
        dropout_rate=draw(RATES),
        **draw(head_arguments()),
    )


@st.composite
def swin_v2_arguments(draw):
    arguments = draw(swin_arguments())
    windows = st.sampled_from((0, 2, 4))
    pretrained = draw(st.one_of(st.none(), st.tuples(*[windows] * len(arguments["depths"]))))
    return {**arguments, "pretrained_window_sizes": pretrained}


def swin_feature_map(arguments, size):
    # The patch embedding drops a remainder smaller than a patch; each later stage halves (ceil).
    sides = [s // arguments["patch_size"] for s in size]
    for _ in arguments["depths"][1:]:
        sides = [math.ceil(s / 2) for s in sides]
    return sides[0], sides[1], arguments["embed_dim"] * 2 ** (len(arguments["depths"]) - 1)


SWIN_INVALID = {
    "input_shape": ((None, None, 3), (None, 16, 3), lambda a: (a["patch_size"] - 1 or 0, 16, 3)),
    "patch_size": (0, -4, 2.5, "4", None, True, lambda a: min(a["input_shape"][:2]) + 1),
    "embed_dim": (0, -8, 8.0, None),
    "depths": ((), (0,), (1, -1), "2", None, lambda a: (*a["depths"], 1)),
    "num_heads": ((), (0,), (1.5,), None, lambda a: (a["embed_dim"] + 1,) * len(a["depths"])),
    "window_size": (0, -1, 2.5, (2,), (2, 2, 2), (0, 2), "7", None),
    "mlp_ratio": (0, -1.0, NAN, INF, None, 1e-3),
    "qkv_bias": ("yes", 1, None),
    "drop_path_rate": (-0.1, 1.0, NAN, None),
    "dropout_rate": (-0.1, 1.0, "0"),
}

SWIN = Family(
    builder=kvit.models.SwinTransformer,
    valid=swin_arguments(),
    invalid=SWIN_INVALID,
    feature_map=swin_feature_map,
)

SWIN_V2 = Family(
    builder=kvit.models.SwinTransformerV2,
    valid=swin_v2_arguments(),
    invalid={
        **SWIN_INVALID,
        "pretrained_window_sizes": ((), (-1,), "8", 8, lambda a: (0,) * (len(a["depths"]) + 1), (1.5,)),
    },
    feature_map=swin_feature_map,
)

# EfficientViT (MIT), B and L series -----------------------------------------------------------


@st.composite
def efficientvit_arguments(draw):
    series = draw(st.sampled_from(("b", "l")))
    side = draw(st.one_of(IMAGE_SIDES, st.none()))
    first_stage_depth = 1 if series == "b" else 0  # a B stage needs its stride-2 MBConv
    return dict(
        input_shape=(side, None if side is None else draw(IMAGE_SIDES), draw(st.sampled_from((1, 3)))),
        series=series,
        widths=tuple(draw(st.sampled_from((8, 16))) for _ in range(5)),
        depths=(draw(st.integers(0, 1)), *(draw(st.integers(first_stage_depth, 2)) for _ in range(4))),
        head_dim=draw(st.sampled_from((4, 8))),
        head_widths=(draw(st.sampled_from((8, 16))), draw(st.sampled_from((8, 16)))),
        drop_path_rate=draw(RATES),
        dropout_rate=draw(RATES),
        **draw(head_arguments()),
    )


def efficientvit_feature_map(arguments, size):
    # The stem and each of the four stages halve the map (3x3 stride-2 convolutions, ceil).
    sides = list(size)
    for _ in range(5):
        sides = [math.ceil(s / 2) for s in sides]
    return sides[0], sides[1], arguments["widths"][-1]


EFFICIENTVIT = Family(
    builder=kvit.models.EfficientViT,
    valid=efficientvit_arguments(),
    invalid={
        "series": ("m", "B", None, 1),
        "widths": ((), (8,) * 4, (8, 0, 8, 8, 8), (8.0,) * 5, "16", 16, None),
        "depths": ((), (1,) * 4, (1, -1, 1, 1, 1), (1.0,) * 5, "2", None),
        "head_dim": (0, -1, 1.5, None, True, lambda a: a["widths"][-1] + 1),
        "head_widths": ((), (8,), (8, 0), (8, 8, 8), "8", None),
        "drop_path_rate": (-0.1, 1.0, NAN, None),
        "dropout_rate": (-0.1, 1.0, "0"),
    },
    feature_map=efficientvit_feature_map,
)

FAMILIES = {
    family.builder: family for family in (VIT, MOBILEVIT, MOBILEVIT_V2, SWIN, SWIN_V2, EFFICIENTVIT)
}


def family_of(builder):
    """The entry of `builder`; a builder without one fails the test that asks for it."""
    if builder not in FAMILIES:
        raise AssertionError(f"Add a `Family` entry for {builder.__name__} to tests/fuzz/families.py.")
    return FAMILIES[builder]
