"""Data-parallel training on the CPU: real torch.distributed (gloo), real torchrun, the real engine.

- two processes train as one process with the same global batch (a model without BatchNorm: equal weights), from
  the same initial weights and in the same order of images;
- on two ranks, every method of a seed starts from the same weights and each rank gets the same batches (order,
  crops and flips) whatever the method;
- with BatchNorm per replica, as one process that normalizes each half of the batch on its own;
- SIGTERM to one rank mid-epoch stops both at one step with one resume.pt; the resume ends bitwise equal to
  an uninterrupted two-process run; a resume with another world size is refused;
- two torchrun agents meeting at a c10d rendezvous (the multi-node launch, on one host) train the same run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import stream_trace
import torch
import torch.nn as nn

from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.train.distributed import Distributed
from augrepro.train.engine import train_run

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _npz(path: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    labels = np.arange(n_train + n_test) % 10
    images = rng.integers(0, 256, size=(n_train + n_test, 3, 32, 32), dtype=np.uint8)
    images[:, labels % 3, :8, :8] = 255  # a weak class signal
    save_prepared(
        PreparedData(
            images[:n_train], labels[:n_train], images[n_train:], labels[n_train:], [str(i) for i in range(10)]
        ),
        path,
    )
    return path


def _run(
    model: str, dataset_key: str = "demo", method: str = "baseline", epochs: int = 2, batch_size: int = 16, **recipe
) -> dict:
    traditional = dataset_key.endswith("+")
    return {
        "protocol": "test",
        "dataset": "demo",
        "dataset_key": dataset_key,
        "traditional": traditional,
        "model": model,
        "augmentation": method,
        "method": method,
        "method_params": {"prob": 1.0} if method != "baseline" else {},
        "seed": 5,
        "recipe": {
            "name": "test",
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": 0.05,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "lr_schedule": "multistep",
            "milestones": [1],
            "gamma": 0.5,
            "pipeline": {"name": "pad_crop_flip", "padding": 4},
            "numerics": "fp32",
            "reported": "best",
            "architecture": "cifar",
            **recipe,
        },
    }


# --- test models, registered in the worker processes only ----------------------------------------


class _GroupNormalizedBN(nn.BatchNorm2d):
    """BatchNorm that, in training, normalizes each of ``groups`` parts of the batch (torch.tensor_split) with
    that part's statistics and keeps the running statistics of the first part only: what per-replica
    BatchNorm on ``groups`` ranks computes (DDP keeps rank 0's running statistics)."""

    groups = 2

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        parts = torch.tensor_split(x, self.groups)
        outs = [super().forward(parts[0])]  # updates the running statistics
        for part in parts[1:]:  # the others' statistics go to copies that are dropped
            outs.append(
                nn.functional.batch_norm(
                    part,
                    self.running_mean.clone(),
                    self.running_var.clone(),
                    self.weight,
                    self.bias,
                    True,
                    self.momentum,
                    self.eps,
                )
            )
        return torch.cat(outs)


def _net(num_classes: int, norm=None) -> nn.Module:
    layers = [nn.Conv2d(3, 8, 3, stride=2, padding=1)]
    if norm:
        layers.append(norm(8))
    layers += [nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1)]
    if norm:
        layers.append(norm(16))
    layers += [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes)]
    return nn.Sequential(*layers)


def _register_test_models() -> None:
    from augrepro.models.registry import MODELS

    builders = {
        "test_plain": lambda num_classes: _net(num_classes),
        "test_bn": lambda num_classes: _net(num_classes, nn.BatchNorm2d),
        "test_bn_halves": lambda num_classes: _net(num_classes, _GroupNormalizedBN),
    }
    for name, build in builders.items():
        if name not in MODELS:  # declared as the catalog declares a model, then registered here
            MODELS.declare(name, __name__, options=())
            MODELS.register(name)(build)


def _worker(rank: int, world_size: int, port: int, run: dict, data: str, out: str, device: str, trace: bool) -> None:
    """One process of a run (torch.multiprocessing.spawn): torchrun's environment, then the engine; with ``trace``,
    what the rank drew is saved to ``out/trace<rank>.pt`` (tests/stream_trace.py)."""
    if world_size > 1:
        os.environ.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
    _register_test_models()
    drawn = stream_trace.record() if trace else None
    train_run(run, data, out, {"device": device, "eval_batch_size": 7}, threads=1, log=lambda msg: None)
    if drawn is not None:
        torch.save(drawn, Path(out) / f"trace{rank}.pt")


