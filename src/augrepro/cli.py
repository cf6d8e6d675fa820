"""``augrepro``: the library's command line, for use outside Snakemake.

    augrepro methods                      list the registered mixing methods, their parameters and sources
    augrepro preview --data results/data/demo/data.npz --dataset demo --method cutmix --out cutmix.png \\
                     [--params '{"beta": 1.0}'] [--count 8] [--seed 0] [--epoch 2] \\
                     [--model resnet8 | --checkpoint results/runs/.../checkpoint.pt]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Sequence


def _params(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"augrepro: --params must be a JSON object such as '{{\"beta\": 1.0}}' ({exc})") from None
    if not isinstance(value, dict):
        raise SystemExit(f"augrepro: --params must be a JSON object such as '{{\"beta\": 1.0}}', got {text!r}")
    return value


def cmd_methods(_args) -> int:
    from augrepro.augment import AUGMENTATIONS

    for name in AUGMENTATIONS.names():
        cls = AUGMENTATIONS.get(name)
        fields = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(cls))
        print(f"{name}({fields})\n    {cls.source}")
    return 0


def cmd_preview(args) -> int:
    from augrepro.augment.preview import render_preview

    out = render_preview(
        args.data,
        args.dataset,
        args.method,
        args.out,
        params=_params(args.params),
        count=args.count,
        seed=args.seed,
        epoch=args.epoch,
        architecture=args.model,
        checkpoint=args.checkpoint,
    )
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="augrepro", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("methods", help="list the registered mixing methods").set_defaults(func=cmd_methods)
    p = sub.add_parser("preview", help="write a PNG grid of a method on a dataset's real images")
    p.add_argument("--data", required=True, help="prepared dataset, e.g. results/data/demo/data.npz")
    p.add_argument("--dataset", required=True, help="dataset name of that file (demo, cifar10, ...)")
    p.add_argument("--method", required=True, help="registered method name (see `augrepro methods`)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--params", default=None, help="method parameters as a JSON object")
    p.add_argument("--count", type=int, default=8, help="number of images (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and of a fresh model (default 0)")
    p.add_argument("--epoch", type=int, default=2, help="1-based epoch the method sees (default 2: HybridMix mixes)")
    p.add_argument("--model", default="resnet8", help="architecture of the fresh model for model-based methods")
    p.add_argument("--checkpoint", default=None, help="checkpoint.pt of a training run to use instead")
    p.set_defaults(func=cmd_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"augrepro {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
