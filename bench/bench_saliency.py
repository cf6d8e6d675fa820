"""Batched torch saliency vs the OpenCV contrib loop (issue 3): speed and agreement.

For 128 images of 32x32 and of 64x64 (crops of scikit-learn's two sample photographs), every method of
``augrepro.saliency.METHODS`` (fine_grained, spectral_residual, frequency_tuned), with
torch.set_num_threads(1) (and cv2.setNumThreads(1)) and with the default thread count, prints the median ms per
batch of the OpenCV loop (``backend="opencv"``; for frequency_tuned, which OpenCV contrib lacks, the per-image
float64 NumPy/OpenCV reference) and of the torch backend, their ratio, and the agreement: peaks (first
argmax) within 1 px, mean / min per-image Pearson correlation, max absolute difference.

``--device cuda`` runs the torch backend on the GPU (synchronized; the OpenCV loop stays on the CPU).

``--design`` also times the design choices that the library's comments point here for, on the CPU: the chunk
sizes of the three detectors (each candidate against the chosen value, with 1 thread and the default count),
the cube root of ``frequency_tuned`` (exp(log(t) / 3) against pow(t, 1/3)) and the float32 against the
float64 products of ``cvops.resize_linear_exact_u8``.

    python bench/bench_saliency.py [--repeats 15] [--batch 128] [--device cpu] [--design] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from pathlib import Path

import cv2
import torch

from augrepro.saliency import METHODS, saliency_maps
from augrepro.saliency.agreement import agreement, photo_crops
from augrepro.saliency.cvops import resize_linear_exact_u8

SIZES = (32, 64)

# --design: per method, the module constant that sets its CPU chunk size (the second with more than one
# thread), and the candidates timed against the chosen value.
CHUNK_KNOBS = {
    "fine_grained": (
        "augrepro.saliency.fine_grained",
        "CHUNK_PIXELS",
        "CHUNK_PIXELS",
        (1 << 15, 1 << 16, 1 << 17, 1 << 18),
    ),
    "spectral_residual": ("augrepro.saliency.spectral_residual", "CHUNK_CPU", "CHUNK_CPU_THREADS", (16, 32, 64, 128)),
    "frequency_tuned": (
        "augrepro.saliency.frequency_tuned",
        "CHUNK_PIXELS",
        "CHUNK_PIXELS",
        (1 << 12, 1 << 14, 1 << 15, 1 << 17),
    ),
}

# Measured once and not rerun by this script (the variants are not in the library any more). On the shared
# 2-core development machine (torch 2.x CPU, 128 photo crops; +-20 % between runs there):
# * spectral_residual with every step in float64 instead of float32: max |diff| to cv2 1.2e-7 (one float32
#   ulp near 1) instead of 3e-7 to 8e-7, 75-80 % identical pixels instead of 12-21 %, but 17.8 instead of
#   12.7 ms for 128 images of 32x32 with one thread (40 % longer).
# * the kept buffers (``LastPerThread``): allocating them per call cost spectral_residual up to 15 % and
#   fine_grained up to 10 % of a 128-image batch on the CPU.
# The figures behind the chosen values, measured the same way as --design does now (compare a new run):
# * spectral_residual chunk: 1 thread, 32 fastest (16: +10 %, 64: +3 %); 2 threads, 64 (32: +8 %, 16: +40 %,
#   128: +20 %).
# * frequency_tuned chunk: 2^15 pixels fastest or tied at 32 x 32 (2^12: 2x slower, 2^17: +10 %) and at
#   64 x 64 (2^14: +15 %, 2^17: +50 %), 1 thread.
# * fine_grained chunk: 2^17 pixels fastest at 32x32 and 64x64 with 1 and 2 threads.
# * the cube root exp(log(t) / 3) twice as fast as pow(t, 1/3); the float32 exact-resize products twice as
#   fast as float64.


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


def _chunk_sweep(images: torch.Tensor, method: str, threads: int, repeats: int) -> list[dict]:
    """Median ms of the torch backend (CPU) per candidate chunk size, the module constant set for the call."""
    module_name, single, multi, candidates = CHUNK_KNOBS[method]
    module = importlib.import_module(module_name)
    name = single if threads == 1 else multi
    chosen = getattr(module, name)
    rows = []
    try:
        for value in sorted({*candidates, chosen}):
            setattr(module, name, value)
            rows.append(
                {
                    "method": method,
                    "size": images.shape[-1],
                    "threads": threads,
                    "constant": name,
                    "value": value,
                    "chosen": value == chosen,
                    "torch_ms": _median_ms(lambda: saliency_maps(images, method), repeats),
                }
            )
    finally:
        setattr(module, name, chosen)
    return rows


def _design(args, default_threads: int) -> list[dict]:
    """The --design figures: chunk sizes, the cube root, the exact resize's product dtype (CPU)."""
    rows = []
    print("\nchunk sizes (torch backend, CPU): ms per batch, and relative to the chosen value")
    for size in SIZES:
        images = photo_crops(args.batch, size, size, seed=size)
        for method in METHODS:
            for threads in sorted({1, default_threads}):
                torch.set_num_threads(threads)
                sweep = _chunk_sweep(images, method, threads, args.repeats)
                base = next(r["torch_ms"] for r in sweep if r["chosen"])
                cells = "  ".join(
                    f"{r['value']}{'*' if r['chosen'] else ''}: {r['torch_ms']:.2f} "
                    f"({100 * (r['torch_ms'] / base - 1):+.0f} %)"
                    for r in sweep
                )
                print(f"chunk {method:18} {size:>3} threads {threads}  {sweep[0]['constant']}  {cells}")
                rows += sweep
            torch.set_num_threads(default_threads)

    torch.set_num_threads(1)
    lab = torch.rand((args.batch, 3, 32, 32), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lab.add_(0.01)
    exp_log = _median_ms(lambda: lab.log().div_(3.0).exp_(), args.repeats)
    power = _median_ms(lambda: lab.pow(1.0 / 3.0), args.repeats)
    print(
        f"cube root, float64, {args.batch} x 3 x 32 x 32, 1 thread: exp(log(t) / 3) {exp_log:.3f} ms, "
        f"pow(t, 1/3) {power:.3f} ms ({power / exp_log:.1f}x)"
    )
    rows.append({"design": "cube_root", "exp_log_ms": exp_log, "pow_ms": power})

    gray = torch.randint(0, 256, (args.batch, 32, 32), generator=torch.Generator().manual_seed(1)).float()
    precision = torch.get_float32_matmul_precision()
    try:
        f32 = _median_ms(lambda: resize_linear_exact_u8(gray, 64, 64), args.repeats)
        torch.set_float32_matmul_precision("high")  # resize_linear_exact_u8 then takes its float64 products
        f64 = _median_ms(lambda: resize_linear_exact_u8(gray, 64, 64), args.repeats)
    finally:
        torch.set_float32_matmul_precision(precision)
    torch.set_num_threads(default_threads)
    print(
        f"exact resize 32x32 -> 64x64, {args.batch} images, 1 thread: float32 products {f32:.3f} ms, "
        f"float64 {f64:.3f} ms ({f64 / f32:.1f}x)"
    )
    rows.append({"design": "exact_resize_dtype", "float32_ms": f32, "float64_ms": f64})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per cell (median reported)")
    parser.add_argument("--batch", type=int, default=128, help="images per batch")
    parser.add_argument("--device", default="cpu", help="device of the torch backend: cpu (default), cuda or auto")
    parser.add_argument(
        "--design", action="store_true", help="also time the chunk sizes and the other design choices (CPU)"
    )
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    rows = []
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be positive")

    default_threads = torch.get_num_threads()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, default threads {default_threads}, batch {args.batch}, torch backend on {where}")
    print(
        f"{'method':18} {'size':>5} {'threads':>7} {'opencv ms':>10} {'torch ms':>9} {'ratio':>6}"
        f" {'peak<=1px':>9} {'r mean':>8} {'r min':>8} {'max|diff|':>9}"
    )
    for size in SIZES:
        images = photo_crops(args.batch, size, size, seed=size)
        for method in METHODS:
            ref = saliency_maps(images, method, backend="opencv")
            on_device = images.to(device)
            stats = agreement(ref, saliency_maps(on_device, method).cpu())
            for threads in (1, default_threads):
                torch.set_num_threads(threads)
                cv2.setNumThreads(threads)
                cv_ms = _median_ms(
                    lambda images=images, method=method: saliency_maps(images, method, backend="opencv"), args.repeats
                )
                th_ms = _median_ms(
                    lambda on_device=on_device, method=method: saliency_maps(on_device, method), args.repeats, device
                )
                print(
                    f"{method:18} {size:>5} {threads:>7} {cv_ms:>10.2f} {th_ms:>9.2f} {cv_ms / th_ms:>6.1f}"
                    f" {stats['peak_within_1px']:>9.4f} {stats['r_mean']:>8.6f} {stats['r_min']:>8.6f}"
                    f" {stats['max_abs_diff']:>9.2e}"
                )
                rows.append(
                    {
                        "method": method,
                        "size": size,
                        "threads": threads,
                        "opencv_ms": cv_ms,
                        "torch_ms": th_ms,
                        "speedup": cv_ms / th_ms,
                        **{k: float(v) for k, v in stats.items()},
                    }
                )
            torch.set_num_threads(default_threads)
            cv2.setNumThreads(default_threads)
    design = _design(args, default_threads) if args.design else []
    if args.json:
        Path(args.json).write_text(
            json.dumps({"device": where, "batch": args.batch, "rows": rows, "design": design}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
