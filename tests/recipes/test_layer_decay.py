"""Layer-wise learning-rate decay on every family.

The depths follow from the variables' paths, which are the same on every backend, so the module
runs in the TensorFlow pass only; the optimizer that takes the multipliers is tested on each
backend in `tests/test_fast_paths.py`.
"""

import functools

import pytest

from kvit import models
from kvit.models import swin, vit
from kvit.recipes import layer_decay, optimizers

pytestmark = pytest.mark.once

DECAY = 0.65
VIT = dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2)
SWIN = dict(input_shape=(32, 32, 3), embed_dim=16, depths=(2, 2), num_heads=(1, 2), window_size=3, classes=5)
MOBILEVIT = dict(input_shape=(32, 32, 3), stem_width=8, widths=(8, 8, 16, 16, 16), depths=(1, 1, 1, 1, 1),
                 transformer_depths=(1, 1, 1), classes=3)
MOBILEVIT_V1 = dict(MOBILEVIT, transformer_widths=(16, 16, 16), head_width=16, num_heads=2)
EFFICIENTVIT = dict(input_shape=(32, 32, 3), widths=(8, 8, 16, 16, 32), depths=(1, 1, 1, 1, 1), head_dim=8,
                    head_widths=(32, 32), classes=10)

# Each family's small build, its first (stem) and last (top) layer, and its number of blocks.
FAMILIES = {
    "vit": (lambda: models.ViT(classes=5, **VIT), "patch_embed", "head", 2),
    "deit": (lambda: models.ViT(classes=5, distilled=True, **VIT), "patch_embed", "head_dist", 2),
    "swin": (lambda: models.SwinTransformer(**SWIN), "patch_embed", "head", 2 + 2),
    "swinv2": (lambda: models.SwinTransformerV2(**SWIN), "patch_embed", "head", 2 + 2),
    # Stages of 1, 1, 1 + MobileViT block, 1 + MobileViT block, 1 + MobileViT block.
    "mobilevit": (lambda: models.MobileViT(**MOBILEVIT_V1), "stem", "head", 8),
    "mobilevitv2": (lambda: models.MobileViTV2(**MOBILEVIT), "stem", "head", 8),
    # Stages of 1, 1, 1 + EfficientViT block, 1 + EfficientViT block (the L series names them alike).
    "efficientvit": (lambda: models.EfficientViT(**EFFICIENTVIT), "stem_in_conv", "head", 6),
    "mae_encoder": (lambda: models.ViT(include_top=False, **VIT), "patch_embed", "norm", 2),
    "mae_classifier": (
        lambda: models.mae_classifier(models.ViT(include_top=False, **VIT), classes=5), "patch_embed", "head", 2
    ),
}


@functools.cache
def small_model(family):
    return FAMILIES[family][0]()


def rates(multipliers, layer):
    return {scale for path, scale in multipliers.items() if path.startswith(f"{layer}/")}


@pytest.mark.parametrize("family", FAMILIES)
def test_multipliers_rise_block_by_block_from_the_stem_to_the_head(family):
    model = small_model(family)
    _, stem, top_layer, blocks = FAMILIES[family]
    depths, top = layer_decay.layer_depths(model)
    multipliers = layer_decay.layer_decay_multipliers(model, DECAY)
    in_graph_order = [multipliers[v.path] for v in model.trainable_variables]
    assert in_graph_order == sorted(in_graph_order)
    # Every block its own depth, between the stem's 0 and the top's.
    assert top == blocks + 1
    assert sorted(set(depths.values())) == list(range(top + 1))
    assert rates(multipliers, stem) == {min(in_graph_order)}
    assert min(in_graph_order) == pytest.approx(DECAY**top)
    assert rates(multipliers, top_layer) == {1.0}


@pytest.mark.parametrize("family", ["swin", "swinv2"])
def test_swin_patch_merging_learns_at_the_rate_of_the_stage_it_feeds(family):
    multipliers = layer_decay.layer_decay_multipliers(small_model(family), DECAY)
    (merging,) = rates(multipliers, "layers_1_downsample")
    assert rates(multipliers, "layers_1_blocks_0") == {merging}
    (before,) = rates(multipliers, "layers_0_blocks_1")
    (after,) = rates(multipliers, "layers_1_blocks_1")
    assert (before, after) == pytest.approx((merging * DECAY, merging / DECAY))


