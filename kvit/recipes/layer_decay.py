"""Layer-wise learning-rate decay for fine-tuning (BEiT, MAE): deeper layers learn faster.

A model's variables are grouped by depth: the stem (everything before the first block) is depth
0, each block the next depth, and everything after the last block (final norm, head) the top
depth `L`. A variable at depth `d` learns at `lr * decay ** (L - d)`. For a ViT of `depth` blocks,
block `i` (from 0) gets `lr * decay ** (depth - i)`, the patch embedding, class token and position
embedding `decay ** (depth + 1)`, the head 1: timm's `param_groups_layer_decay` with its ViT
`group_matcher`, and MAE's `lr_decay.py`.

Blocks are found by the paths of the variables: a top-level layer whose name matches
`block_pattern` is a block. The default covers kvit's families: ViT's `blocks_{i}`, MobileViT's
`stages_{s}_{b}` (every block of every stage its own depth, timm's fine-grained grouping), and
`layers_{s}/blocks_{b}` or `stages_{s}/blocks_{b}` for families whose stages hold their blocks
(Swin, EfficientViT); give another pattern for another layout.
"""

import re

# A block is the longest such prefix of a variable path.
BLOCK_PATTERN = r"^(?:(?:layers|stages)_\d+/blocks_\d+|blocks_\d+|stages_\d+_\d+|(?:layers|stages)_\d+)(?=/)"


def layer_depths(model, block_pattern=BLOCK_PATTERN):
    """The depth of each trainable variable, `{variable.path: depth}`, and the top depth.

    Returns:
        `(depths, top)`: depths from 0 (the stem) to `top` (what follows the last block).
    """
    pattern = re.compile(block_pattern)
    blocks, keys = [], []
    for variable in model.trainable_variables:
        match = pattern.match(variable.path)
        key = match.group(0) if match else None
        if key is not None and key not in blocks:
            blocks.append(key)
        keys.append((variable.path, key))
    if not blocks:
        raise ValueError(
            f"`model` {model.name!r} has no variables in blocks matching `block_pattern` "
            f"{block_pattern!r}, so layer-wise decay cannot tell its depths."
        )
    top = len(blocks) + 1
    depths, seen_block = {}, False
    for path, key in keys:
        if key is not None:
            seen_block = True
            depths[path] = blocks.index(key) + 1
        else:
            depths[path] = top if seen_block else 0
    return depths, top


def layer_decay_multipliers(model, decay, block_pattern=BLOCK_PATTERN):
    """Learning-rate multipliers `{variable.path: decay ** (top - depth)}` for `kvit.recipes.optimizers.AdamW`.

    Args:
        model: a built Keras model.
        decay: float in (0, 1], e.g. 0.65 for MAE's ViT-B fine-tuning, 0.75 for ViT-L.
        block_pattern: regex whose match at the start of a variable path names its block.
    """
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"`decay` must be in (0, 1], got {decay!r}.")
    depths, top = layer_depths(model, block_pattern)
    return {path: float(decay ** (top - depth)) for path, depth in depths.items()}
