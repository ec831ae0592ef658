"""What MAE's asymmetric design saves: a pretraining step at mask ratio 0.75 against the same
encoder and decoder on every token, per Keras backend.

    python benchmarks/mae_speed.py                                   # MAE ViT-B/16, batch 8
    python benchmarks/mae_speed.py --preset MAEViTL16 --batch-size 8
    python benchmarks/mae_speed.py --depth 2 --decoder-depth 1 --iters 3 --runtimes jax   # smoke
    python benchmarks/mae_speed.py --preset MAEViTL16 --batch-size 16 --separate   # two models too big for one process

A step is `train_on_batch` (forward, backward, the update of the recipes' AdamW, as `kvit
pretrain` runs it) of `kvit.models.MAE`, compiled as each backend compiles `fit`: JAX `jit`, a
TensorFlow graph with and without XLA, PyTorch eager.
The baseline is the same model with nothing dropped before the encoder (it runs on all
`1 + num_patches` tokens, and the loss covers every patch); the decoder's work is the same in
both. Each runtime runs in its own process, the two steps take turns in it, and the ratio of
their median step times is printed beside the ratio of their matmul FLOPs. With `--separate`
each step runs in a process of its own, one after the other, for sizes where the two models and
their optimizer states do not fit in memory together (ViT-L/16 at batch 16 on TensorFlow
outgrows 24 GiB). The FLOP ratio bounds what to expect: 2.4x for ViT-B/16 with the official
8-block decoder, whose cost does not shrink with the mask, 3.3x for ViT-L/16 and 3.6x for
ViT-H/14 (the paper's 3x is for ViT-L). Weights carry noise (`kvit.testing.noise_weights`).
Run it alone: other jobs on the cores spoil the figures.
"""

import argparse
import json
import sys

import numpy as np

from throughput import RUNTIMES, measure, median_of_rounds, run_runtime


def matmul_flops(preset, depth, decoder_depth, visible_tokens):
    """Forward FLOPs (2 per multiply-add) of the transformer blocks: the encoder's on
    `visible_tokens`, the decoder's on all tokens."""
    width, mlp = preset["config"]["width"], 4
    tokens = 1 + (preset["image_size"] // preset["config"]["patch_size"]) ** 2

    def blocks(count, dim, n):
        return count * (n * (4 + 2 * mlp) * dim * dim + 2 * n * n * dim)

    decoder_dim = preset["decoder"]["decoder_dim"]
    return 2 * (blocks(depth, width, visible_tokens) + blocks(decoder_depth, decoder_dim, tokens))


def build(args, all_tokens):
    import keras

    import kvit
    from kvit.models.mae import MAE
    from kvit.recipes import optimizers
    from kvit.testing import noise_weights

    class AllTokensMAE(MAE):
        """The same encoder and decoder on every token: none is dropped, every patch is a target."""

        def random_masking(self, batch_size, noise=None):
            ids = keras.ops.tile(keras.ops.arange(self.num_patches)[None], (batch_size, 1))
            return ids, ids, keras.ops.ones((batch_size, self.num_patches))

    overrides = {k: v for k, v in (("depth", args.depth), ("decoder_depth", args.decoder_depth)) if v}
    model = getattr(kvit.applications, args.preset)(mask_ratio=args.mask_ratio, norm_pix_loss=True, seed=0, **overrides)
    if all_tokens:
        model = AllTokensMAE.from_config(model.get_config())
    noise_weights(model)
    backend, xla = RUNTIMES[args.runtime]
    # As `fit` compiles: XLA on JAX, a graph with or without XLA on TensorFlow, eager PyTorch.
    jit_compile = {"jax": True, "tensorflow": xla, "torch": False}[backend]
    model.compile(optimizer=optimizers.adamw(model, 1e-4), jit_compile=jit_compile)
    return model


STEPS = {"mae": False, "all tokens": True}  # name -> whether the step runs on all tokens


def run_backend(args):
    steps = {}
    for name in args.steps:
        model = build(args, STEPS[name])
        images = np.random.RandomState(0).uniform(0, 255, (args.batch_size, *model.encoder.input_shape[1:]))
        steps[name] = (lambda x, model=model: model.train_on_batch(x), images.astype("float32"))
    blocks = 2 if len(steps) > 1 else 1
    seconds = {name: args.batch_size / v for name, v in measure(steps, args.iters, args.warmup, blocks).items()}
    print(json.dumps(seconds))


def run_steps(runtime, separate):
    """`{step: seconds}` of both steps on `runtime`: in one process, or in one each when `separate`."""
    if not separate:
        return run_runtime(__file__, runtime)
    seconds = {}
    for name in STEPS:
        seconds.update(run_runtime(__file__, runtime, argv=[*sys.argv[1:], "--steps", name]))
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="MAEViTB16", help="kvit.applications MAE constructor (default: %(default)s)")
    parser.add_argument("--depth", type=int, help="encoder blocks (default: the preset's)")
    parser.add_argument("--decoder-depth", type=int, help="decoder blocks (default: the preset's, 8)")
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--iters", type=int, default=6, help="timed steps of each model per runtime")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--rounds", type=int, default=1, help="passes over the runtimes; reports the median")
    parser.add_argument("--separate", action="store_true", help="run each step in a process of its own")
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runtime:
        return run_backend(args)

    from kvit.applications.mae import PRESETS

    preset = PRESETS[args.preset]
    depth = args.depth or preset["config"]["depth"]
    decoder_depth = args.decoder_depth or preset["decoder"]["decoder_depth"]
    patches = (preset["image_size"] // preset["config"]["patch_size"]) ** 2
    visible = 1 + int(patches * (1 - args.mask_ratio))
    flops = [matmul_flops(preset, depth, decoder_depth, n) for n in (visible, 1 + patches)]
    rows = median_of_rounds([{r: run_steps(r, args.separate) for r in args.runtimes} for _ in range(args.rounds)])
    print(
        f"{'separate processes' if args.separate else 'one process'} per step: "
        f"{args.preset} (encoder {depth} blocks, decoder {decoder_depth}), mask ratio {args.mask_ratio}, batch "
        f"{args.batch_size}; median of {args.iters} steps, median of {args.rounds} rounds"
    )
    print(f"block FLOPs per image, forward: mae {flops[0] / 1e9:.2f} G, all tokens {flops[1] / 1e9:.2f} G, ratio {flops[1] / flops[0]:.2f}x")
    print(f"{'runtime':<16}{'mae s/step':>12}{'all tokens':>12}{'ratio':>8}")
    for runtime, seconds in rows.items():
        ratio = seconds["all tokens"] / seconds["mae"]
        print(f"{runtime:<16}{seconds['mae']:>12.3f}{seconds['all tokens']:>12.3f}{ratio:>7.2f}x")


if __name__ == "__main__":
    sys.exit(main())
