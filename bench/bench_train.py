"""Training throughput and checkpoint cost, measured with the engine's own training step.

Prints, per (model, method) at batch 128 on CIFAR-sized data: training images per second, evaluation
images per second (the engine's per-epoch evaluation, batch 500), the projected hours for 200 epochs of
CIFAR-10 (50,000 training and 10,000 test images per epoch, training plus evaluation), and the time to
write a full resume checkpoint as a fraction of one epoch. Runs on the GPU when there is one (bf16 +
channels-last, as the engine does).

    python bench/bench_train.py [--models resnet18 wrn28_10] [--methods baseline saliencymix] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from augrepro.augment import Context, build_augmentation
from augrepro.data.datasets import get_spec
from augrepro.data.loader import DeviceData
from augrepro.data.pipelines import build_pipeline
from augrepro.io import atomic_torch_save
from augrepro.models import build_model
from augrepro.provenance import device_name
from augrepro.train.config import Execution
from augrepro.train.engine import evaluate, train_step
from augrepro.train.numerics import Numerics
from augrepro.train.optim import make_optimizer

CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES = 50_000, 10_000
EVAL_BATCH = Execution().eval_batch_size  # training.eval_batch_size's default


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(model_name: str, method: str, steps: int, batch: int, device: torch.device, compile_: bool) -> dict:
    spec = get_spec("cifar10")
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch * 4, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (batch * 4,), generator=gen)
    data = DeviceData(images, labels, spec.mean, spec.std, device)
    accel = Numerics(device, "auto")
    model = build_model(model_name, 10).to(device)
    if accel.channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile_ else model
    aug = build_augmentation(method, {}, spec)
    opt = make_optimizer(model, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}, device)
    ctx = Context(spec.mean, spec.std, gen, np.random.default_rng(0), epoch=2, model=model)
    order = data.epoch_order(gen)
    pipeline = build_pipeline({"name": "pad_crop_flip", "padding": 4}, 32)  # the SaliencyMix CIFAR code's

    def step(i: int) -> None:
        x, y = data.batch(order, i % 4, batch, gen, pipeline)
        train_step(forward, opt, aug, x, y, ctx, accel)

    for i in range(3 if compile_ else 1):  # warm-up (and compilation)
        step(i)
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    per_step = (time.perf_counter() - start) / steps
    ips = batch / per_step
    test = DeviceData(images.repeat(2, 1, 1, 1), labels.repeat(2), spec.mean, spec.std, device)  # 2 x 4 batches
    evaluate(forward, test, EVAL_BATCH, accel)  # warm-up (and compilation of the eval shapes)
    sync(device)
    start = time.perf_counter()
    evaluate(forward, test, EVAL_BATCH, accel)
    eval_ips = len(test) / (time.perf_counter() - start)
    epoch_seconds = CIFAR_TRAIN_IMAGES / ips + CIFAR_TEST_IMAGES / eval_ips
    with tempfile.TemporaryDirectory() as tmp:
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": gen.get_state()}
        t = time.perf_counter()
        atomic_torch_save(Path(tmp) / "resume.pt", state)
        checkpoint_seconds = time.perf_counter() - t
    return {
        "images_per_second": ips,
        "eval_images_per_second": eval_ips,
        "hours_200_epochs": 200 * epoch_seconds / 3600,
        "checkpoint_seconds": checkpoint_seconds,
        "checkpoint_fraction_of_epoch": checkpoint_seconds / epoch_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "wrn28_10"])
    parser.add_argument("--methods", nargs="+", default=["baseline", "saliencymix"])
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default: 3 on CPU, 50 on GPU)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps = args.steps or (50 if device.type == "cuda" else 3)
    print(
        f"device: {device_name(device)} ({device.type}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch}, {steps} measured steps"
    )
    print(
        f"{'model':<10} {'method':<12} {'img/s':>9} {'eval img/s':>10} {'h/200 ep':>9} {'ckpt s':>8} {'ckpt/epoch':>10}"
    )
    rows = []
    for model_name in args.models:
        for method in args.methods:
            r = measure(model_name, method, steps, args.batch, device, args.compile)
            rows.append({"model": model_name, "method": method, **r})
            print(
                f"{model_name:<10} {method:<12} {r['images_per_second']:>9.1f} {r['eval_images_per_second']:>10.1f} "
                f"{r['hours_200_epochs']:>9.2f} "
                f"{r['checkpoint_seconds']:>8.3f} {100 * r['checkpoint_fraction_of_epoch']:>9.3f}%"
            )
    print("paper (SaliencyMix slides, ResNet-18, CIFAR-10, 200 epochs, one GPU): 0.83 h baseline, 0.91 h SaliencyMix")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "device_name": device_name(device),
                    "batch": args.batch,
                    "steps": steps,
                    "compile": args.compile,
                    "rows": rows,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
