"""ResNet-50 (torchvision, ImageNet) training throughput, and the projected hours of a 300-epoch ImageNet run,
on 1 GPU and on N GPUs (data-parallel through torchrun and augrepro.train.distributed).

The engine's own training step (``train_step``: forward, mixed cross-entropy, backward, fused SGD; bf16 autocast
and channels-last on a GPU, as ``numerics: auto``) on synthetic normalized 224 x 224 batches already on the
device (the input pipeline has its own benchmark, bench_imagenet_pipeline.py), the protocol's global batch
(256) split over the processes; evaluation at batch 500. The projection: 300 x (1,281,167 training images /
training img/s + 50,000 validation images / evaluation img/s). With ``--world-sizes 1,4`` each size > 1 is
measured by that many torchrun processes (one per GPU; gloo processes on the CPU). ``--share-device`` runs
every process on one GPU (a check that the data-parallel step runs there; NCCL refuses it, so gloo unless
``--backend nccl``).

    python bench/bench_resnet50.py [--batch 256] [--steps N] [--world-sizes 1,4] [--compile] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from augrepro.augment import Context, build_augmentation
from augrepro.data.datasets import get_spec
from augrepro.models import build_model
from augrepro.provenance import device_name
from augrepro.train.distributed import Distributed
from augrepro.train.engine import train_step
from augrepro.train.numerics import Numerics
from augrepro.train.optim import make_optimizer

IMAGENET_TRAIN, IMAGENET_VAL, EPOCHS = 1_281_167, 50_000, 300
ROOT = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(args, device: torch.device, dist: Distributed) -> dict:
    """Training (and, in one process, evaluation) images per second of this process's share of the batch."""
    spec = get_spec("imagenet")
    local = args.batch // dist.world_size
    gen = torch.Generator().manual_seed(dist.rank)
    x = torch.randn(local, 3, args.size, args.size, generator=gen).to(device)
    y = torch.randint(0, spec.num_classes, (local,), generator=gen).to(device)
    accel = Numerics(device, "auto")
    model = build_model("resnet50", spec.num_classes, architecture="imagenet").to(device)
    if accel.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    forward = dist.wrap(model)
    forward = torch.compile(forward) if args.compile else forward
    optimizer = make_optimizer(model, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}, device)
    augmentation = build_augmentation("baseline", {}, spec)
    ctx = Context(spec.mean, spec.std, gen, np.random.default_rng(0), epoch=1, model=model)

    def step() -> None:
        train_step(forward, optimizer, augmentation, x, y, ctx, accel)

    for _ in range(args.warmup):
        step()
    sync(device)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    dist.barrier()
    seconds = (time.perf_counter() - start) / args.steps
    out = {"step_seconds": seconds, "train_img_s": args.batch / seconds, "per_process_batch": local}
    if dist.world_size == 1:
        model.eval()
        ex = torch.randn(args.eval_batch, 3, args.size, args.size).to(device)
        with torch.no_grad():
            for _ in range(2):
                with accel.autocast():
                    model(accel.layout(ex))
            sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                with accel.autocast():
                    model(accel.layout(ex))
            sync(device)
        out["eval_img_s"] = args.eval_batch * args.steps / (time.perf_counter() - start)
    out["memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return out


def worker(args) -> None:
    """One torchrun process of a world size > 1; rank 0 writes the figures to ``--result``."""
    device = torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu")
    dist, device = Distributed.from_environment(device, backend=args.backend, share_device=args.share_device)
    result = measure(args, device, dist)
    names = dist.all_gather(device_name(device))
    if dist.is_main:
        result.update(world_size=dist.world_size, backend=dist.backend, devices=names)
        Path(args.result).write_text(json.dumps(result))
    dist.close()


def run_world(args, world_size: int) -> dict:
    """Measure with ``world_size`` torchrun processes on this node."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        passthrough = [
            "--batch",
            str(args.batch),
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--device",
            args.device,
            "--result",
            str(result),
        ]
        passthrough += ["--compile"] if args.compile else []
        passthrough += ["--share-device"] if args.share_device else []
        passthrough += ["--backend", args.backend] if args.backend else []
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nnodes",
            "1",
            "--nproc-per-node",
            str(world_size),
            str(Path(__file__).resolve()),
            "--worker",
            *passthrough,
        ]
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
            OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // world_size)),
        )
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not result.exists():
            lines = [line for line in (done.stderr or "").splitlines() if "Error" in line or "error:" in line]
            return {
                "world_size": world_size,
                "error": lines[-1].strip() if lines else f"exit {done.returncode}",
                "stderr_tail": (done.stderr or "")[-3000:],
            }
        return json.loads(result.read_text())


def hours(train_img_s: float, eval_img_s: float | None) -> float:
    per_epoch = IMAGENET_TRAIN / train_img_s + (IMAGENET_VAL / eval_img_s if eval_img_s else 0.0)
    return EPOCHS * per_epoch / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="global batch (the ImageNet protocol's 256)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default 20 on a GPU, 2 on the CPU)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="steps before measuring (default 5 on a GPU, 1 on the CPU)"
    )
    parser.add_argument("--eval-batch", type=int, default=500)
    parser.add_argument("--world-sizes", default=None, help="comma-separated process counts (default 1 and every GPU)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) or cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--share-device", action="store_true", help="every process on one GPU (gloo unless --backend)")
    parser.add_argument("--backend", default=None, help="process-group backend (default nccl on GPUs, gloo on the CPU)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and args.device != "cpu"
    args.steps = args.steps or (20 if gpu else 2)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    if args.worker:
        return worker(args)
    device = torch.device("cuda" if gpu else "cpu")
    gpus = torch.cuda.device_count() if gpu else 0
    sizes = [int(s) for s in args.world_sizes.split(",")] if args.world_sizes else sorted({1, max(gpus, 1)})
    numerics = "bf16 + channels-last" if gpu else "fp32"
    print(
        f"ResNet-50 at {args.size} px, global batch {args.batch}, {numerics}{', compiled' if args.compile else ''}; "
        f"device {device_name(device)} ({device.type}, {gpus} GPU(s) visible); torch {torch.__version__}; "
        f"{args.steps} measured steps"
    )
    print(f"{'processes':>9} {'img/s':>9} {'per process':>11} {'step ms':>8} {'h/300 ep':>9}  note")
    figures = {
        "device_name": device_name(device),
        "gpus_visible": gpus,
        "batch": args.batch,
        "size": args.size,
        "compile": args.compile,
        "numerics": numerics,
        "runs": [],
    }
    eval_img_s = None
    for n in sizes:
        if n == 1 and not args.share_device:
            r = measure(args, device, Distributed())
            r.update(world_size=1, backend=None, devices=[device_name(device)])
            eval_img_s = r["eval_img_s"]
        else:
            r = run_world(args, n)
        if "error" in r:
            print(f"{n:>9} {'-':>9} {'-':>11} {'-':>8} {'-':>9}  failed: {r['error']}")
        else:
            r["hours_300_epochs"] = hours(
                r["train_img_s"], eval_img_s * n if eval_img_s else None
            )  # evaluation is split too
            print(
                f"{n:>9} {r['train_img_s']:>9.1f} {r['train_img_s'] / n:>11.1f} {1000 * r['step_seconds']:>8.1f} "
                f"{r['hours_300_epochs']:>9.1f}  {r.get('backend') or 'one process'}"
            )
        figures["runs"].append(r)
    if eval_img_s:
        figures["eval_img_s"] = eval_img_s
        print(
            f"evaluation: {eval_img_s:.1f} img/s (batch {args.eval_batch}); the hours add "
            f"{IMAGENET_VAL:,} validation images per epoch, at that rate"
        )
    print("goal on one H100/H200: >= 3,000 training img/s in bf16; SaliencyMix: four RTX 2080 Ti, days per run")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
