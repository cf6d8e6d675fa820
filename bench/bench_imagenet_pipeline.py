"""ImageNet input pipeline: decode + augment images per second, per CPU core (the DataLoader-worker path) and per
device (the batched on-device path, augrepro.data.jpeg; nvJPEG on a GPU).

Synthetic JPEGs of ImageNet's typical sizes (shorter side 300-500 px, aspect 3:4 to 4:3, quality 90) are made
from scikit-learn's two photographs in a temporary folder, so nothing is downloaded. Measured, each over the
same files after a warm-up:

- worker path, per CPU core: one process, one thread, PIL decode + the released code's training transforms
  (``augrepro.data.file_pipelines.file_transforms`` of the ``imagenet`` spec: RandomResizedCrop(224), flip, ColorJitter 0.4, lighting 0.1,
  normalize), then the evaluation transforms; the figure times the number of workers is what DataLoader
  workers deliver at best;
- device path (``--device``, default the GPU when there is one, else the CPU): an epoch of ``JpegData`` in
  batches of ``--batch`` (file reads on threads, batched decode, crop + resize per image into one batch, flip,
  jitter, lighting, normalize), and the decode alone; synchronized on CUDA.

With ``--consumer`` (images per second that training consumes, e.g. bench_resnet50.py's) it prints the
pipeline's margin over it (the goal: at least 2x).

    python bench/bench_imagenet_pipeline.py [--images 512] [--batch 256] [--device auto] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from augrepro.data.file_pipelines import file_transforms
from augrepro.data.jpeg import JpegData, decode, device_decoder, read_bytes

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def make_jpegs(folder: Path, n: int, seed: int = 0, scale: float = 1.0) -> list[str]:
    """``n`` JPEGs of ImageNet-like sizes (``scale`` shrinks them, for quick runs)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        short = int(rng.integers(300, 501) * scale)
        aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
        h, w = (short, int(short * aspect)) if aspect >= 1 else (int(short / aspect), short)
        src = photos[i % 2]
        top, left = int(rng.integers(0, src.shape[0] - 300)), int(rng.integers(0, src.shape[1] - 300))
        img = Image.fromarray(np.ascontiguousarray(src[top : top + 300, left : left + 300])).resize(
            (max(w, 8), max(h, 8))
        )
        path = folder / f"img_{i:05d}.JPEG"
        img.save(path, quality=90)
        paths.append(str(path))
    return paths


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker_per_core(files: list[str], train: bool) -> float:
    """Images per second of one worker (one process, one thread): PIL decode + the transforms."""
    from PIL import Image

    transform = file_transforms({"name": "imagenet"}, train, MEAN, STD)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for path in files[:4]:  # warm-up
            with Image.open(path) as img:
                transform(img.convert("RGB"))
        start = time.perf_counter()
        for path in files:
            with Image.open(path) as img:
                transform(img.convert("RGB"))
        return len(files) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def device_path(files: list[str], batch: int, device: torch.device, train: bool) -> float:
    """Images per second of one epoch of the on-device path (reads, decode, augmentation, normalization)."""
    data = JpegData(files, np.zeros(len(files), dtype=np.int64), MEAN, STD, device, train=train)
    gen = torch.Generator().manual_seed(0)
    order = data.epoch_order(gen)

    def epoch() -> None:
        batches = data.iterate(order, 0, batch, gen) if train else data.eval_batches(batch)
        for _batch in batches:
            pass
        sync(device)

    warm = JpegData(
        files[: min(batch, len(files))],
        np.zeros(min(batch, len(files)), dtype=np.int64),
        MEAN,
        STD,
        device,
        train=train,
    )
    for _ in warm.iterate(warm.epoch_order(gen), 0, batch, gen):  # warm-up: decoder handles, allocator, kernels
        pass
    sync(device)
    start = time.perf_counter()
    epoch()
    return len(files) / (time.perf_counter() - start)


def decode_only(files: list[str], batch: int, device: torch.device) -> float:
    data = [read_bytes(p) for p in files]  # bytes in memory: the decoder alone
    decode(data[:batch], device)
    sync(device)
    start = time.perf_counter()
    for i in range(0, len(data), batch):
        decode(data[i : i + batch], device)
    sync(device)
    return len(data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="synthetic JPEGs (one epoch of the device path)")
    parser.add_argument("--batch", type=int, default=256, help="device-path batch (the ImageNet protocol's 256)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the images (quick runs)")
    parser.add_argument("--worker-images", type=int, default=None, help="images timed on the worker path (default all)")
    parser.add_argument("--consumer", type=float, default=None, help="images/s that training consumes (for the margin)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        files = make_jpegs(Path(tmp), args.images, scale=args.scale)
        sizes = [Path(p).stat().st_size for p in files]
        worker_files = files[: args.worker_images] if args.worker_images else files
        fig = {
            "images": len(files),
            "mean_file_kb": float(np.mean(sizes)) / 1024,
            "device": str(device),
            "device_name": where,
            "decoder": device_decoder(device),
            "batch": args.batch,
            # the device path first: changing torch's thread count (the worker measurement) slows later CPU ops
            "device_decode_img_s": decode_only(files, args.batch, device),
            "device_train_img_s": device_path(files, args.batch, device, True),
            "device_eval_img_s": device_path(files, args.batch, device, False),
            "worker_train_img_s_per_core": worker_per_core(worker_files, True),
            "worker_eval_img_s_per_core": worker_per_core(worker_files, False),
        }
    print(
        f"{len(files)} synthetic JPEGs, mean {fig['mean_file_kb']:.0f} kB; device {device} ({where}); "
        f"torch {torch.__version__}"
    )
    print(f"{'path':<44} {'img/s':>10}")
    print(f"{'workers: PIL + train transforms, per core':<44} {fig['worker_train_img_s_per_core']:>10.1f}")
    print(f"{'workers: PIL + eval transforms, per core':<44} {fig['worker_eval_img_s_per_core']:>10.1f}")
    print(f"{'device: decode only (' + device.type + ')':<44} {fig['device_decode_img_s']:>10.1f}")
    print(f"{'device: read + decode + train pipeline':<44} {fig['device_train_img_s']:>10.1f}")
    print(f"{'device: read + decode + eval transform':<44} {fig['device_eval_img_s']:>10.1f}")
    if args.consumer:
        fig["consumer_img_s"] = args.consumer
        fig["device_train_margin"] = fig["device_train_img_s"] / args.consumer
        fig["worker_cores_to_keep_up"] = args.consumer / fig["worker_train_img_s_per_core"]
        print(
            f"margin over training's {args.consumer:.0f} img/s: {fig['device_train_margin']:.2f}x (goal >= 2x); "
            f"the worker path needs {fig['worker_cores_to_keep_up']:.1f} cores for it"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2) + "\n")


if __name__ == "__main__":
    main()
