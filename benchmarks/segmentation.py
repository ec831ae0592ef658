"""EfficientViT's segmentation head on real pixels: mean IoU after a short run on digit canvases.

    KERAS_BACKEND=jax python benchmarks/segmentation.py
    KERAS_BACKEND=jax python benchmarks/segmentation.py --model EfficientViTB0 --epochs 20 --canvas 96

Each canvas holds one of scikit-learn's handwritten digits pasted at a random place on low noise;
the mask labels every stroke pixel with `1 + digit` and the rest background (11 classes;
`kvit.datasets.digit_canvases`). `--model` (random initialisation, no ImageNet
weights: nothing is downloaded) with `kvit.models.EfficientViTSeg` (the B0 head: width 32, one
MBConv, logits upsampled to the input) trains with Adam and per-pixel cross-entropy on canvases
of the training digits, and is scored on canvases of the held-out digits, which it never saw.
Prints the held-out mean IoU over the 11 classes, the background's and the strokes' IoU, and,
for contrast, the mean IoU of predicting the background everywhere.
"""

import argparse
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="EfficientViTB0", help="an EfficientViT application (default: %(default)s)")
    parser.add_argument("--canvas", type=int, default=64, help="canvas side in pixels (default: %(default)s)")
    parser.add_argument("--digit", type=int, default=32, help="pasted digit side in pixels (default: %(default)s)")
    parser.add_argument("--train", type=int, default=2048, help="training canvases (default: %(default)s)")
    parser.add_argument("--test", type=int, default=512, help="held-out canvases (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate (default: %(default)s)")
    args = parser.parse_args()

    import keras

    import kvit
    from kvit.datasets import digit_canvases
    from kvit.recipes.segmentation import mean_iou

    keras.utils.set_random_seed(0)
    classes = 11
    train_images, train_masks = digit_canvases(args.train, args.canvas, args.digit, seed=0)
    test_images, test_masks = digit_canvases(args.test, args.canvas, args.digit, held_out=True, seed=1)
    backbone = kvit.applications.get(args.model, include_top=False, input_shape=(args.canvas, args.canvas, 3))
    model = kvit.models.EfficientViTSeg(
        backbone, classes, head_width=32, head_depth=1, final_expansion=4, upsample_logits=True
    )
    model.compile(
        keras.optimizers.Adam(args.lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() == "jax",
    )
    start = time.perf_counter()
    history = model.fit(
        train_images, train_masks, batch_size=args.batch_size, epochs=args.epochs, verbose=2
    ).history["loss"]
    seconds = time.perf_counter() - start
    predictions = np.argmax(model.predict(test_images, batch_size=64, verbose=0), axis=-1)
    miou, per_class = mean_iou(predictions, test_masks, classes)
    baseline, _ = mean_iou(np.zeros_like(test_masks), test_masks, classes)
    print(
        f"{args.model} + EfficientViTSeg on {args.canvas}x{args.canvas} digit canvases, "
        f"{keras.backend.backend()}, {args.epochs} epochs of {args.train} canvases in {seconds:.0f} s "
        f"(loss {history[0]:.3f} -> {history[-1]:.3f})"
    )
    print(
        f"held-out mean IoU {miou:.3f} (background {per_class[0]:.3f}, strokes "
        f"{np.nanmean(per_class[1:]):.3f}); background everywhere: {baseline:.3f}"
    )


if __name__ == "__main__":
    main()