def _train(run: dict, data: Path, out: Path, world_size: int, device: str = "cpu", trace: bool = False) -> dict:
    torch.multiprocessing.spawn(
        _worker, args=(world_size, _free_port(), run, str(data), str(out), device, trace), nprocs=world_size
    )
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


def _traces(out: Path, world_size: int) -> list[dict]:
    return [torch.load(out / f"trace{rank}.pt", weights_only=True) for rank in range(world_size)]


@pytest.fixture(scope="module")
def odd_npz(tmp_path_factory):
    # 57 training images in global batches of 16: the last step has 9, split 5 / 4 between the two ranks
    return _npz(tmp_path_factory.mktemp("odd") / "data.npz", 57, 23)


def _metrics(path: Path) -> list[dict]:
    import csv

    return [{k: float(v) for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(open(path))]


def test_two_processes_train_as_one_process_with_the_same_global_batch(odd_npz, tmp_path):
    run = _run("test_plain", epochs=2)
    one = _train(run, odd_npz, tmp_path / "one", 1, trace=True)
    two = _train(run, odd_npz, tmp_path / "two", 2, trace=True)
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-6)
    (single,), ranks = _traces(tmp_path / "one", 1), _traces(tmp_path / "two", 2)
    for drawn in ranks:  # the initial weights and every epoch's order: the seed's, whatever the world size
        assert stream_trace.same_weights(drawn["weights"], single["weights"])
        assert stream_trace.same_tensors(drawn["orders"], single["orders"]) and len(single["orders"]) == 2
    assert not torch.allclose(one["0.weight"], single["weights"]["0.weight"], atol=1e-3)  # it trained
    for a, b in zip(_metrics(tmp_path / "one/metrics.csv"), _metrics(tmp_path / "two/metrics.csv")):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5)
    meta = json.loads((tmp_path / "two/meta.json").read_text())
    assert meta["distributed"]["world_size"] == 2 and meta["distributed"]["per_rank_batch"] == 8
    timing = json.loads((tmp_path / "two/timing.json").read_text())
    assert timing["world_size"] == 2 and len(timing["rank_device_names"]) == 2
    assert json.loads((tmp_path / "one/timing.json").read_text())["world_size"] == 1


def test_per_replica_batchnorm_equals_one_process_normalizing_each_half(odd_npz, tmp_path):
    """Per-replica BatchNorm: every rank normalizes its part of the batch (as DataParallel did), and the running
    statistics kept are rank 0's: as one process whose BatchNorm normalizes each half on its own."""
    two = _train(_run("test_bn", epochs=2), odd_npz, tmp_path / "two", 2)
    halves = _train(_run("test_bn_halves", epochs=2), odd_npz, tmp_path / "halves", 1)
    whole = _train(_run("test_bn", epochs=2), odd_npz, tmp_path / "whole", 1)
    assert two.keys() == halves.keys()
    for k in two:
        torch.testing.assert_close(two[k], halves[k], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(two["1.weight"], whole["1.weight"], rtol=1e-4, atol=1e-5)  # not the whole batch's
    for a, b in zip(_metrics(tmp_path / "halves/metrics.csv"), _metrics(tmp_path / "two/metrics.csv")):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5)
    assert json.loads((tmp_path / "two/meta.json").read_text())["distributed"]["batchnorm"] == "per_replica"


def test_on_two_ranks_every_method_of_a_seed_draws_the_same_weights_order_and_crops(odd_npz, tmp_path):
    """Common random numbers under torch.distributed: at one seed, the baseline and CutMix (whose draws come from
    each rank's own method streams) start from the same weights, and each rank gets the same images with the same
    crops and flips at every step of every epoch."""
    drawn = {}
    for method in ("baseline", "cutmix"):
        _train(_run("test_plain", "demo+", method, epochs=2), odd_npz, tmp_path / method, 2, trace=True)
        drawn[method] = _traces(tmp_path / method, 2)
    for rank in range(2):
        stream_trace.assert_same_draws(drawn["baseline"][rank], drawn["cutmix"][rank])
    assert stream_trace.same_weights(drawn["baseline"][0]["weights"], drawn["baseline"][1]["weights"])
    assert not torch.equal(drawn["baseline"][0]["images"][0], drawn["baseline"][1]["images"][0])  # each its part
    cutmix = torch.load(tmp_path / "cutmix/checkpoint.pt", weights_only=True)["model"]
    baseline = torch.load(tmp_path / "baseline/checkpoint.pt", weights_only=True)["model"]
    assert not stream_trace.same_weights(cutmix, baseline)  # the methods did train differently


# --- sharding, unit level -------------------------------------------------------------------------


