"""Workstation GPU pinning: at most one job per GPU, distinct GPUs, released when a job dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import copy_project, snakemake

from augrepro.train.gpus import pin_free_gpu

HOLDER = """
import sys, time
from augrepro.train.gpus import pin_free_gpu
index, lock = pin_free_gpu(int(sys.argv[1]), sys.argv[2], poll_seconds=0.05)
import os
print(os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
time.sleep(float(sys.argv[3]))
"""


def holder(count, lock_dir, seconds):
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(count), str(lock_dir), str(seconds)], stdout=subprocess.PIPE, text=True
    )


def test_jobs_get_distinct_gpus_and_a_third_waits_for_a_free_one(tmp_path):
    first, second = holder(2, tmp_path, 30), holder(2, tmp_path, 30)
    gpus = {first.stdout.readline().strip(), second.stdout.readline().strip()}
    assert gpus == {"0", "1"}
    third = holder(2, tmp_path, 0)
    time.sleep(1.0)
    assert third.poll() is None  # both GPUs taken: it waits
    first.send_signal(signal.SIGKILL)  # a job killed without warning releases its GPU
    first.wait()
    assert third.stdout.readline().strip() in gpus
    assert third.wait(timeout=30) == 0
    second.kill()
    second.wait()


def test_pinning_sets_cuda_visible_devices_and_times_out_when_all_taken(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    index, lock = pin_free_gpu(1, tmp_path)
    assert index == 0 and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    other = holder(1, tmp_path, 0)
    time.sleep(0.5)
    assert other.poll() is None
    lock.close()
    assert other.wait(timeout=30) == 0
    with pytest.raises(ValueError, match="at least 1"):
        pin_free_gpu(0, tmp_path)


def test_workstation_profile_limits_gpu_jobs_and_pins_them(tmp_path):
    project = copy_project(tmp_path / "project")
    result = snakemake(project, "--profile", "workstation", "--configfile", "config/paper.yaml", "--dry-run")
    assert result.returncode == 0, result.stderr
    train_lines = [line for line in result.stdout.splitlines() if "resources:" in line and "gpu=1" in line]
    # the paper's 1,243 runs (tests/test_workflow.py derives them) but ImageNet's 30 (no data.imagenet_path) and
    # SnapMix's 60 on Stanford Cars (no source for its files), plus SalfMix Table 8's 30 detection jobs
    assert len(train_lines) == 1243 - 30 - 60 + 30


MULTI_HOLDER = """
import sys, time, os
from augrepro.train.gpus import pin_free_gpus
indices, locks = pin_free_gpus(int(sys.argv[1]), sys.argv[2], int(sys.argv[4]), poll_seconds=0.05)
print(os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
time.sleep(float(sys.argv[3]))
"""


def test_a_data_parallel_job_takes_several_gpus_at_once_or_waits(tmp_path):
    def multi(seconds, take):
        return subprocess.Popen(
            [sys.executable, "-c", MULTI_HOLDER, "3", str(tmp_path), str(seconds), str(take)],
            stdout=subprocess.PIPE,
            text=True,
        )

    pair = multi(30, 2)
    assert pair.stdout.readline().strip() == "0,1"
    other = multi(0, 2)  # one GPU free, two needed: it waits, holding none
    single = holder(3, tmp_path, 0)
    assert single.stdout.readline().strip() == "2"
    assert single.wait(timeout=30) == 0
    assert other.poll() is None
    pair.send_signal(signal.SIGKILL)
    pair.wait()
    assert other.stdout.readline().strip() == "0,1"
    assert other.wait(timeout=30) == 0
    with pytest.raises(ValueError, match="asks for 4 GPUs but local_gpus is 3"):
        from augrepro.train.gpus import pin_free_gpus

        pin_free_gpus(3, tmp_path, 4)
