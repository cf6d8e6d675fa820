"""The training engine on a tiny real dataset: outputs, error metrics, resume, non-finite losses, and the random
streams every method of a seed shares (initial weights, order, crops)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import stream_trace
import torch

from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.models.registry import MODELS
from augrepro.runs import PREEMPTED_EXIT_CODE
from augrepro.train import engine, optim, resumable, streams
from augrepro.train.engine import topk_errors, train_run
from augrepro.train.numerics import Numerics
from augrepro.train.replicas import ReplicaForward
from augrepro.train.resumable import NonFiniteLossError


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
    """A resolved run (augrepro.studies.study.resolve_run's shape) of a tiny test protocol."""
    return {
        "protocol": "test",
        "dataset": "demo",
        "dataset_key": "demo+",
        "traditional": True,
        "model": "resnet8",
        "augmentation": method,
        "method": method,
        "method_params": {"prob": 1.0, **params} if method != "baseline" else params,
        "seed": 3,
        "recipe": {
            "name": "test",
            "epochs": epochs,
            "batch_size": 16,
            "lr": lr,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "lr_schedule": "multistep",
            "milestones": [2],
            "gamma": 0.2,
            "pipeline": {"name": "pad_crop_flip", "padding": 4},
            "numerics": "auto",
            "reported": "best",
            "architecture": "cifar",
        },
    }


# Execution-only settings (not part of a run's identity).
EXECUTION = {"eval_batch_size": 10, "device": "cpu"}


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
    result = train_run(make_run(), tiny_npz, tmp_path, EXECUTION, threads=1)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.05, 0.05, 0.01])
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["epochs"] == 3 and timing["train_seconds"] <= timing["wall_seconds"]
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["run"]["method"] == "cutmix" and meta["method"]["params"]["prob"] == 1.0
    # the numerics it computed with: the protocol's setting and PyTorch's TF32 switches (off)
    assert meta["numerics"]["setting"] == "auto" and not meta["numerics"]["bf16"] and not meta["numerics"]["tf32"]
    assert meta["numerics"]["cudnn_conv_fp32_precision"] == "ieee" and timing["tf32"] is False
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["run"] == make_run() and state["epoch"] == 3
    assert result["metrics"][-1]["test_top1_error"] == pytest.approx(float(rows[-1]["test_top1_error"]))