def test_each_step_is_split_between_the_ranks_and_an_uneven_step_keeps_the_global_mean():
    order = torch.randperm(41, generator=torch.Generator().manual_seed(0))
    shards = [Distributed(rank, 4).shard(order, 8) for rank in range(4)]
    assert all(s.batch == 2 and s.steps == 5 for s in shards)  # 5 full steps of 8, then 1 image: skipped
    for step in range(5):
        parts = [s.order[step * 2 : (step + 1) * 2] for s in shards]
        assert torch.equal(torch.cat(parts), order[step * 8 : (step + 1) * 8])
    # 41 = 5 x 8 + 1: with 4 ranks the last image cannot be split and is skipped; with 2 it is not
    shards = [Distributed(rank, 2).shard(order[:37], 8) for rank in range(2)]
    assert [s.steps for s in shards] == [5, 5]
    last = [len(s.order) - 4 * s.batch for s in shards]
    assert last == [3, 2]  # 5 images: 3 + 2
    scales = [s.loss_scale(4) for s in shards]
    assert scales == pytest.approx([2 * 3 / 5, 2 * 2 / 5])  # sum of scale x mean = 2 x the mean of all 5
    assert shards[0].loss_scale(0) == 1.0
    single = Distributed().shard(order, 8)
    assert single.order is order and single.steps == 6 and single.batch == 8  # one process keeps the last image


def test_a_batch_size_the_world_size_does_not_divide_is_refused():
    with pytest.raises(ValueError, match="not a multiple of the world size 3"):
        Distributed(0, 3).shard(torch.arange(20), 16)


def test_synchronized_batchnorm_is_refused_on_the_cpu():
    with pytest.raises(RuntimeError, match="batchnorm: sync needs GPUs"):
        Distributed(0, 2).prepare_model(_net(10, nn.BatchNorm2d), "sync", torch.device("cpu"))
    with pytest.raises(ValueError, match="valid: per_replica, sync"):
        Distributed().prepare_model(_net(10), "ghost", torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="synchronized BatchNorm over NCCL needs 2 CUDA devices")
def test_synchronized_batchnorm_on_two_gpus_equals_one_process_on_the_whole_batch(tmp_path):
    data = _npz(tmp_path / "data.npz", 64, 16)
    run = _run("test_bn", epochs=1, batchnorm="sync")
    two = _train(run, data, tmp_path / "two", 2, "cuda")
    whole = _train(_run("test_bn", epochs=1), data, tmp_path / "whole", 1, "cuda")
    for k in two:
        torch.testing.assert_close(two[k].cpu(), whole[k].cpu(), rtol=1e-3, atol=1e-4)


# --- real torchrun: SIGTERM to one rank, resume, rendezvous ---------------------------------------


@pytest.fixture(scope="module")
def torchrun_case(tmp_path_factory):
    """A run (resnet8, CutMix, pad-crop-flip: every per-rank draw) and its uninterrupted 2-process result."""
    base = tmp_path_factory.mktemp("torchrun")
    data = _npz(base / "data.npz", 256, 40, seed=1)
    run = _run("resnet8", "demo+", "cutmix", epochs=3)
    run_file = base / "run.json"
    run_file.write_text(json.dumps(run))
    ref = _launch(run_file, data, base / "reference")
    assert ref.wait(timeout=300) == 0, (base / "reference.log").read_text()[-3000:]
    return run_file, data, base / "reference"


def _launch(run_file: Path, data: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "augrepro.train",
            str(run_file),
            str(data),
            str(out),
            "--threads",
            "2",
            "--execution",
            json.dumps({"device": "cpu"}),
            "--nproc-per-node",
            "2",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(out.parent / f"{out.name}.log", "ab"),
        env=env,
    )


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _rank_pid(launcher: int, rank: int) -> int | None:
    for pid in _descendants(launcher):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RUN_ID" in b" ".join(env):
            return pid
    return None


