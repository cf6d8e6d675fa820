"""Every GPU figure of the project in one run, into one JSON: the driver of bench/gpu_check.sh.

Steps (each a benchmark of bench/ with ``--json``, or pytest), in this order, each with a time limit taken from
what is left of the budget (8 minutes by default):

1. ``resnet18_cifar_eager`` / ``resnet18_cifar_compiled``: bench_train.py, ResNet-18 on CIFAR-sized batches;
2. ``method_overheads``: bench_methods.py on the GPU, each method as a share of a training step;
3. ``saliency``: bench_saliency.py, the torch saliency backend on the GPU against the OpenCV loop;
4. ``resnet50``: bench_resnet50.py, training img/s and 300-epoch hours on 1 GPU and on every visible GPU;
5. ``imagenet_pipeline``: bench_imagenet_pipeline.py, GPU JPEG decode + augmentation (and the worker path
   per CPU core), with its margin over step 4's training img/s;
6. ``ddp_two_processes_one_gpu``: a 2-process data-parallel ResNet-50 step on one GPU (NCCL, which refuses two
   ranks on one GPU, then gloo on CUDA tensors);
7. ``cuda_tests``: ``pytest -m cuda`` (every test that needs CUDA; junit counts and failures).

``--tiny`` runs the same steps on the CPU with tiny sizes (tests/test_gpu_check.py checks the JSON's keys),
so that the script has not rotted when a GPU comes. Nothing is downloaded: the images are made here.

    bench/gpu_check.sh [--tiny] [--budget 480] [--out DIR]     (DIR: $OUT, else ./gpu_check_out)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def steps(tiny: bool, gpus: int) -> list[tuple[str, list[str], float]]:
    """(name, arguments of a bench script or pytest, share of the budget) in running order."""
    cpu = ["--device", "cpu"]
    every = ",".join(sorted({"1", str(max(gpus, 1))}))
    if tiny:
        return [
            (
                "resnet18_cifar_eager",
                ["bench_train.py", "--models", "resnet8", "--methods", "baseline", "--steps", "1", "--batch", "8"],
                0.08,
            ),
            (
                "resnet18_cifar_compiled",
                [
                    "bench_train.py",
                    "--models",
                    "resnet8",
                    "--methods",
                    "baseline",
                    "--steps",
                    "1",
                    "--batch",
                    "8",
                    "--compile",
                ],
                0.15,
            ),
            (
                "method_overheads",
                ["bench_methods.py", "--repeats", "1", "--methods", "baseline,cutmix", "--batch", "8", *cpu],
                0.08,
            ),
            ("saliency", ["bench_saliency.py", "--repeats", "1", "--batch", "4", *cpu], 0.08),
            (
                "resnet50",
                [
                    "bench_resnet50.py",
                    "--batch",
                    "4",
                    "--size",
                    "64",
                    "--steps",
                    "1",
                    "--warmup",
                    "0",
                    "--eval-batch",
                    "2",
                    "--world-sizes",
                    "1",
                    *cpu,
                ],
                0.1,
            ),
            (
                "imagenet_pipeline",
                ["bench_imagenet_pipeline.py", "--images", "6", "--batch", "4", "--scale", "0.6", *cpu],
                0.08,
            ),
            (
                "ddp_two_processes_one_gpu",
                [
                    "bench_resnet50.py",
                    "--batch",
                    "4",
                    "--size",
                    "64",
                    "--steps",
                    "1",
                    "--warmup",
                    "0",
                    "--world-sizes",
                    "2",
                    *cpu,
                ],
                0.15,
            ),
            ("cuda_tests", ["pytest"], 0.28),
        ]
    return [
        (
            "resnet18_cifar_eager",
            ["bench_train.py", "--models", "resnet18", "--methods", "baseline", "saliencymix"],
            0.07,
        ),
        (
            "resnet18_cifar_compiled",
            ["bench_train.py", "--models", "resnet18", "--methods", "baseline", "--compile"],
            0.12,
        ),
        ("method_overheads", ["bench_methods.py", "--device", "cuda", "--repeats", "5"], 0.08),
        ("saliency", ["bench_saliency.py", "--device", "cuda", "--repeats", "5"], 0.1),
        ("resnet50", ["bench_resnet50.py", "--world-sizes", every, "--steps", "15"], 0.15),
        (
            "imagenet_pipeline",
            ["bench_imagenet_pipeline.py", "--images", "1024", "--batch", "256", "--worker-images", "128"],
            0.1,
        ),
        (
            "ddp_two_processes_one_gpu",
            [
                "bench_resnet50.py",
                "--share-device",
                "--world-sizes",
                "2",
                "--batch",
                "64",
                "--steps",
                "5",
                "--warmup",
                "2",
            ],
            0.1,
        ),
        ("cuda_tests", ["pytest"], 0.28),
    ]


def run_step(name: str, args: list[str], out: Path, limit: float, extra: list[str]) -> dict:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1"
    )
    figures = out / f"{name}.json"
    if args[0] == "pytest":
        junit = out / "cuda_tests.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "cuda",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            str(ROOT / "tests"),
        ]
    else:
        cmd = [sys.executable, str(BENCH / args[0]), *args[1:], *extra, "--json", str(figures)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(limit, 1.0))
        rc, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = "timeout", _text(exc.stdout), _text(exc.stderr)
    record = {
        "command": " ".join(cmd[1:]),
        "rc": rc,
        "seconds": round(time.perf_counter() - start, 1),
        "limit_seconds": round(limit, 1),
        "stdout_tail": stdout[-4000:],
        "stderr_tail": stderr[-3000:],
    }
    (out / f"{name}.log").write_text(stdout + "\n--- stderr ---\n" + stderr)
    if args[0] == "pytest":
        record["figures"] = _junit(out / "cuda_tests.xml")
    elif figures.exists():
        record["figures"] = json.loads(figures.read_text())
    else:
        record["figures"] = None
    return record


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _junit(path: Path) -> dict | None:
    if not path.exists():
        return None
    suites = ET.parse(path).getroot()
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed, skipped = [], set()
    for case in suites.iter("testcase"):
        counts["tests"] += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                counts["failures" if kind == "failure" else "errors"] += 1
                failed.append({"test": name, "message": (node.get("message") or "")[:500]})
        node = case.find("skipped")
        if node is not None:
            counts["skipped"] += 1
            skipped.add((node.get("message") or "")[:200])
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "failed": failed, "skip_reasons": sorted(skipped)}


def environment() -> dict:
    import torch

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [],
        "cpu_count": os.cpu_count(),
    }
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = torch.version.cuda
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        )
        info["nvidia_smi"] = smi.stdout.strip().splitlines()
    return info


def summary(results: dict) -> dict:
    """The headline figures (None where a step gave none)."""

    def fig(step, *path):
        value = (results.get(step) or {}).get("figures")
        for key in path:
            if value is None:
                return None
            value = (
                value[key]
                if isinstance(key, int) and isinstance(value, list) and len(value) > key
                else (value.get(key) if isinstance(value, dict) else None)
            )
        return value

    runs = fig("resnet50", "runs") or []
    one = next((r for r in runs if r.get("world_size") == 1 and "error" not in r), None)
    many = [r for r in runs if r.get("world_size", 1) > 1 and "error" not in r]
    train_ips = one["train_img_s"] if one else None
    pipeline_ips = fig("imagenet_pipeline", "device_train_img_s")
    ddp = (fig("ddp_two_processes_one_gpu_nccl", "runs") or []) + (fig("ddp_two_processes_one_gpu", "runs") or [])
    rows = fig("saliency", "rows") or []
    threads = max((r["threads"] for r in rows), default=None)  # the default thread count of the OpenCV loop
    saliency = {f"{r['method']}@{r['size']}px": r["speedup"] for r in rows if r["threads"] == threads}
    return {
        "resnet18_cifar_eager_img_s": fig("resnet18_cifar_eager", "rows", 0, "images_per_second"),
        "resnet18_cifar_compiled_img_s": fig("resnet18_cifar_compiled", "rows", 0, "images_per_second"),
        "resnet18_cifar_hours_200_epochs": fig("resnet18_cifar_eager", "rows", 0, "hours_200_epochs"),
        "method_overheads": {r["method"]: r["share_of_step"] for r in (fig("method_overheads", "rows") or [])},
        "saliency_speedups": saliency,
        "resnet50_train_img_s_1gpu": train_ips,
        "resnet50_hours_300_epochs_1gpu": one.get("hours_300_epochs") if one else None,
        "resnet50_ngpu": [{k: r.get(k) for k in ("world_size", "train_img_s", "hours_300_epochs")} for r in many],
        "imagenet_decode_img_s_per_gpu": fig("imagenet_pipeline", "device_decode_img_s"),
        "imagenet_pipeline_img_s_per_gpu": pipeline_ips,
        "imagenet_worker_img_s_per_core": fig("imagenet_pipeline", "worker_train_img_s_per_core"),
        "pipeline_margin_over_resnet50": (pipeline_ips / train_ips) if pipeline_ips and train_ips else None,
        "ddp_two_processes_one_gpu": [{k: r.get(k) for k in ("backend", "train_img_s", "error")} for r in ddp],
        "cuda_tests": {k: fig("cuda_tests", k) for k in ("passed", "failures", "errors", "skipped")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU, tiny sizes: a check that the script runs")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all steps (default 8 minutes)")
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out", help="folder of the JSON and logs")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    env = environment()
    gpus = len(env["gpus"])
    if not args.tiny and not gpus:
        print("gpu_check: no CUDA device visible; run with --tiny for the CPU check", file=sys.stderr)
    plan = steps(args.tiny, gpus)
    results: dict = {}
    for i, (name, step_args, share) in enumerate(plan):
        left = args.budget - (time.perf_counter() - started)
        # this step's share of what is left (time a step did not use flows to the later ones)
        limit = left * share / sum(s for _, _, s in plan[i:])
        extra = []
        if name == "imagenet_pipeline" and summary(results)["resnet50_train_img_s_1gpu"]:
            extra = ["--consumer", str(summary(results)["resnet50_train_img_s_1gpu"])]
        if name == "ddp_two_processes_one_gpu" and not args.tiny:
            results[name + "_nccl"] = run_step(name + "_nccl", step_args + ["--backend", "nccl"], out, limit / 2, [])
            limit -= results[name + "_nccl"]["seconds"]
        print(f"[{time.perf_counter() - started:6.1f} s] {name} (limit {limit:.0f} s)", flush=True)
        results[name] = run_step(name, step_args, out, limit, extra)
        print(f"          rc {results[name]['rc']} in {results[name]['seconds']} s", flush=True)
    report = {
        "tiny": args.tiny,
        "budget_seconds": args.budget,
        "total_seconds": round(time.perf_counter() - started, 1),
        "environment": env,
        "summary": summary(results),
        "steps": results,
    }
    path = out / "gpu_check.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report["summary"], indent=2, default=str))
    print(f"gpu_check: {path}")
    return 0 if all(r["rc"] == 0 for k, r in results.items() if not k.endswith("_nccl")) else 1


if __name__ == "__main__":
    sys.exit(main())
