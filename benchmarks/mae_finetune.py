"""Does MAE pretraining pay off with few labels? On the handwritten digits: a ViT pretrained as an MAE
on the training images without their labels, then fine-tuned on 10% of the labels, against the
same model trained from scratch on those labels with the same budget.

    KERAS_BACKEND=jax python benchmarks/mae_finetune.py
    KERAS_BACKEND=jax python benchmarks/mae_finetune.py --pretrain-epochs 5 --finetune-epochs 5   # smoke

1. Pretraining: the `mae_digits` recipe (`kvit pretrain`'s default: a 32x32 ViT with 4x4 patches,
   mask 75%, per-patch normalised loss) on the 1,437 training digits, labels unused.
2. Fine-tuning: `kvit.models.mae_classifier` (average pooling, a fresh `fc_norm` and head, as the
   reference fine-tunes) on a stratified `--label-fraction` of the training digits, with AdamW,
   warm-up + cosine and layer-wise learning-rate decay (`kvit.recipes.optimizers.adamw`).
3. From scratch: the same classifier built from a freshly initialised MAE of the same recipe (the
   same architecture and initialisation), trained on the same labelled digits with the same
   pipeline, optimizer, learning rate, epochs and steps, without layer decay (which would only
   slow the lower layers of a random network).

Prints both accuracies on the 360 held-out digits. An accuracy, not a timing: it may run on a
busy machine.
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np

import kvit
from kvit.recipes import config, optimizers, pipeline, pretrain
from kvit.recipes.data import load_source


def labelled_subset(source, fraction, seed):
    """A stratified `fraction` of a source's `(images, labels)` arrays, at least one per class."""
    images, labels = (np.stack(a) for a in zip(*source.dataset.as_numpy_iterator()))
    rng = np.random.RandomState(seed)
    keep = []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        keep += list(rng.choice(indices, max(1, round(fraction * len(indices))), replace=False))
    keep = np.sort(keep)
    return images[keep], labels[keep]


def fine_tune(classifier, labelled, test, args, layer_decay):
    recipe = config.load("mae_digits")
    d = recipe.data
    train = pipeline.train_pipeline(
        load_source(labelled), args.batch_size, recipe.model.image_size, seed=args.seed, crop=d.crop,
        scale=tuple(d.scale), ratio=tuple(d.ratio), interpolation=d.interpolation, hflip=0.0, channels=1,
    )
    held_out = pipeline.eval_pipeline(test, 256, recipe.model.image_size, crop_pct=1.0, interpolation="bilinear", channels=1)
    steps = (len(labelled[1]) // args.batch_size) * args.finetune_epochs
    schedule = optimizers.warmup_cosine(args.lr, steps, steps // 10, 0.0, 0.0)
    classifier.compile(
        optimizer=optimizers.adamw(classifier, schedule, weight_decay=0.05, layer_decay=layer_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(train, epochs=args.finetune_epochs, verbose=0)
    return float(classifier.evaluate(held_out, verbose=0, return_dict=True)["accuracy"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label-fraction", type=float, default=0.1)
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--finetune-epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32, help="fine-tuning batch (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="fine-tuning peak learning rate (default: %(default)s)")
    parser.add_argument("--layer-decay", type=float, default=0.75)
    parser.add_argument("--drop-path-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="pretraining run folder (default: a temporary one)")
    args = parser.parse_args()

    output = args.output or tempfile.mkdtemp(prefix="mae_finetune_")
    start = time.perf_counter()
    result = pretrain.pretrain(
        "mae_digits", output=os.path.join(output, "pretrain"), print_config=None, verbose=0,
        overrides=[f"schedule.epochs={args.pretrain_epochs}", f"run.seed={args.seed}", "run.validate=none"],
    )
    print(f"pretrained {args.pretrain_epochs} epochs without labels: loss {result.loss:.4f}, "
          f"{time.perf_counter() - start:.0f} s ({keras.backend.backend()}); grids in {os.path.dirname(result.grids[-1])}")

    labelled = labelled_subset(load_source("digits", "train"), args.label_fraction, args.seed)
    test = load_source("digits", "test")
    print(f"fine-tuning on {len(labelled[1])} labelled digits ({args.label_fraction:.0%}), "
          f"{args.finetune_epochs} epochs, batch {args.batch_size}, peak lr {args.lr:g}")

    accuracies = {}
    for name, mae, layer_decay in (
        ("MAE-pretrained, fine-tuned", result.model, args.layer_decay),
        ("from scratch", pretrain.build_mae(result.recipe), None),
    ):
        keras.utils.set_random_seed(args.seed)
        classifier = kvit.models.mae_classifier(mae, classes=10, drop_path_rate=args.drop_path_rate)
        start = time.perf_counter()
        accuracies[name] = fine_tune(classifier, labelled, test, args, layer_decay)
        decay = f"layer decay {layer_decay}" if layer_decay else "no layer decay"
        print(f"{name:<28} held-out accuracy {accuracies[name]:.4f} ({decay}, {time.perf_counter() - start:.0f} s)")
    gain = accuracies["MAE-pretrained, fine-tuned"] - accuracies["from scratch"]
    print(f"pretraining gain: {100 * gain:+.2f} accuracy points on {test.num_examples} held-out digits")


if __name__ == "__main__":
    main()
