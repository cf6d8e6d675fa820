"""Images per second of every training input pipeline (augrepro.data.pipelines), batched on one device.

Batches of 128 x 3 x 32 x 32 (CIFAR) and 128 x 3 x 64 x 64 (Tiny-ImageNet) uint8 images already on the
device; the time of one pipeline call (drawing its parameters on the CPU generator, copying them, the
batched ops), median of ``--repeats`` calls after a warm-up, synchronized on CUDA. The device is CUDA
when present, else the CPU (``--device`` to choose).

    python bench/bench_pipelines.py [--batch 128] [--sizes 32,64] [--repeats 20] [--device auto] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from augrepro.data.pipelines import build_pipeline

SPECS = [
    ("none", {"name": "none"}),
    ("pad_crop_flip", {"name": "pad_crop_flip", "padding": 4}),
    ("random_resized_crop_flip", {"name": "random_resized_crop_flip", "scale": [0.08, 1.0], "ratio": [0.75, 4 / 3]}),
    (
        "random_resized_crop_flip_jitter",
        {"name": "random_resized_crop_flip_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4},
    ),
    (
        "random_resized_crop_flip_jitter+hue0.1",
        {"name": "random_resized_crop_flip_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    ),
]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sizes", default="32,64", help="comma-separated image sides")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {device} ({where}); batch {args.batch}; median of {args.repeats} calls")
    print(f"{'pipeline':40s} {'size':>5s} {'ms/batch':>9s} {'img/s':>11s}")
    for size in (int(s) for s in args.sizes.split(",")):
        gen = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (args.batch, 3, size, size), dtype=torch.uint8, generator=gen).to(device)
        for label, spec in SPECS:
            pipeline = build_pipeline(spec, size)
            pipeline(x, gen)  # warm-up
            sync(device)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                pipeline(x, gen)
                sync(device)
                times.append(time.perf_counter() - start)
            t = statistics.median(times)
            print(f"{label:40s} {size:5d} {t * 1e3:9.3f} {args.batch / t:11,.0f} img/s")


if __name__ == "__main__":
    main()
