"""The training engine on a tiny real dataset: outputs, error metrics, resume, non-finite losses."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from augrepro.data.prepare import PreparedData, save_prepared
from augrepro.train import engine
from augrepro.train.engine import NonFiniteLossError, topk_errors, train_run


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 10
    images = rng.integers(0, 256, size=(96, 3, 32, 32), dtype=np.uint8)
    images[:, labels % 3, :8, :8] = 255  # a weak class signal
    path = tmp_path_factory.mktemp("data") / "data.npz"
    save_prepared(PreparedData(images[:64], labels[:64], images[64:], labels[64:], [str(i) for i in range(10)]), path)
    return path


def make_run(method="cutmix", epochs=3, lr=0.05, **params):
    return {
        "dataset": "demo",
        "dataset_key": "demo+",
        "traditional": True,
        "model": "resnet8",
        "augmentation": method,
        "method": method,
        "method_params": {"prob": 1.0, **params} if method != "baseline" else params,
        "seed": 3,
        "training": {
            "epochs": epochs,
            "batch_size": 16,
            "lr": lr,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "milestones": [2],
            "gamma": 0.2,
            "eval_batch_size": 10,
            "device": "cpu",
        },
    }


def test_topk_errors_on_a_hand_made_case():
    logits = torch.tensor(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # label 0: top-1 hit
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # label 4: top-5 hit, top-1 miss
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # label 5: miss both
        ]
    )
    err1, err5 = topk_errors(logits, torch.tensor([0, 4, 5]))
    assert (int(err1), int(err5)) == (2, 1)


def read_metrics(path):
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(open(path))]


def test_run_writes_outputs_and_lr_follows_the_schedule(tiny_npz, tmp_path):
    result = train_run(make_run(), tiny_npz, tmp_path, threads=1)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.05, 0.05, 0.01])
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["epochs"] == 3 and timing["train_seconds"] <= timing["wall_seconds"]
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["run"]["method"] == "cutmix" and meta["method"]["params"]["prob"] == 1.0
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["run"] == make_run() and state["epoch"] == 3
    assert result["metrics"][-1]["test_top1_error"] == pytest.approx(float(rows[-1]["test_top1_error"]))


def test_resumed_run_equals_uninterrupted_run(tiny_npz, tmp_path, monkeypatch):
    run = make_run("saliencymix", variant="official")
    train_run(run, tiny_npz, tmp_path / "straight", threads=1)

    real_save = engine.atomic_torch_save
    saves = []

    def interrupted_save(obj, path):
        real_save(obj, path)
        saves.append(path.name)
        if saves.count("resume.pt") == 2:
            raise KeyboardInterrupt  # killed right after the checkpoint of epoch 2

    monkeypatch.setattr(engine, "atomic_torch_save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_npz, tmp_path / "resumed", threads=1)
    assert not (tmp_path / "resumed/metrics.csv").exists()
    monkeypatch.setattr(engine, "atomic_torch_save", real_save)
    train_run(run, tiny_npz, tmp_path / "resumed", threads=1)

    assert read_metrics(tmp_path / "straight/metrics.csv") == read_metrics(tmp_path / "resumed/metrics.csv")
    a = torch.load(tmp_path / "straight/checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed/checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_state_of_another_config_is_refused(tiny_npz, tmp_path, monkeypatch):
    def stop_after_first(obj, path):
        torch.save(obj, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "atomic_torch_save", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_run(make_run(), tiny_npz, tmp_path, threads=1)
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="different configuration"):
        train_run(make_run(epochs=4), tiny_npz, tmp_path, threads=1)


def test_non_finite_loss_stops_without_outputs(tiny_npz, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step \d+"):
        train_run(make_run("baseline", lr=1e12), tiny_npz, tmp_path, threads=1)
    assert not any((tmp_path / name).exists() for name in ("metrics.csv", "checkpoint.pt", "timing.json", "meta.json"))
