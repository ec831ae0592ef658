"""The `kvit` command line."""

import argparse
import sys


def quickstart(args):
    from kvit.recipes import quickstart as recipe

    result = recipe.train(args.output, epochs=args.epochs, seed=args.seed)
    print(f"held-out accuracy: {result['accuracy']:.4f} ({len(result['test'][1])} digits)")
    print(f"training time: {result['seconds']:.1f} s")
    print(f"saved: {result['path']}")
    return result


def build_parser():
    parser = argparse.ArgumentParser(prog="kvit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "quickstart", help="train a small ViT on the embedded digits and save it (the main job)"
    )
    p.add_argument("--output", default="kvit-quickstart", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(run=quickstart)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
