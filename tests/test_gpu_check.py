"""bench/gpu_check.sh, the one command for every GPU figure, run on the CPU with tiny sizes (--tiny): every step
runs and the JSON holds every figure's key, so that the script has not rotted when a GPU machine is lent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

STEPS = (
    "resnet18_cifar_eager",
    "resnet18_cifar_compiled",
    "method_overheads",
    "saliency",
    "resnet50",
    "imagenet_pipeline",
    "ddp_two_processes_one_gpu",
    "cuda_tests",
)
SUMMARY = (
    "resnet18_cifar_eager_img_s",
    "resnet18_cifar_compiled_img_s",
    "resnet18_cifar_hours_200_epochs",
    "method_overheads",
    "saliency_speedups",
    "resnet50_train_img_s_1gpu",
    "resnet50_hours_300_epochs_1gpu",
    "resnet50_ngpu",
    "imagenet_decode_img_s_per_gpu",
    "imagenet_pipeline_img_s_per_gpu",
    "imagenet_worker_img_s_per_core",
    "pipeline_margin_over_resnet50",
    "ddp_two_processes_one_gpu",
    "cuda_tests",
)


@pytest.mark.slow
def test_gpu_check_runs_every_step_on_the_cpu_and_writes_one_json(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path))
    done = subprocess.run(
        [str(ROOT / "bench/gpu_check.sh"), "--tiny"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["tiny"] is True and report["total_seconds"] <= report["budget_seconds"]
    assert set(report["steps"]) == set(STEPS)
    for name in STEPS:
        step = report["steps"][name]
        assert step["rc"] == 0 and step["figures"], (name, step["stderr_tail"])
    summary = report["summary"]
    assert set(summary) == set(SUMMARY)
    numbers = [k for k in SUMMARY if k.endswith(("_img_s", "_epochs", "_1gpu", "_per_gpu", "_per_core", "_resnet50"))]
    assert all(isinstance(summary[k], float) and summary[k] > 0 for k in numbers), {k: summary[k] for k in numbers}
    assert set(summary["method_overheads"]) == {"baseline", "cutmix"}
    assert (
        summary["ddp_two_processes_one_gpu"][0]["backend"] == "gloo"
        and summary["ddp_two_processes_one_gpu"][0]["train_img_s"] > 0
    )
    tests = summary["cuda_tests"]
    assert tests["failures"] == 0 and tests["errors"] == 0 and tests["passed"] + tests["skipped"] >= 10
    assert isinstance(report["environment"]["cuda_available"], bool) and isinstance(report["environment"]["gpus"], list)
