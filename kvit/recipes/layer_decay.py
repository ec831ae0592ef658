"""Layer-wise learning-rate decay for fine-tuning (BEiT, MAE): deeper layers learn faster.

A model's variables are grouped by depth: the stem (everything before the first block) is depth
0, each block the next depth, and everything after the last block (final norm, head) the top
depth `L`. A variable at depth `d` learns at `lr * decay ** (L - d)`. For a ViT of `depth` blocks,
block `i` (from 0) gets `lr * decay ** (depth - i)`, the patch embedding, class token and position
embedding `decay ** (depth + 1)`, the head 1: timm's `param_groups_layer_decay` with its ViT
`group_matcher`, and MAE's `lr_decay.py`.

Blocks are found by the paths of the variables, as timm's `group_matcher`s find them: a variable
whose path starts with a match of `block_pattern` is in a block, and the pattern's groups name the
block (a group that takes no part reads as `"0"`; a pattern without groups names it by the matched
text). Blocks take depths in the order the model runs them. The default has one alternative per
layout of kvit's families:

- `blocks_{i}`: ViT, DeiT, the MAE encoder and its classifier (`kvit.models.mae_classifier`);
- `layers_{s}_blocks_{b}` and `layers_{s}_downsample`: Swin V1 and V2, whose patch merging opens
  stage `s` and is named as that stage's block 0, so it learns at the rate of the block it feeds
  (timm's Swin `group_matcher`);
- `stages_{s}_{b}`: MobileViT v1/v2 and EfficientViT, every block of every stage its own depth
  (timm's fine-grained grouping), the strided block that opens a stage included.

The rest is stem or top: a patch embedding, tokens, a position embedding, a convolutional stem
(EfficientViT's with its residual blocks, timm's `stem` group) before the blocks; the final norm,
MobileViT's `final_conv`, the head after them. timm groups the final norm and `final_conv` with
the last block; they learn at the head's full rate here, as in MAE's `lr_decay.py`. Give another
pattern for another layout; a variable outside the blocks between two of them raises, as its
depth would be a guess.
"""

import re

# ViT's `blocks_{i}`; Swin's `layers_{s}_blocks_{b}`, and its `layers_{s}_downsample` named as
# block `(s, 0)`; the hybrids' `stages_{s}_{b}`.
BLOCK_PATTERN = r"^(?:blocks_(\d+)|layers_(\d+)_(?:blocks_(\d+)|downsample)|stages_(\d+)_(\d+))(?=/)"


def _block_name(match):
    """The name of the block a `block_pattern` match found: its groups, else its text."""
    if not match.re.groups:
        return match.group(0)
    return tuple(group or "0" for group in match.groups())


def layer_depths(model, block_pattern=BLOCK_PATTERN):
    """The depth of each trainable variable, `{variable.path: depth}`, and the top depth.

    Returns:
        `(depths, top)`: depths from 0 (the stem) to `top` (what follows the last block).
    """
    pattern = re.compile(block_pattern)
    paths = [variable.path for variable in model.trainable_variables]
    matches = [pattern.match(path) for path in paths]
    blocks = {}  # block name -> depth, in the order the model runs them
    for match in matches:
        if match:
            blocks.setdefault(_block_name(match), len(blocks) + 1)
    if not blocks:
        raise ValueError(
            f"`model` {model.name!r} has no variables in blocks matching `block_pattern` "
            f"{block_pattern!r}, so layer-wise decay cannot tell its depths."
        )
    in_blocks = [index for index, match in enumerate(matches) if match]
    first, last = in_blocks[0], in_blocks[-1]
    between = [path for path, match in zip(paths[first:last], matches[first:last]) if not match]
    if between:
        raise ValueError(
            f"`model` {model.name!r} has variables between its blocks that `block_pattern` "
            f"{block_pattern!r} puts in none, e.g. {between[:3]}; give a pattern that names their block."
        )
    top = len(blocks) + 1
    depths = {
        path: blocks[_block_name(match)] if match else (0 if index < first else top)
        for index, (path, match) in enumerate(zip(paths, matches))
    }
    return depths, top


def layer_decay_multipliers(model, decay, block_pattern=BLOCK_PATTERN):
    """Learning-rate multipliers `{variable.path: decay ** (top - depth)}` for `kvit.recipes.optimizers.AdamW`.

    Args:
        model: a built Keras model.
        decay: float in (0, 1], e.g. 0.65 for MAE's ViT-B fine-tuning, 0.75 for ViT-L.
        block_pattern: regex whose match at the start of a variable path names its block (see
            the module docstring).
    """
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"`decay` must be in (0, 1], got {decay!r}.")
    depths, top = layer_depths(model, block_pattern)
    return {path: float(decay ** (top - depth)) for path, depth in depths.items()}
