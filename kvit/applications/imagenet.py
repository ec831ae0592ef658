"""The ImageNet-1k class names, shipped inside kvit (no download), and `decode_predictions`."""

import functools
import os

import keras
import numpy as np

# One line per class, `wordnet_id<TAB>lemmas`, in the order of timm's ImageNet-1k classifiers
# (sorted WordNet ids); taken from timm's `data/_info/imagenet_synset_to_lemma.txt`.
CLASSES_FILE = os.path.join(os.path.dirname(__file__), "data", "imagenet_classes.tsv")
NUM_CLASSES = 1000


@functools.cache
def imagenet_classes():
    """The 1000 classes as `[(wordnet_id, name), ...]`, `name` the first WordNet lemma ("tench")."""
    with open(CLASSES_FILE, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [(wordnet_id, lemmas.split(", ")[0]) for wordnet_id, lemmas in rows]


def decode_predictions(preds, top=5):
    """Names the top classes of ImageNet-1k predictions, as `keras.applications` does.

    Args:
        preds: `(batch, 1000)` scores (probabilities or logits), a NumPy array or a tensor.
        top: int, how many classes to return per image.

    Returns:
        One list per image of `(wordnet_id, name, score)` tuples, best first.
    """
    preds = np.asarray(keras.ops.convert_to_numpy(preds))
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"`preds` must be a batch of ImageNet-1k scores, shape (batch, {NUM_CLASSES}); got shape {preds.shape}."
        )
    if not isinstance(top, int) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"`top` must be an int in [1, {NUM_CLASSES}], got {top!r}.")
    classes = imagenet_classes()
    decoded = []
    for scores in preds:
        best = np.argsort(-scores, kind="stable")[:top]
        decoded.append([(*classes[i], float(scores[i])) for i in best])
    return decoded
