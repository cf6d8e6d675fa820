"""Images per second of the file loader (augrepro.data.loader.FileData) with each file pipeline, per worker count.

Writes ``--count`` synthetic JPEGs of ``--width`` x ``--height`` (default 500 x 375, a typical CUB-200-2011
photograph) into a temporary folder, then times one pass of the training split (decode, the pipeline's
training transforms, batching by DataLoader workers) and one of the evaluation split, for each pipeline and
``--workers`` value, after a warm-up pass. The last column projects the loading hours of a 200-epoch SnapMix
run on CUB (5,994 training and 5,794 test images per epoch) at that rate: the GPU cannot train faster.

    python bench/bench_file_pipelines.py [--count 256] [--workers 0,4,16] [--batch 16] [--width 500 --height 375]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from augrepro.data.loader import FileData

SPECS = [
    ("snapmix warp (Cars, Aircraft)", {"name": "snapmix", "resize": 512, "crop": 448, "warp": True}),
    ("snapmix shorter side (CUB)", {"name": "snapmix", "resize": 512, "crop": 448, "warp": False}),
    ("imagenet", {"name": "imagenet"}),
]
CUB_TRAIN, CUB_TEST, EPOCHS = 5_994, 5_794, 200
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def one_pass(data: FileData, batch: int, train: bool) -> float:
    start = time.perf_counter()
    if train:
        gen = torch.Generator().manual_seed(0)
        for _ in data.iterate(data.epoch_order(gen), 0, batch, gen):
            pass
    else:
        for _ in data.eval_batches(batch):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--workers", default="0,4,16", help="comma-separated DataLoader worker counts")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.count):
            path = Path(tmp) / f"{i:05d}.jpg"
            smooth = rng.integers(0, 256, (args.height // 8, args.width // 8, 3), dtype=np.uint8)
            Image.fromarray(smooth).resize((args.width, args.height), Image.BILINEAR).save(path, quality=90)
            files.append(str(path))
        labels = np.arange(args.count) % 10
        print(f"{args.count} JPEGs of {args.width} x {args.height}, batch {args.batch}; CPU only (decode + transforms)")
        print(f"{'pipeline':32s} {'workers':>7s} {'train img/s':>12s} {'eval img/s':>11s} {'h / 200 ep CUB':>15s}")
        for label, spec in SPECS:
            for workers in (int(w) for w in args.workers.split(",")):
                train = FileData(files, labels, MEAN, STD, "cpu", True, workers, spec)
                test = FileData(files, labels, MEAN, STD, "cpu", False, workers, spec)
                one_pass(train, args.batch, True)  # warm-up (page cache, worker start)
                train_rate = args.count / one_pass(train, args.batch, True)
                eval_rate = args.count / one_pass(test, args.batch, False)
                hours = EPOCHS * (CUB_TRAIN / train_rate + CUB_TEST / eval_rate) / 3600
                print(f"{label:32s} {workers:7d} {train_rate:12,.0f} {eval_rate:11,.0f} {hours:15.2f}")


if __name__ == "__main__":
    main()