def test_resumed_run_equals_uninterrupted_run(tiny_npz, tmp_path, monkeypatch):
    run = make_run("saliencymix", variant="official")
    train_run(run, tiny_npz, tmp_path / "straight", EXECUTION, threads=1)

    real_save = resumable.atomic_torch_save
    saves = []

    def interrupted_save(path, obj):
        real_save(path, obj)
        saves.append(path.name)
        if saves.count("resume.pt") == 2:
            raise KeyboardInterrupt  # killed right after the checkpoint of epoch 2

    monkeypatch.setattr(resumable, "atomic_torch_save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_npz, tmp_path / "resumed", EXECUTION, threads=1)
    assert not (tmp_path / "resumed/metrics.csv").exists()
    monkeypatch.setattr(resumable, "atomic_torch_save", real_save)
    train_run(run, tiny_npz, tmp_path / "resumed", EXECUTION, threads=1)

    assert read_metrics(tmp_path / "straight/metrics.csv") == read_metrics(tmp_path / "resumed/metrics.csv")
    a = torch.load(tmp_path / "straight/checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed/checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _stopped_after_the_first_checkpoint(data, out, monkeypatch) -> None:
    """Train make_run() into ``out`` until its first resume.pt is written, then stop as if killed."""

    def stop_after_first(path, obj):
        torch.save(obj, path)
        if path.name == "resume.pt":
            raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(resumable, "atomic_torch_save", stop_after_first)
        train_run(make_run(), data, out, EXECUTION, threads=1)


def test_resume_state_of_another_config_is_refused(tiny_npz, tmp_path, monkeypatch):
    _stopped_after_the_first_checkpoint(tiny_npz, tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match="different configuration"):
        train_run(make_run(epochs=4), tiny_npz, tmp_path, EXECUTION, threads=1)


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def _bitwise_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_best_pt_holds_the_best_epochs_weights_bitwise_also_across_a_kill(tiny_npz, tmp_path, monkeypatch):
    """best.pt is the epoch with the lowest test top-1 error (a tie keeps the earlier epoch): bitwise the final
    weights of the same run trained for that many epochs, whether the run went straight or was killed after a
    later epoch and resumed; no best.epoch<E>.pt is left behind; a resume whose best weights vanished is refused."""
    errors = iter([60.0, 40.0, 40.0, 50.0] * 2)  # epoch 2 is the best; epoch 3 ties and loses
    real_evaluate = engine.evaluate

    def scripted(*args, **kwargs):  # the real evaluation, its top-1 error scripted (the weights are untouched)
        loss, _, top5 = real_evaluate(*args, **kwargs)
        return loss, next(errors), top5

    monkeypatch.setattr(engine, "evaluate", scripted)
    run = make_run("saliencymix", epochs=4, variant="official")
    train_run(run, tiny_npz, tmp_path / "straight", EXECUTION, threads=1)
    best = torch.load(tmp_path / "straight/best.pt", weights_only=True)
    assert best["epoch"] == 2 and best["run"] == run
    assert not list((tmp_path / "straight").glob("best.epoch*.pt")) and not (tmp_path / "straight/resume.pt").exists()
    assert not _bitwise_equal(best["model"], _weights(tmp_path / "straight/checkpoint.pt"))

    real_save = resumable.atomic_torch_save

    def killed_after_epoch_3(path, obj):
        real_save(path, obj)
        if path.name == "resume.pt" and obj["epoch"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(resumable, "atomic_torch_save", killed_after_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_npz, tmp_path / "resumed", EXECUTION, threads=1)
    assert [p.name for p in (tmp_path / "resumed").glob("best.epoch*.pt")] == ["best.epoch2.pt"]
    monkeypatch.setattr(resumable, "atomic_torch_save", real_save)
    train_run(run, tiny_npz, tmp_path / "resumed", EXECUTION, threads=1)
    assert _bitwise_equal(_weights(tmp_path / "resumed/best.pt"), best["model"])

    monkeypatch.setattr(engine, "evaluate", real_evaluate)
    short = dict(run, recipe=dict(run["recipe"], epochs=2))  # the same lr in epochs 1-2 (milestone 2)
    train_run(short, tiny_npz, tmp_path / "two_epochs", EXECUTION, threads=1)
    assert _bitwise_equal(_weights(tmp_path / "two_epochs/checkpoint.pt"), best["model"])


def test_a_resume_whose_best_weights_are_gone_is_refused(tiny_npz, tmp_path, monkeypatch):
    real_save = resumable.atomic_torch_save

    def killed_after_epoch_1(path, obj):
        real_save(path, obj)
        if path.name == "resume.pt":
            raise KeyboardInterrupt

    monkeypatch.setattr(resumable, "atomic_torch_save", killed_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train_run(make_run(epochs=2), tiny_npz, tmp_path, EXECUTION, threads=1)
    monkeypatch.undo()
    (tmp_path / "best.epoch1.pt").unlink()
    with pytest.raises(RuntimeError, match="epoch 1 is the best so far, but its weights .* are gone; delete resume.pt"):
        train_run(make_run(epochs=2), tiny_npz, tmp_path, EXECUTION, threads=1)


def test_non_finite_loss_stops_without_outputs(tiny_npz, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step \d+"):
        train_run(make_run("baseline", lr=1e12), tiny_npz, tmp_path, EXECUTION, threads=1)
    assert not any(
        (tmp_path / name).exists() for name in ("metrics.csv", "checkpoint.pt", "best.pt", "timing.json", "meta.json")
    )


# --- Common random numbers: every method of a seed draws the same weights, order and crops ----------------


def _dropout_net(num_classes: int) -> torch.nn.Module:
    """A small net with dropout (so every pass through it in training, SnapMix's extra one too, draws from torch's
    global generator) that class activation maps accept."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.Dropout2d(0.2),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def _traced_run(method: str, seed: int, data, out, monkeypatch) -> dict:
    run = make_run(method)
    run.update(model="test_dropout", seed=seed)
    with monkeypatch.context() as patch:
        trace = stream_trace.record(patch.setattr)
        train_run(run, data, out, EXECUTION, threads=1)
    return trace


def test_every_method_of_a_seed_starts_from_the_same_weights_and_sees_the_same_batches(tiny_npz, tmp_path, monkeypatch):
    """At one seed the baseline, CutMix and SnapMix (which probes the model: its extra pass draws dropout from torch's
    global generator) start from the same weights and get the same images in the same order in every epoch, with
    the same crops and flips at every position; another seed gets other weights, orders and crops."""
    monkeypatch.setitem(MODELS._builders, "test_dropout", _dropout_net)
    traces = {m: _traced_run(m, 3, tiny_npz, tmp_path / m, monkeypatch) for m in ("baseline", "cutmix", "snapmix")}
    base = traces["baseline"]
    assert len(base["orders"]) == 3 and len(base["images"]) == 12  # 3 epochs of 64 images in batches of 16
    assert not torch.equal(base["orders"][0], base["orders"][1])
    for method in ("cutmix", "snapmix"):
        stream_trace.assert_same_draws(base, traces[method])
        mixed = torch.load(tmp_path / method / "checkpoint.pt", weights_only=True)["model"]
        plain = torch.load(tmp_path / "baseline/checkpoint.pt", weights_only=True)["model"]
        assert not stream_trace.same_weights(mixed, plain)  # the methods did train differently

    other = _traced_run("baseline", 4, tiny_npz, tmp_path / "seed4", monkeypatch)
    assert not any(
        torch.equal(base["weights"][k], other["weights"][k]) for k in base["weights"] if k.endswith("weight")
    )
    assert not any(torch.equal(a, b) for a, b in zip(base["orders"], other["orders"]))
    assert not torch.equal(base["images"][0], other["images"][0])
    meta = json.loads((tmp_path / "baseline/meta.json").read_text())
    assert meta["random_streams"]["version"] == streams.STREAMS_VERSION


def test_a_resume_pt_from_before_the_streams_were_split_is_refused(tiny_npz, tmp_path, monkeypatch):
    _stopped_after_the_first_checkpoint(tiny_npz, tmp_path, monkeypatch)
    state = torch.load(tmp_path / "resume.pt", weights_only=True)
    rng = state["rng"]  # as resume.pt held them before: one generator for the order, pipeline and mixing draws
    state["rng"] = {k: rng[k] for k in ("python", "numpy_global", "torch", "cuda")}
    state["rng"].update(data=rng["order"], augment=rng["method_rng"])
    torch.save(state, tmp_path / "resume.pt")
    with pytest.raises(RuntimeError, match=r"resume.pt was written before the random streams were split.*Delete it"):
        train_run(make_run(), tiny_npz, tmp_path, EXECUTION, threads=1)
    assert not (tmp_path / "metrics.csv").exists()


# --- A real training process, killed and resumed -------------------------------------------------

import json as _json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path


def _process_run(tiny_npz, out, run_file, threads=1):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "augrepro.train", str(run_file), str(tiny_npz), str(out), "--threads", str(threads)],
        stdout=subprocess.DEVNULL,
        stderr=open(out.parent / f"{out.name}.log", "ab"),
        env=env,
    )


@pytest.fixture(scope="module")
def long_npz(tmp_path_factory):
    rng = np.random.default_rng(1)
    labels = np.arange(600) % 10
    images = rng.integers(0, 256, size=(600, 3, 32, 32), dtype=np.uint8)
    path = tmp_path_factory.mktemp("long") / "data.npz"
    save_prepared(
        PreparedData(images[:512], labels[:512], images[512:], labels[512:], [str(i) for i in range(10)]), path
    )
    return path


@pytest.fixture(scope="module")
def straight_run(long_npz, tmp_path_factory):
    """The uninterrupted reference, trained in its own process like the interrupted ones."""
    base = tmp_path_factory.mktemp("straight")
    run = make_run("cutmix", epochs=8)
    run_file = base / "run.json"
    run_file.write_text(_json.dumps(run))
    proc = _process_run(long_npz, base / "out", run_file)
    assert proc.wait(timeout=300) == 0
    return run_file, base / "out"


def _assert_same_result(a: Path, b: Path) -> None:
    assert read_metrics(a / "metrics.csv") == read_metrics(b / "metrics.csv")
    for name in ("checkpoint.pt", "best.pt"):  # the final and the best epoch's weights
        assert _bitwise_equal(_weights(a / name), _weights(b / name)), name
    assert not list(b.glob("best.epoch*.pt"))


def test_sigkill_at_random_moments_then_resume_is_bitwise_equal(long_npz, straight_run, tmp_path):
    run_file, reference = straight_run
    out = tmp_path / "out"
    # Kill each start at a random moment after it has finished at least one more epoch (so the kill lands
    # anywhere: inside an epoch, during evaluation, or while resume.pt is being written), three times;
    # then let a last start run to completion.
    log = tmp_path / "out.log"
    chooser = random.Random(os.getpid())
    kills = 0
    for _ in range(3):
        done_before = log.read_text().count(" lr ") if log.exists() else 0
        proc = _process_run(long_npz, out, run_file)
        while proc.poll() is None and log.read_text().count(" lr ") <= done_before:
            time.sleep(0.02)
        time.sleep(chooser.uniform(0.0, 0.6))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        kills += 1
        assert not (out / "metrics.csv").exists()
    if not (out / "metrics.csv").exists():
        proc = _process_run(long_npz, out, run_file)
        assert proc.wait(timeout=300) == 0, log.read_text()[-2000:]
    assert kills >= 2, "the process finished before it could be killed twice"
    assert (tmp_path / "out.log").read_text().count("resuming from") >= 1
    _assert_same_result(reference, out)


def test_sigterm_saves_a_mid_epoch_checkpoint_and_the_resume_is_bitwise_equal(long_npz, straight_run, tmp_path):
    run_file, reference = straight_run
    out = tmp_path / "out"
    proc = _process_run(long_npz, out, run_file)
    deadline = time.time() + 120
    while not (out / "resume.pt").exists() and time.time() < deadline:  # wait until epoch 1 is done
        time.sleep(0.05)
    time.sleep(0.1)  # now inside epoch 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == PREEMPTED_EXIT_CODE
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["partial"] is not None and 0 < state["partial"]["step"] < 32  # 512 images / batch 16
    assert state["run"] == _json.loads(run_file.read_text())
    assert "SIGTERM in epoch" in (tmp_path / "out.log").read_text()
    proc = _process_run(long_npz, out, run_file)
    assert proc.wait(timeout=300) == 0
    _assert_same_result(reference, out)


def imagenet_files_run(
    files: list[str], n_train: int, npz: Path, model: str, batch_size: int, traditional: bool
) -> dict:
    """Save ``files`` (the first ``n_train`` for training, two classes) as a prepared ImageNet-style file list at
    ``npz`` and return a one-epoch CutMix run of ``model`` on it."""
    labels = np.arange(len(files)) % 2
    data = PreparedData(
        None,
        labels[:n_train],
        None,
        labels[n_train:],
        [f"n{c:08d}" for c in range(1000)],
        train_files=np.asarray(files[:n_train]),
        test_files=np.asarray(files[n_train:]),
    )
    save_prepared(data, npz)
    run = make_run("cutmix", epochs=1)
    run.update(
        dataset="imagenet", dataset_key="imagenet+" if traditional else "imagenet", traditional=traditional, model=model
    )
    run["recipe"].update(batch_size=batch_size, architecture="imagenet", pipeline={"name": "imagenet"})
    return run


def test_imagenet_file_lists_train_through_dataloader_workers(tmp_path):
    """ImageNet's prepared data are file lists: decoded by DataLoader workers, torchvision's ResNet-50."""
    from PIL import Image

    rng = np.random.default_rng(0)
    files = []
    for i in range(12):
        path = tmp_path / "images" / f"n{i % 2:08d}" / f"img_{i}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (80 + 8 * i, 96, 3), dtype=np.uint8)).save(path)
        files.append(str(path))
    run = imagenet_files_run(files, 8, tmp_path / "data.npz", "resnet50", batch_size=4, traditional=False)
    result = train_run(
        run, tmp_path / "data.npz", tmp_path / "out", dict(EXECUTION, eval_batch_size=4, workers=2), threads=2
    )
    assert len(result["metrics"]) == 1
    assert result["metrics"][0]["test_top1_error"] in (0.0, 25.0, 50.0, 75.0, 100.0)  # 4 test images
    state = torch.load(tmp_path / "out/checkpoint.pt", weights_only=True)
    assert state["model"]["fc.weight"].shape == (1000, 2048)  # torchvision's ResNet-50 head


def test_gpu_options_train_on_the_cpu_and_compile_follows_eager(tiny_npz, tmp_path):
    """The GPU defaults (bf16 autocast, channels-last, torch.compile) forced on the CPU: a compiled run
    follows the eager run's losses, and a run with all three trains, says so in timing.json and saves
    channels-last weights that load into a plain model."""
    eager = train_run(make_run(epochs=2), tiny_npz, tmp_path / "eager", EXECUTION, threads=1)
    compiled = train_run(make_run(epochs=2), tiny_npz, tmp_path / "compiled", dict(EXECUTION, compile=True), threads=1)
    for a, b in zip(eager["metrics"], compiled["metrics"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-3)

    run = make_run("snapmix", epochs=2)  # snapmix also runs the model outside the step (class activation maps)
    run["recipe"]["numerics"] = "bf16"  # bf16 autocast and channels-last
    result = train_run(run, tiny_npz, tmp_path / "all", dict(EXECUTION, compile=True), threads=1)
    assert all(np.isfinite(row["train_loss"]) and np.isfinite(row["test_loss"]) for row in result["metrics"])
    timing = json.loads((tmp_path / "all/timing.json").read_text())
    assert (timing["bf16"], timing["channels_last"], timing["compile"]) == (True, True, True)
    assert (eager["timing"]["bf16"], eager["timing"]["channels_last"], eager["timing"]["compile"]) == (
        False,
        False,
        False,
    )
    weights = torch.load(tmp_path / "all/checkpoint.pt", weights_only=True)["model"]
    conv = next(v for v in weights.values() if v.ndim == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    from augrepro.models import build_model

    build_model("resnet8", 10).load_state_dict(weights)


DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "method, params",
    [
        ("baseline", {}),
        ("cutout", {}),
        ("mixup", {}),
        ("cutmix", {"prob": 1.0}),
        ("saliencymix", {"variant": "paper", "prob": 1.0}),
        ("resizemix", {}),
        ("ricap", {}),
    ],
)
def test_a_training_step_never_waits_for_the_gpu(device, method, params):
    """Batch (crop, flip, normalize), mixing, forward, backward and SGD queue work without one host-device
    synchronization: under torch.cuda.set_sync_debug_mode("error") any (a blocking host-to-device copy,
    .item(), a data-dependent shape) raises. On the CPU the same steps run as a check of the test itself."""
    from augrepro.augment import Context, build_augmentation
    from augrepro.data.datasets import get_spec
    from augrepro.data.loader import DeviceData
    from augrepro.data.pipelines import build_pipeline
    from augrepro.models import build_model

    spec = get_spec("cifar10")
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=gen)
    data = DeviceData(images, torch.randint(0, 10, (48,), generator=gen), spec.mean, spec.std, dev)
    model = build_model("resnet8", 10).to(dev)
    accel = Numerics(dev)
    aug = build_augmentation(method, params, spec)
    opt = optim.make_optimizer(model, {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}, dev)
    ctx = Context(spec.mean, spec.std, gen, np.random.default_rng(0), epoch=2, model=model)
    order = data.epoch_order(gen)

    def step(i):
        x, y = data.batch(order, i, 16, gen, build_pipeline({"name": "pad_crop_flip", "padding": 4}, 32))
        return engine.train_step(model, opt, aug, x, y, ctx, accel)

    step(0)  # first calls fill caches (saliency plans, workspaces) and may copy once
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [step(i)[2].detach() for i in (1, 2)]
    finally:
        if dev.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    assert all(bool(torch.isfinite(loss)) for loss in losses)


# --- the lr of every epoch, against each source's rule ------------------------------------------------


def _released_lrs(protocol: str, recipe: dict) -> list[float]:
    """The lr of each 0-based epoch as each source's training loop sets it."""
    import warnings

    epochs, base = int(recipe["epochs"]), float(recipe["lr"])
    if protocol in ("saliencymix_cifar", "cutout_cifar", "regnet_cifar", "salfmix"):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        if protocol == "regnet_cifar":  # RegNet-Pytorch main.py: CosineAnnealingLR(T_max=epochs), step() per epoch
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        else:
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=recipe["milestones"], gamma=recipe["gamma"])
        lrs = []
        for epoch in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # saliencymix.py and Cutout's train.py: scheduler.step(epoch) after testing; the others: step()
                sched.step(epoch) if protocol in ("saliencymix_cifar", "cutout_cifar") else sched.step()
        return lrs
    if protocol == "cutmix_pyramidnet":  # CutMix train.py adjust_learning_rate (CIFAR)
        return [base * 0.1 ** (e // (epochs * 0.5)) * 0.1 ** (e // (epochs * 0.75)) for e in range(epochs)]
    if protocol == "saliencymix_imagenet":  # SaliencyMix-ImageNet / CutMix train.py, epochs == 300
        return [base * 0.1 ** (e // 75) for e in range(epochs)]
    if protocol == "puzzlemix_1200":  # PuzzleMix main.py adjust_learning_rate: x gamma from each schedule epoch on
        return [
            base * math.prod(g for step in recipe["milestones"] if e >= step for g in [recipe["gamma"]])
            for e in range(epochs)
        ]
    raise AssertionError(protocol)


@pytest.mark.parametrize(
    "protocol",
    [
        "saliencymix_cifar",
        "cutout_cifar",
        "saliencymix_imagenet",
        "cutmix_pyramidnet",
        "puzzlemix_1200",
        "regnet_cifar",
        "salfmix",
    ],
)
def test_the_lr_of_every_epoch_follows_the_sources_rule(protocol):
    from augrepro.resolved import Protocol
    from augrepro.studies import load_protocols, resolve_protocol
    from augrepro.train.optim import make_scheduler

    recipe = resolve_protocol(load_protocols(engine_root() / "config/protocols.yaml"), protocol, "cifar100")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe["lr"])
    sched = make_scheduler(opt, Protocol.of_values(recipe))
    ours = []
    for _ in range(recipe["epochs"]):
        ours.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert ours == pytest.approx(_released_lrs(protocol, recipe), rel=1e-9, abs=1e-15)
    if protocol in ("saliencymix_cifar", "cutout_cifar"):  # the first decay after 61 epochs at 0.1 (logs jump at 61)
        assert ours.index(min(ours[:70])) == 61 and ours[60] == pytest.approx(0.1)


def engine_root():
    return Path(__file__).resolve().parents[1]


def test_a_run_trains_with_the_delayed_schedule(tiny_npz, tmp_path):
    run = make_run(epochs=4)
    run["recipe"]["lr_decay_delay"] = 1
    result = train_run(run, tiny_npz, tmp_path, EXECUTION, threads=1)
    assert [row["lr"] for row in result["metrics"]] == pytest.approx([0.05, 0.05, 0.05, 0.01])


def test_batchnorm_replicas_normalize_each_chunk_and_keep_the_first_chunks_running_statistics():
    """nn.DataParallel on two GPUs, on one device: each half of the batch is normalized with its own statistics,
    and the running statistics are those the first half alone would leave (the replica on device[0])."""
    import copy

    from augrepro.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet8", 10).train()
    x = torch.randn(10, 3, 32, 32)
    reference = copy.deepcopy(model)
    want = torch.cat([reference(x[:5]), copy.deepcopy(model)(x[5:])])
    got = ReplicaForward(model, model, 2)(x)
    assert torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(got, copy.deepcopy(model)(x), atol=1e-3)  # one batch of 10 normalizes differently
    for a, b in zip(model.buffers(), reference.buffers()):
        assert torch.equal(a, b)  # running statistics of the first chunk only
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    model.eval()
    assert torch.equal(ReplicaForward(model, model, 2)(x), model(x))  # evaluation: one pass, running stats


def test_the_execution_settings_have_one_set_of_defaults():
    """The config schema's ``training:`` defaults are the Execution dataclass's; unknown keys are refused."""
    import yaml

    from augrepro.train.config import Execution

    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    properties = schema["properties"]["training"]["properties"]
    assert {k: v["default"] for k, v in properties.items()} == Execution().as_dict()
    assert Execution.of({"device": "cpu", "workers": None}) == Execution(device="cpu")
    assert Execution.of({"workers": 3}).loader_workers(8) == 3 and Execution().loader_workers(8) == 8
    with pytest.raises(ValueError, match="unknown training setting.*devcie.*valid: device"):
        Execution.of({"devcie": "cpu"})