def _same_result(a: Path, b: Path) -> None:
    assert _metrics(a / "metrics.csv") == _metrics(b / "metrics.csv")
    wa = torch.load(a / "checkpoint.pt", weights_only=True)["model"]
    wb = torch.load(b / "checkpoint.pt", weights_only=True)["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_sigterm_to_one_rank_stops_both_at_one_step_and_the_resume_is_bitwise_equal(torchrun_case, tmp_path):
    """SIGTERM to rank 1 mid-epoch; a resume; SIGTERM to the launcher (exit 143); a resume: bitwise equal."""
    run_file, data, reference = torchrun_case
    out = tmp_path / "out"
    proc = _launch(run_file, data, out)
    deadline = time.time() + 120
    while not (out / "resume.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)  # until epoch 1 is done
    rank1 = _rank_pid(proc.pid, 1)
    assert rank1, "no rank-1 worker found: " + (tmp_path / "out.log").read_text()[-3000:]
    time.sleep(0.05)  # inside epoch 2
    os.kill(rank1, signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    log = (tmp_path / "out.log").read_text()
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["world_size"] == 2 and isinstance(state["rng"], list) and len(state["rng"]) == 2
    assert state["partial"] is not None and len(state["partial"]) == 2, "the stop did not land mid-epoch"
    steps = {int(p["step"]) for p in state["partial"]}
    assert len(steps) == 1 and 0 < steps.pop() < 16, "the ranks did not stop at the same step"
    assert "SIGTERM in epoch 2" in log
    assert not (out / "metrics.csv").exists()

    with pytest.raises(RuntimeError, match="written by a run on 2 process"):  # one process may not resume it
        train_run(json.loads(run_file.read_text()), data, out, {"device": "cpu"}, threads=1, log=lambda m: None)

    # SIGTERM to the launcher (what SLURM and Snakemake signal): passed on through torchrun to every rank
    saved = (out / "resume.pt").stat().st_mtime_ns
    proc = _launch(run_file, data, out)
    while (out / "resume.pt").stat().st_mtime_ns == saved and time.time() < deadline + 120 and proc.poll() is None:
        time.sleep(0.02)  # until the resumed run has finished epoch 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, (tmp_path / "out.log").read_text()[-3000:]
    assert not (out / "metrics.csv").exists()

    proc = _launch(run_file, data, out)
    assert proc.wait(timeout=300) == 0, (tmp_path / "out.log").read_text()[-3000:]
    assert (tmp_path / "out.log").read_text().count("resuming from") == 2
    _same_result(reference, out)
    assert not (out / "resume.pt").exists() and not (out / "launch_run.json").exists()


def test_two_torchrun_agents_at_a_rendezvous_train_the_same_run(torchrun_case, tmp_path):
    """The multi-node launch on one host: one torchrun per "node" (1 process each), c10d rendezvous."""
    run_file, data, reference = torchrun_case
    out = tmp_path / "out"
    endpoint = f"127.0.0.1:{_free_port()}"
    from augrepro.train.launch import torchrun_command

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            torchrun_command(run_file, data, out, 1, 2, 1, {"device": "cpu"}, endpoint, "augrepro-test"),
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"agent{i}.log", "wb"),
            env=env,
        )
        for i in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0], (tmp_path / "agent0.log").read_text()[-3000:]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["distributed"]["world_size"] == 2 and meta["distributed"]["launcher"] == "torchrun"
    _same_result(reference, out)


def test_launch_commands_and_slurm_resources():
    from augrepro.train.launch import processes_per_node, slurm_command, slurm_resources, torchrun_command

    assert slurm_resources(4, 1) == {"gpu": 4, "gres": None, "nodes": 1}
    assert slurm_resources(4, 2) == {"gpu": None, "gres": "gpu:4", "nodes": 2}
    assert processes_per_node({"gpu": 4, "nodes": 1}) == (4, 1)
    assert processes_per_node({"gres": "gpu:4", "nodes": 2}) == (4, 2)
    assert processes_per_node({"gpu": 0}) == (1, 1)
    one = torchrun_command(Path("r.json"), "d.npz", "out", 4, threads=8)
    assert (
        one[1:3] == ["-m", "torch.distributed.run"]
        and "--standalone" in one
        and one[one.index("--nproc-per-node") + 1] == "4"
    )
    at = one.index("augrepro.train")
    assert one[one.index("--threads") + 1] == "8" and one[at - 1 : at + 4] == [
        "-m",
        "augrepro.train",
        "r.json",
        "d.npz",
        "out",
    ]
    many = torchrun_command(Path("r.json"), "d.npz", "out", 4, 2, 8, None, "node1:29400", "77")
    assert "--standalone" not in many and many[many.index("--rdzv-endpoint") + 1] == "node1:29400"
    assert many[many.index("--nnodes") + 1] == "2" and many[many.index("--rdzv-id") + 1] == "77"
    os.environ["SLURM_JOB_ID"] = "77"
    try:
        srun = slurm_command(many, 2, 4)
    finally:
        del os.environ["SLURM_JOB_ID"]
    assert srun[:2] == ["srun", "--overlap"] and "--nodes=2" in srun and "--ntasks-per-node=1" in srun
    assert "--gres=gpu:4" in srun and "--kill-on-bad-exit=1" in srun and srun[-len(many) :] == many
