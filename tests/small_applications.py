"""Every application at a size that builds, runs and converts in seconds, for the tests that
cover all of `kvit.applications.APPLICATIONS` (features, TFLite, fuzzing).

Applications are discovered, so a new family is covered without touching the tests; a family
whose smallest sensible input is not the default below says so in `_image_size`. Families with
a `depth` in their preset (ViT, DeiT) are cut to `FAST_DEPTH` blocks unless `full_depth`, and
those with per-stage `depths` (EfficientViT) to `FAST_DEPTH` blocks per stage.
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
    depth, depths = config(name).get("depth"), config(name).get("depths")
    return (isinstance(depth, int) and depth > FAST_DEPTH) or (depths is not None and max(depths) > FAST_DEPTH)


def small_application(name, full_depth=False, **kwargs):
    """The application `name` at `image_size(name)`, cut to `FAST_DEPTH` blocks unless `full_depth`."""
    size = image_size(name)
    if not full_depth and depth_is_cut(name):
        depths = config(name).get("depths")
        if depths is None:
            kwargs.setdefault("depth", FAST_DEPTH)
        else:
            kwargs.setdefault("depths", (FAST_DEPTH,) * len(depths))
    kwargs.setdefault("input_shape", (size, size, 3))
    return applications.get(name, **kwargs)
