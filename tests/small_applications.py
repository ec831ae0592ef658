"""Every application at a size that builds, runs and converts in seconds, for the tests that
cover every classification application (features, TFLite, fuzzing).

Applications are discovered, so a new family is covered without touching the tests; a family
whose smallest sensible input is not the default below says so in `_image_size`. Families with
a `depth` in their preset (ViT, DeiT) are cut to `FAST_DEPTH` blocks unless `full_depth`, those
with per-stage `depths` to `FAST_DEPTH` blocks per stage; Swin and EfficientViT get the narrower
arguments of `small_config`.
"""

from kvit import applications

NAMES = applications.names("image_classification")
FAST_DEPTH = 1
DEFAULT_IMAGE_SIZE = 64


def config(name):
    return applications.PRESETS[name].get("config", {})


def small_config(name, full_depth=False):
    """Builder arguments of the small build beyond the size, for families that need them."""
    if name.startswith("EfficientViT"):
        # Narrow too: TFLite's int8 calibrator runs LiteRT's builtin float kernels, on which
        # EfficientViT-L1 at its own widths takes minutes even at 64x64 (XNNPACK: milliseconds).
        cut = dict(widths=(8, 16, 32, 64, 128), head_dim=16, head_widths=(64, 64))
        return cut if full_depth else dict(cut, depths=(FAST_DEPTH,) * len(config(name)["depths"]))
    if not name.startswith("Swin"):
        depths = config(name).get("depths")
        return {} if depths is None or full_depth else dict(depths=(FAST_DEPTH,) * len(depths))
    # Windows of 3 on the 16x16 patches of 64x64: every stage pads, the first shifts and masks,
    # the last shrinks its window to 2x2. Cut: one block in each later stage, heads of width 8.
    if full_depth:
        return dict(window_size=3)
    return dict(window_size=3, depths=(2, 1, 1, 1), embed_dim=8 * config(name)["num_heads"][0])


def family_representatives():
    """The first application of each family builder (`constructor.builder`): at the small size the
    variants of one builder differ only in widths, so a test that would repeat one graph per
    variant runs these."""
    firsts = {}
    for name in NAMES:
        firsts.setdefault(applications.APPLICATIONS[name].builder, name)
    return sorted(firsts.values())


def image_size(name):
    """4x4 patches for a flat patch-based family, else 64x64 (stride 32: a 2x2 last map)."""
    patch_size = config(name).get("patch_size")
    return 4 * patch_size if patch_size and not small_config(name) else DEFAULT_IMAGE_SIZE


def depth_is_cut(name):
    depth = config(name).get("depth")
    return isinstance(depth, int) and depth > FAST_DEPTH or small_config(name) != small_config(name, True)


def small_application(name, full_depth=False, **kwargs):
    """The application `name` at `image_size(name)`, cut to `FAST_DEPTH` blocks unless `full_depth`."""
    size = image_size(name)
    if not full_depth and "depth" in config(name) and depth_is_cut(name):
        kwargs.setdefault("depth", FAST_DEPTH)
    kwargs = {**small_config(name, full_depth), "input_shape": (size, size, 3), **kwargs}
    return applications.get(name, **kwargs)
