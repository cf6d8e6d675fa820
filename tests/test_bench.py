"""Every benchmark under bench/ runs (on tiny sizes) and prints its figures, so that none has rotted when a
GPU machine is lent for the real measurement."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

CASES = {
    "bench_train.py": (
        ["--models", "resnet8", "--methods", "baseline", "saliencymix", "--steps", "1", "--batch", "8"],
        ["img/s", "eval img/s", "h/200 ep", "saliencymix", "paper"],
    ),
    "bench_saliency.py": (
        ["--repeats", "1", "--batch", "4", "--design"],
        ["fine_grained", "spectral_residual", "peak<=1px", "chunk", "cube root", "exact resize"],
    ),
    "bench_methods.py": (["--repeats", "1", "--methods", "baseline,cutmix"], ["training step", "cutmix", "/ step"]),
    "bench_report.py": (["--runs", "4", "--epochs", "3"], ["aggregate + render"]),
    "bench_load_prepared.py": (["--repeats", "1"], ["load #1"]),
    "bench_protocol_variants.py": (
        ["--seeds", "0", "1", "--epochs", "1", "--train", "64", "--test", "32"],
        ["fp32", "bf16", "bn2", "minus fp32"],
    ),
    "bench_file_pipelines.py": (
        ["--count", "4", "--workers", "0", "--batch", "2", "--width", "80", "--height", "60"],
        ["train img/s", "snapmix warp", "imagenet", "h / 200 ep CUB"],
    ),
    "bench_pipelines.py": (
        ["--repeats", "1", "--batch", "4", "--sizes", "8"],
        ["img/s", "pad_crop_flip", "random_resized_crop_flip_jitter", "none"],
    ),
    "bench_imagenet_pipeline.py": (
        ["--images", "6", "--batch", "4", "--scale", "0.6", "--consumer", "100"],
        ["per core", "decode only", "train pipeline", "eval transform", "margin"],
    ),
    "bench_paired_seeds.py": (
        ["--seeds", "0", "1", "--epochs", "1", "--train", "64", "--test", "32", "--methods", "baseline", "cutmix"],
        ["paired std", "unpaired std", "ratio", "cutmix", "random streams: crn-1"],
    ),
    "bench_dry_run.py": (["--repeats", "1", "--studies", "demo"], ["cold", "warm 1", "torch imported: no"]),
    "bench_resnet50.py": (
        ["--batch", "4", "--size", "64", "--steps", "1", "--warmup", "0", "--eval-batch", "2", "--world-sizes", "1,2"],
        ["img/s", "h/300 ep", "gloo", "evaluation"],
    ),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_figures(script):
    args, expected = CASES[script]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for text in expected:
        assert text in done.stdout, f"{script} did not print {text!r}:\n{done.stdout}"


def test_every_benchmark_is_covered():
    assert sorted(p.name for p in (ROOT / "bench").glob("bench_*.py")) == sorted(CASES)
