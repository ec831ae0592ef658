"""Every application at a size that builds, runs and converts in seconds, for the tests that
cover all of `kvit.applications.APPLICATIONS` (features, TFLite, fuzzing).

Applications are discovered, so a new family is covered without touching the tests; a family
whose smallest sensible input is not the default below says so in `_image_size`. Families with
a `depth` in their preset (ViT, DeiT) are cut to `FAST_DEPTH` blocks unless `full_depth`.
"""

from kvit import applications

NAMES = sorted(applications.APPLICATIONS)
FAST_DEPTH = 1
DEFAULT_IMAGE_SIZE = 64


def config(name):
    return applications.PRESETS[name].get("config", {})


def image_size(name):
    """4x4 patches for a patch-based family, else 64x64 (stride 32: a 2x2 last map)."""
    patch_size = config(name).get("patch_size")
    return 4 * patch_size if patch_size else DEFAULT_IMAGE_SIZE


def depth_is_cut(name):
    depth = config(name).get("depth")
    return isinstance(depth, int) and depth > FAST_DEPTH


def small_application(name, full_depth=False, **kwargs):
    """The application `name` at `image_size(name)`, cut to `FAST_DEPTH` blocks unless `full_depth`."""
    size = image_size(name)
    if not full_depth and depth_is_cut(name):
        kwargs.setdefault("depth", FAST_DEPTH)
    kwargs.setdefault("input_shape", (size, size, 3))
    return applications.get(name, **kwargs)
