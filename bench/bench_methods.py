"""Time per batch of every registered mixing method, as a ratio to one training step of resnet18.

Batch 128 x 3 x 32 x 32 (CIFAR), on the CPU (``--device cuda``: on the GPU, synchronized). The reference step is forward + backward + SGD step of
``resnet18`` (10 classes) at batch 128. Methods that make an extra pass through the model being trained
(SnapMix, SalfMix, HybridMix, Cutout with saliency) get that resnet18 as ``ctx.model``. Each method runs
with probability 1 where it has a probability, so the figure is the cost of a mixed batch.

    python bench/bench_methods.py [--repeats 5] [--threads N] [--methods cutmix,salfmix] [--device cpu] [--batch 128]
                                  [--json out.json]

Goal (issue 3): at most 3 % of the step for every method without an extra forward/backward.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from augrepro.augment import AUGMENTATIONS, Context, build_augmentation
from augrepro.data import get_spec
from augrepro.models import build_model
from augrepro.train.optim import make_optimizer

GOAL = 0.03


def median_seconds(fn, repeats: int, warmup: int = 1, device: torch.device | None = None) -> float:
    def call():
        fn()
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--methods", default=None, help="comma-separated subset (default: all registered)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--batch", type=int, default=128, help="images per batch")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_spec("cifar10")
    torch.manual_seed(0)
    model = build_model("resnet18", spec.num_classes).train().to(device)
    optimizer = make_optimizer(model, {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}, device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, spec.num_classes, (args.batch,), generator=g).to(device)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step_s = median_seconds(step, args.repeats, device=device)
    names = args.methods.split(",") if args.methods else AUGMENTATIONS.names()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"resnet18 training step, batch {args.batch}, fp32, {where}: {1000 * step_s:.1f} ms")
    print(f"{'method':<34} {'ms/batch':>9} {'/ step':>8}  goal")
    ctx = Context(spec.mean, spec.std, torch.Generator().manual_seed(1), np.random.default_rng(1), epoch=2, model=model)
    variants = []
    for name in names:
        fields = {f.name for f in dataclasses.fields(AUGMENTATIONS.get(name))}
        base = {"prob": 1.0} if "prob" in fields else {}
        if name == "saliencymix":
            variants += [(name, {**base, "variant": "official"}), (name, {**base, "variant": "paper"})]
        else:
            variants.append((name, base))
    rows = []
    for name, params in variants:
        aug = build_augmentation(name, params, spec)
        seconds = median_seconds(lambda aug=aug: aug(x, y, ctx), args.repeats, device=device)
        ratio = seconds / step_s
        label = name + (f" ({params['variant']})" if "variant" in params else "")
        verdict = "extra pass (as measured)" if aug.uses_model() else ("ok" if ratio <= GOAL else "over 3 %")
        print(f"{label:<34} {1000 * seconds:>9.2f} {100 * ratio:>7.2f}%  {verdict}")
        rows.append({"method": label, "ms": 1000 * seconds, "share_of_step": ratio, "verdict": verdict})
    if args.json:
        Path(args.json).write_text(
            json.dumps({"device": where, "step_ms": 1000 * step_s, "rows": rows}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
