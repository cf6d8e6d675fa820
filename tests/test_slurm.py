"""`snakemake --profile slurm` against a real SLURM cluster started on localhost by the test.

Proves: the profile in slurm/ submits every non-local job through sbatch, training jobs get one GPU
(GRES), the whole chain ends with every output and the report; a training job interrupted by SLURM
(`scontrol requeue`: SIGTERM, then back to the queue) resumes from its checkpoint, not from epoch 0; a
study that asks for two GPUs per run gets a job with both, which trains as a 2-rank torchrun job, and its pilot
(`--config pilot=true`) first measures its shape in a SLURM job with both GPUs, and trains nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_PROTOCOL, add_protocol, add_study, copy_project, job_counts
from slurm_cluster import DEFAULT_CONF, LocalSlurm

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and not Path("/usr/sbin/slurmctld").exists(),
    reason="needs root to install slurm-wlm and munge",
)

# Options for this one-node test cluster only (a real cluster keeps the profile's defaults): no
# slurmdbd here, so sacct cannot answer and the status command must be squeue; first status check
# after 2 s instead of 40 s. MinJobAge (600 s) exceeds three status-check intervals.
TEST_CLUSTER_OPTIONS = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if DEFAULT_CONF.exists() and not DEFAULT_CONF.is_symlink():
        pytest.skip(f"{DEFAULT_CONF} exists: a real SLURM host; the test cluster would clash with it")
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    try:
        yield slurm
    finally:
        slurm.stop()


def run_snakemake(cluster: LocalSlurm, project: Path, *args: str, timeout: int = 420) -> tuple[int, str]:
    """Run Snakemake with the cluster's environment; a run that hangs is stopped with SIGINT."""
    env = dict(cluster.env)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    out = project / "snakemake.out"
    with open(out, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", *args], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
    return proc.returncode, out.read_text()


TINY = {
    "protocol": "tiny",
    "datasets": ["demo"],
    "models": ["resnet8"],
    "augmentations": ["baseline", "cutmix"],
    "seeds": [0, 1],
    # One GPU per training job, as in the paper's studies; memory and threads that fit the test node.
    "resources": {"threads": 1, "gpus": 1, "mem_mb": 1500, "runtime_min": 10},
}


def tiny_project(tmp_path: Path, study: dict, protocol: dict) -> Path:
    project = copy_project(tmp_path / "project")
    add_protocol(project, "tiny", protocol)
    add_study(project, "tiny", study)
    return project


def test_demo_grid_through_the_slurm_profile(cluster, tmp_path):
    project = tiny_project(tmp_path, TINY, TINY_PROTOCOL)
    rc, out = run_snakemake(cluster, project, "--profile", "slurm", "--config", "studies=[tiny]", *TEST_CLUSTER_OPTIONS)
    assert rc == 0, out[-6000:]
    assert job_counts(out)["train"] == 4
    assert out.count("has been submitted with SLURM jobid") >= 5  # prepare + 4 training jobs
    for aug in TINY["augmentations"]:
        for seed in TINY["seeds"]:
            run = project / f"results/runs/tiny/demo/resnet8/{aug}/seed{seed}"
            for name in ("metrics.csv", "checkpoint.pt", "timing.json", "meta.json"):
                assert (run / name).stat().st_size > 0
            meta = json.loads((run / "meta.json").read_text())
            assert meta["slurm_job_id"], "the training ran outside SLURM"
            assert meta["cuda_visible_devices"] in ("0", "1"), "SLURM did not allocate the job one GPU"
    assert (project / "results/aggregate/summary.csv").exists()
    html = (project / "results/report/report.html").read_text()
    assert "data:image/png;base64," in html and "cutmix" in html


def _train_job_id(cluster: LocalSlurm) -> str | None:
    out = cluster.run("squeue", "-h", "-o", "%i %k %T", check=False).stdout
    for line in out.splitlines():
        job_id, comment, state = (line.split() + ["", "", ""])[:3]
        if "rule_train" in comment and state == "RUNNING":
            return job_id
    return None


def test_a_requeued_training_job_resumes_from_its_checkpoint(cluster, tmp_path):
    project = tiny_project(
        tmp_path,
        dict(TINY, augmentations=["baseline"], seeds=[0]),
        dict(TINY_PROTOCOL, epochs=6, max_train_images=1024),
    )
    env = dict(cluster.env)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = project / "results/logs/train/tiny/demo/resnet8/baseline/seed0.log"
    out = project / "snakemake.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "--config", "studies=[tiny]", *TEST_CLUSTER_OPTIONS],
        cwd=project,
        env=env,
        stdout=open(out, "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 240
        job_id = None
        while time.time() < deadline and proc.poll() is None:  # until epoch 2 has finished
            if log.exists() and "epoch 2/6 lr" in log.read_text():
                job_id = _train_job_id(cluster)
                break
            time.sleep(0.2)
        assert job_id, "the training job did not reach epoch 2:\n" + out.read_text()[-3000:]
        first_attempt = log.read_text()
        cluster.run("scontrol", "requeue", job_id)  # SIGTERM to the job, then back into the queue
        # SLURM holds a requeued job back for a while before it is eligible again; start it now.
        for _ in range(100):
            if "JobState=PENDING" in cluster.run("scontrol", "show", "job", job_id).stdout:
                break
            time.sleep(0.2)
        cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now", check=False)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
    assert proc.returncode == 0, out.read_text()[-6000:]
    assert "Restarts=1" in cluster.run("scontrol", "show", "job", job_id).stdout
    assert "epoch 1/6 lr" in first_attempt and "epoch 2/6 lr" in first_attempt
    # Snakemake starts the requeued job's log afresh: it must resume, and train no finished epoch again.
    text = log.read_text()
    assert text.startswith("resuming from"), text[-3000:]
    resumed_epoch = (
        int(text.split(" in epoch ")[1].split()[0])
        if " in epoch " in text
        else int(text.split(" after epoch ")[1].split()[0]) + 1
    )
    assert resumed_epoch >= 3
    assert "epoch 1/6 lr" not in text and "epoch 2/6 lr" not in text
    rows = (project / "results/runs/tiny/demo/resnet8/baseline/seed0/metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_a_two_gpu_study_is_piloted_then_trains_each_run_as_a_two_rank_torchrun_job(cluster, tmp_path):
    """First the pilot (--config pilot=true): its shape's one SLURM job with both GPUs, a 2-rank torchrun job that
    records its measurement, and no training job; then the run itself, with the same two GPUs."""
    from augrepro.runs import PilotKey

    study = dict(TINY, augmentations=["baseline"], seeds=[0], resources=dict(TINY["resources"], gpus=2, threads=2))
    project = tiny_project(tmp_path, study, TINY_PROTOCOL)
    rc, out = run_snakemake(
        cluster,
        project,
        "--profile",
        "slurm",
        "--config",
        "pilot=true",
        "studies=[tiny]",
        "pilot_settings={steps: 4, warmup: 1}",
        *TEST_CLUSTER_OPTIONS,
        timeout=300,
    )
    assert rc == 0, out[-6000:]
    assert job_counts(out)["pilot"] == 1 and "train" not in job_counts(out)
    assert not (project / "results/runs").exists()
    pilot = json.loads((project / PilotKey("tiny", "demo", "resnet8", 2, 1).result).read_text())
    assert pilot["status"] == "ok" and pilot["job"]["slurm_job_id"], "the pilot ran outside SLURM"
    assert pilot["job"]["cuda_visible_devices"] == "0,1", "SLURM did not allocate the pilot the shape's two GPUs"
    assert pilot["world_size"] == 2 and len(pilot["ranks"]) == 2 and pilot["train_images_per_second"] > 0
    assert "augrepro pilot: 1 shapes, 1 measured, 0 failed" in out
    # the plan now prices the run on the measurement: its wall hours times its two GPUs
    from augrepro.studies import plan_rows, select_from_config
    from augrepro.studies.pilot import run_seconds

    row = plan_rows(select_from_config({"studies": ["tiny"]}, project))[0]
    assert row.price == "pilot" and row.gpu_hours == pytest.approx(
        2 * run_seconds(pilot, pilot["epochs"]) / 3600, rel=1e-12
    )

    run = project / "results/runs/tiny/demo/resnet8/baseline/seed0"
    rc, out = run_snakemake(
        cluster,
        project,
        "--profile",
        "slurm",
        "--config",
        "studies=[tiny]",
        *TEST_CLUSTER_OPTIONS,
        str((run / "meta.json").relative_to(project)),
        timeout=300,
    )
    assert rc == 0, out[-6000:]
    meta = json.loads((run / "meta.json").read_text())
    assert meta["slurm_job_id"], "the training ran outside SLURM"
    assert meta["cuda_visible_devices"] == "0,1", "SLURM did not allocate the job its two GPUs"
    assert meta["distributed"]["world_size"] == 2 and meta["distributed"]["launcher"] == "torchrun"
    assert meta["distributed"]["backend"] == "gloo" and meta["distributed"]["per_rank_batch"] == 16
    timing = json.loads((run / "timing.json").read_text())
    assert timing["world_size"] == 2 and len(timing["rank_device_names"]) == 2
    log = (project / "results/logs/train/tiny/demo/resnet8/baseline/seed0.log").read_text()
    assert "launching 2 x 1 processes" in log and "2 processes (gloo" in log