@pytest.mark.parametrize("family", FAMILIES)
def test_adamw_with_layer_decay_builds_for_every_family(family):
    model = small_model(family)
    optimizer = optimizers.adamw(model, 1e-3, layer_decay=DECAY)
    optimizer.build(model.trainable_variables)
    assert optimizer.lr_multipliers == layer_decay.layer_decay_multipliers(model, DECAY)
    assert set(optimizer.lr_multipliers) == {v.path for v in model.trainable_variables}


def test_block_pattern_groups_blocks_by_what_it_captures():
    model = small_model("swin")
    # No groups: the matched text names the block, here a whole stage (timm's coarse grouping).
    depths, top = layer_decay.layer_depths(model, block_pattern=r"^layers_\d+")
    assert top == 3
    assert depths["layers_1_downsample/reduction/kernel"] == depths["layers_1_blocks_1/attn/qkv/kernel"] == 2
    with pytest.raises(ValueError, match="between its blocks.*layers_1_downsample/"):
        layer_decay.layer_depths(model, block_pattern=r"^layers_(\d+)_blocks_(\d+)/")
    with pytest.raises(ValueError, match="block_pattern"):
        layer_decay.layer_depths(model, block_pattern=r"^nothing_\d+")
    with pytest.raises(ValueError, match="decay"):
        layer_decay.layer_decay_multipliers(model, 0.0)


def timm_layer_scales(reference, convert, decay):
    """`{kvit variable path: (timm's lr_scale, whether timm decays it)}` from timm's parameter groups."""
    from timm.optim import param_groups_layer_decay

    groups = param_groups_layer_decay(
        reference, weight_decay=0.05, no_weight_decay_list=reference.no_weight_decay(), layer_decay=decay
    )
    names = {id(p): n for n, p in reference.named_parameters()}
    scales = {}
    for group in groups:
        for parameter in group["params"]:
            (path,) = convert({names[id(parameter)]: parameter.detach().numpy()})
            scales[path] = group["lr_scale"], group["weight_decay"] > 0
    return scales


def test_layer_decay_and_weight_decay_match_timms_parameter_groups():
    from kvit.testing import import_timm

    timm = import_timm()
    depth, decay = 3, 0.6
    reference = timm.create_model("vit_tiny_patch16_224", depth=depth, img_size=32, num_classes=5)
    timm_groups = timm_layer_scales(reference, vit.convert_timm_checkpoint, decay)
    model = models.ViT(input_shape=(32, 32, 3), patch_size=16, width=192, depth=depth, num_heads=3, classes=5)
    ours = layer_decay.layer_decay_multipliers(model, decay)
    undecayed = {v.path for v in optimizers.no_weight_decay(model)}
    assert set(ours) == set(timm_groups)
    for path, scale in ours.items():
        timm_scale, timm_decays = timm_groups[path]
        # The final norm: timm groups it with the last block, MAE's lr_decay.py with the head (ours).
        assert scale == pytest.approx(1.0 if path.startswith("norm/") else timm_scale), path
        assert (path not in undecayed) == timm_decays, path
    assert ours["blocks_0/attn/qkv/kernel"] == pytest.approx(decay**depth)
    assert ours["patch_embed/proj/kernel"] == pytest.approx(decay ** (depth + 1))


@pytest.mark.parametrize("family", ["swin", "swinv2"])
def test_swin_layer_decay_matches_timms_parameter_groups(family):
    from kvit.testing import import_timm

    timm = import_timm()
    name, convert = {
        "swin": ("swin_tiny_patch4_window7_224", swin.convert_timm_checkpoint),
        "swinv2": ("swinv2_tiny_window8_256", swin.convert_timm_v2_checkpoint),
    }[family]
    config = {key: value for key, value in SWIN.items() if key not in ("input_shape", "classes")}
    reference = timm.create_model(name, img_size=32, num_classes=5, **config)
    timm_groups = timm_layer_scales(reference, convert, DECAY)
    ours = layer_decay.layer_decay_multipliers(small_model(family), DECAY)
    assert set(ours) == set(timm_groups)
    for path, scale in ours.items():
        # The final norm: timm groups it with the last block, ours with the head.
        assert scale == pytest.approx(1.0 if path.startswith("norm/") else timm_groups[path][0]), path
