"""Training throughput of kvit applications on each Keras backend, beside a plain timm training loop.

    python benchmarks/train_throughput.py
    python benchmarks/train_throughput.py --models ViTTi16 --runtimes jax tensorflow-xla --batch-size 32

One optimizer step on one batch, timed: kvit runs `model.train_on_batch` (Keras' compiled train
step: a JAX `jit`, a TensorFlow graph with or without XLA, PyTorch eager) with the recipes'
AdamW (`kvit.recipes.optimizers.AdamW`, as `kvit train` runs it), softmax cross-entropy on
logits; timm runs the same model (its architecture, noised random weights, in train mode) with
`torch.optim.AdamW` of the same hyper-parameters, zero_grad / forward / loss / backward / step.
Each Keras backend runs in its own process; timm takes turns with kvit inside each process, so a
slow spell of the machine falls on both. Prints images per second and the ratio to timm (the one
in the same process). Run it alone: other jobs on the cores spoil figures.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from throughput import (  # noqa: E402
    RUNTIMES,
    measure,
    median_of_rounds,
    onednn_setting,
    run_runtime,
    timm_model,
    timm_name,
)

LEARNING_RATE, WEIGHT_DECAY = 1e-3, 0.05


def kvit_train_step(name, batch, xla):
    import keras

    import kvit
    from kvit.recipes import optimizers
    from kvit.testing import noise_weights

    model = noise_weights(kvit.applications.get(name, classifier_activation=None))
    model.compile(
        optimizer=optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=bool(xla) if keras.backend.backend() == "tensorflow" else "auto",
    )
    size = model.inputs[0].shape[1:]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, *size)).astype("float32")
    labels = rng.integers(0, 1000, batch)
    return (lambda x: model.train_on_batch(x, labels)), images


def timm_train_step(name, batch, size):
    import torch

    model = timm_model(name).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.rand(batch, 3, size[0], size[1]) * 255
    labels = torch.randint(0, 1000, (batch,))

    def step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels)
        loss.backward()
        optimizer.step()
        return float(loss)

    return step, images


def run_backend(args):
    xla = RUNTIMES[args.runtime][1]
    results = {}
    for name in args.models:
        kvit_step, kvit_images = kvit_train_step(name, args.batch_size, xla)
        timm_step, timm_images = timm_train_step(timm_name(name), args.batch_size, kvit_images.shape[1:3])
        steps = {"kvit": (kvit_step, kvit_images), "timm": (timm_step, timm_images)}
        results[name] = measure(steps, args.iters, args.warmup, blocks=args.blocks)
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ViTTi16", "MobileViTXXS"], help="kvit application names")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--iters", type=int, default=20, help="timed steps of each library")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    parser.add_argument("--blocks", type=int, default=4, help="turns kvit and timm take in each process")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--rounds", type=int, default=1, help="passes over the runtimes; reports the median")
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runtime:
        return run_backend(args)

    import torch

    rounds = [{runtime: run_runtime(__file__, runtime) for runtime in args.runtimes} for _ in range(args.rounds)]
    rows = median_of_rounds(rounds)
    print(
        f"training throughput, batch {args.batch_size}, AdamW; {torch.get_num_threads()} torch threads; "
        f"median of {args.iters} steps, median of {args.rounds} rounds; TF_ENABLE_ONEDNN_OPTS={onednn_setting()}"
    )
    print(f"{'model':<14}{'kvit runtime':<18}{'kvit img/s':>12}{'timm img/s':>12}{'x timm':>8}")
    for name in args.models:
        best = 0.0
        for runtime in args.runtimes:
            kvit_ips, timm_ips = rows[runtime][name]["kvit"], rows[runtime][name]["timm"]
            best = max(best, kvit_ips / timm_ips)
            print(f"{name:<14}{runtime:<18}{kvit_ips:>12.1f}{timm_ips:>12.1f}{kvit_ips / timm_ips:>8.2f}")
        print(f"{name}: best kvit runtime / timm: {best:.2f}x")


if __name__ == "__main__":
    main()
