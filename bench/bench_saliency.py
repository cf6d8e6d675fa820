"""Batched torch saliency vs the OpenCV contrib loop (issue 3): speed and agreement.

For 128 images of 32x32 and of 64x64 (crops of scikit-learn's two sample photographs), every method of
``augrepro.saliency.METHODS`` (fine_grained, spectral_residual, frequency_tuned), with
torch.set_num_threads(1) (and cv2.setNumThreads(1)) and with the default thread count, prints the median ms per
batch of the OpenCV loop (``backend="opencv"``; for frequency_tuned, which OpenCV contrib lacks, the per-image
float64 NumPy/OpenCV reference) and of the torch backend, their ratio, and the agreement: peaks (first
argmax) within 1 px, mean / min per-image Pearson correlation, max absolute difference.

``--device cuda`` runs the torch backend on the GPU (synchronized; the OpenCV loop stays on the CPU).

    python bench/bench_saliency.py [--repeats 15] [--batch 128] [--device cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import torch

from augrepro.saliency import METHODS, saliency_maps
from augrepro.saliency.agreement import agreement, photo_crops

SIZES = (32, 64)


def _median_ms(fn, repeats: int, device: torch.device | None = None) -> float:
    def call():
        fn()
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    call()  # warm-up: plans, caches, allocator
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per cell (median reported)")
    parser.add_argument("--batch", type=int, default=128, help="images per batch")
    parser.add_argument("--device", default="cpu", help="device of the torch backend: cpu (default), cuda or auto")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    rows = []
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be positive")

    default_threads = torch.get_num_threads()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, default threads {default_threads}, batch {args.batch}, torch backend on {where}")
    print(f"{'method':18} {'size':>5} {'threads':>7} {'opencv ms':>10} {'torch ms':>9} {'ratio':>6}"
          f" {'peak<=1px':>9} {'r mean':>8} {'r min':>8} {'max|diff|':>9}")
    for size in SIZES:
        images = photo_crops(args.batch, size, size, seed=size)
        for method in METHODS:
            ref = saliency_maps(images, method, backend="opencv")
            on_device = images.to(device)
            stats = agreement(ref, saliency_maps(on_device, method).cpu())
            for threads in (1, default_threads):
                torch.set_num_threads(threads)
                cv2.setNumThreads(threads)
                cv_ms = _median_ms(lambda: saliency_maps(images, method, backend="opencv"), args.repeats)
                th_ms = _median_ms(lambda: saliency_maps(on_device, method), args.repeats, device)
                print(f"{method:18} {size:>5} {threads:>7} {cv_ms:>10.2f} {th_ms:>9.2f} {cv_ms / th_ms:>6.1f}"
                      f" {stats['peak_within_1px']:>9.4f} {stats['r_mean']:>8.6f} {stats['r_min']:>8.6f}"
                      f" {stats['max_abs_diff']:>9.2e}")
                rows.append({"method": method, "size": size, "threads": threads, "opencv_ms": cv_ms, "torch_ms": th_ms,
                             "speedup": cv_ms / th_ms, **{k: float(v) for k, v in stats.items()}})
            torch.set_num_threads(default_threads)
            cv2.setNumThreads(default_threads)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "batch": args.batch, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
