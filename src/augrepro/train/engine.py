"""Train one run: device-resident data, batch-level mixing, per-epoch evaluation, atomic outputs.

Outputs in ``out_dir``: ``metrics.csv`` (one row per epoch), ``checkpoint.pt`` (final weights and the
resolved config), ``timing.json`` and ``meta.json``. While training, the full state (model, optimizer,
scheduler, epoch, every RNG state, metrics so far) is saved after every epoch to ``resume.pt``, which
a restarted job picks up; it is not a declared Snakemake output, so a failed job does not delete it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from augrepro.augment import Context, build_augmentation
from augrepro.data.datasets import get_spec
from augrepro.data.loader import DeviceData
from augrepro.data.prepare import load_prepared
from augrepro.models import build_model
from augrepro.provenance import describe_environment

METRIC_COLUMNS = [
    "epoch",
    "lr",
    "train_loss",
    "train_top1_error",
    "test_loss",
    "test_top1_error",
    "test_top5_error",
    "epoch_seconds",
]


class NonFiniteLossError(RuntimeError):
    pass


def pick_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"training.device is {setting!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(setting)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    _atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode())


def topk_errors(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is not among the top-k predictions, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels[:, None]
    return [(~hit[:, : min(k, kmax)].any(1)).sum() for k in ks]


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: DeviceData, batch_size: int) -> tuple[float, float, float]:
    """(mean loss, top-1 error %, top-5 error %) over the whole split."""
    model.eval()
    loss_sum = torch.zeros((), device=data.device)
    err1 = torch.zeros((), device=data.device)
    err5 = torch.zeros((), device=data.device)
    for x, y in data.eval_batches(batch_size):
        logits = model(x)
        loss_sum += torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        e1, e5 = topk_errors(logits, y)
        err1 += e1
        err5 += e5
    model.train()
    n = len(data)
    return loss_sum.item() / n, 100.0 * err1.item() / n, 100.0 * err5.item() / n


def _numpy_global_state() -> tuple:
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)


def _rng_state(gen: torch.Generator, rng: np.random.Generator) -> dict:
    return {
        "python": random.getstate(),
        # The legacy global numpy state holds an array: kept as a list so weights_only loading accepts it.
        "numpy_global": _numpy_global_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": gen.get_state(),
        "augment": rng.bit_generator.state,
    }


def _set_rng_state(state: dict, gen: torch.Generator, rng: np.random.Generator) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy_global"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen.set_state(state["data"])
    rng.bit_generator.state = state["augment"]


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None):
    return (x, y) if limit is None else (x[:limit], y[:limit])


def train_run(
    run: dict[str, Any],
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train the run described by ``run`` (see :func:`augrepro.train.config.resolve_run`)."""
    wall_start = time.perf_counter()
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = run["training"]
    spec = get_spec(run["dataset"])
    seed = int(run["seed"])
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(cfg.get("device", "auto"))

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    data = load_prepared(data_path)
    train_x, train_y = _subset(data.train_x, data.train_y, cfg.get("max_train_images"))
    test_x, test_y = _subset(data.test_x, data.test_y, cfg.get("max_test_images"))
    train = DeviceData(torch.from_numpy(train_x), torch.from_numpy(train_y), spec.mean, spec.std, device)
    test = DeviceData(torch.from_numpy(test_x), torch.from_numpy(test_y), spec.mean, spec.std, device)
    crop_padding = spec.crop_padding if run["traditional"] else None

    model = build_model(run["model"], spec.num_classes).to(device)
    augmentation = build_augmentation(run["method"], run["method_params"], spec)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=cfg["lr"],
        momentum=cfg["momentum"],
        nesterov=cfg["nesterov"],
        weight_decay=cfg["weight_decay"],
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=cfg["milestones"], gamma=cfg["gamma"])
    epochs, batch_size = int(cfg["epochs"]), int(cfg["batch_size"])

    rows: list[dict[str, float]] = []
    totals = {"train_seconds": 0.0, "eval_seconds": 0.0, "images": 0, "previous_wall_seconds": 0.0}
    start_epoch = 1
    resume_path = out / "resume.pt"
    if resume_path.exists():
        state = torch.load(resume_path, map_location=device, weights_only=True)
        if state["run"] != run:
            raise RuntimeError(
                f"{resume_path} belongs to a different configuration; delete it to start this run afresh"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], gen, rng)
        rows, totals = state["metrics"], state["totals"]
        start_epoch = state["epoch"] + 1
        log(f"resuming from {resume_path} after epoch {state['epoch']}")

    log(
        f"run {run['dataset_key']}/{run['model']}/{run['augmentation']}/seed{seed}: "
        f"{augmentation.describe()['method']} {augmentation.describe()['params']} on {device} "
        f"({device_name(device)}), {len(train)} train / {len(test)} test images, {epochs} epochs"
    )
    session_start = time.perf_counter()
    from tqdm import tqdm

    for epoch in range(start_epoch, epochs + 1):
        epoch_start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        ctx = Context(spec.mean, spec.std, gen, rng, epoch=epoch, model=model)
        step_losses = []
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        bar = tqdm(
            train.train_batches(batch_size, gen, crop_padding),
            total=train.num_batches(batch_size),
            desc=f"epoch {epoch}/{epochs}",
            file=sys.stderr,
            mininterval=1.0 if sys.stderr.isatty() else 10.0,
            leave=False,
        )
        for x, y in bar:
            mixed = augmentation(x, y, ctx)
            logits = model(mixed.images)
            loss = mixed.loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step_losses.append(loss.detach())
            loss_sum += loss.detach() * len(y)
            correct += mixed.correct(logits.detach(), y)
        bar.close()
        losses = torch.stack(step_losses)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            step = int((~finite).nonzero()[0]) + 1
            raise NonFiniteLossError(
                f"loss became {losses[step - 1].item()} at epoch {epoch}, step {step}; "
                "stopping without writing outputs (lower training.lr or check the method's parameters)"
            )
        train_seconds = time.perf_counter() - epoch_start
        scheduler.step()
        eval_start = time.perf_counter()
        test_loss, top1, top5 = evaluate(model, test, int(cfg.get("eval_batch_size", 500)))
        eval_seconds = time.perf_counter() - eval_start
        totals["train_seconds"] += train_seconds
        totals["eval_seconds"] += eval_seconds
        totals["images"] += len(train)
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": loss_sum.item() / len(train),
            "train_top1_error": 100.0 * (1.0 - correct.item() / len(train)),
            "test_loss": test_loss,
            "test_top1_error": top1,
            "test_top5_error": top5,
            "epoch_seconds": train_seconds + eval_seconds,
        }
        rows.append(row)
        log(
            f"epoch {epoch}/{epochs} lr {lr:.4g} train_loss {row['train_loss']:.4f} "
            f"train_err {row['train_top1_error']:.2f} test_loss {test_loss:.4f} "
            f"test_top1_err {top1:.2f} test_top5_err {top5:.2f} ({row['epoch_seconds']:.1f}s)"
        )
        atomic_torch_save(
            {
                "run": run,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(gen, rng),
                "metrics": rows,
                "totals": {
                    **totals,
                    "previous_wall_seconds": totals["previous_wall_seconds"] + time.perf_counter() - wall_start,
                },
            },
            resume_path,
        )

    wall = totals["previous_wall_seconds"] + (time.perf_counter() - wall_start)
    timing = {
        "wall_seconds": wall,
        "train_seconds": totals["train_seconds"],
        "eval_seconds": totals["eval_seconds"],
        "images_per_second": totals["images"] / max(totals["train_seconds"], 1e-9),
        "device": device.type,
        "device_name": device_name(device),
        "epochs": epochs,
    }
    described = augmentation.describe()
    meta = {
        "run": {
            "dataset": run["dataset"],
            "dataset_key": run["dataset_key"],
            "traditional": run["traditional"],
            "model": run["model"],
            "augmentation": run["augmentation"],
            "method": run["method"],
            "variant": described["variant"],
            "seed": seed,
        },
        "config": run,
        "method": described,
        **describe_environment(),
    }
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    atomic_torch_save({"run": run, "epoch": epochs, "model": model.state_dict()}, out / "checkpoint.pt")
    atomic_write_text(out / "timing.json", json.dumps(timing, indent=2) + "\n")
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2, default=str) + "\n")
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    resume_path.unlink(missing_ok=True)
    log(
        f"done: best test top-1 error {min(r['test_top1_error'] for r in rows):.2f} %, "
        f"{timing['images_per_second']:.0f} images/s, {wall:.1f} s wall ({time.perf_counter() - session_start:.1f} s this session)"
    )
    return {"metrics": rows, "timing": timing, "meta": meta}
