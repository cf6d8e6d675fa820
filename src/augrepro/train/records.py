"""What a training run says about itself: its log lines (the start, each epoch, the end) and the records it writes
at the end, ``timing.json`` and ``meta.json`` (:data:`augrepro.runs.RUN_FILES`; read back by
:mod:`augrepro.runs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from augrepro import runs
from augrepro.provenance import describe_environment, device_name
from augrepro.train import streams

if TYPE_CHECKING:
    import torch

    from augrepro.train.config import TrainingConfig
    from augrepro.train.distributed import Distributed
    from augrepro.train.numerics import Numerics
    from augrepro.train.progress import Progress


class Session(Protocol):
    """What the records read of a training session (:class:`augrepro.train.engine.Session`; a protocol, so that
    this module does not import the engine that imports it)."""

    config: TrainingConfig
    device: torch.device
    dist: Distributed
    numerics: Numerics
    train: Any
    test: Any
    input_pipeline: dict | None
    pretrained: dict | None
    augmentation: Any


def describe_start(session: Session) -> str:
    config, described, dist = session.config, session.augmentation.describe(), session.dist
    return (
        f"run {config.key.label()}: {described['method']} {described['params']} on {session.device} "
        f"({device_name(session.device)}), {len(session.train)} train / {len(session.test)} test images, "
        f"{config.epochs} epochs, pipeline {session.input_pipeline if session.input_pipeline is not None else 'none'}, "
        f"numerics {session.numerics.setting} (bf16 {session.numerics.bf16}, tf32 {session.numerics.tf32}, "
        f"channels_last {session.numerics.channels_last}), "
        f"compile {bool(config.execution.compile)}"
        + (f", {dist.world_size} processes ({dist.backend}, batchnorm {config.batchnorm})" if dist.enabled else "")
    )


def describe_epoch(row: dict[str, float], epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs} lr {row['lr']:.4g} train_loss {row['train_loss']:.4f} "
        f"train_err {row['train_top1_error']:.2f} test_loss {row['test_loss']:.4f} "
        f"test_top1_err {row['test_top1_error']:.2f} test_top5_err {row['test_top5_error']:.2f} "
        f"({row['epoch_seconds']:.1f}s)"
    )


def describe_end(progress: Progress, timing: dict[str, Any]) -> str:
    best = min(row["test_top1_error"] for row in progress.rows)
    return (
        f"done: best test top-1 error {best:.2f} %, {timing['images_per_second']:.0f} images/s, "
        f"{timing['wall_seconds']:.1f} s wall"
    )


def timing_record(session: Session, progress: Progress, rank_devices: list) -> dict[str, Any]:
    """timing.json: the run's times over all its starts, its throughput and what it ran on."""
    totals, device = progress.totals, session.device
    return {
        "wall_seconds": progress.wall_seconds(),
        "train_seconds": totals["train_seconds"],
        "eval_seconds": totals["eval_seconds"],
        "gpu_seconds": totals["gpu_seconds"] if device.type == "cuda" else None,
        "images_per_second": totals["images"] / max(totals["train_seconds"], 1e-9),
        "device": device.type,
        "device_name": device_name(device),
        "epochs": session.config.epochs,
        "bf16": session.numerics.bf16,
        "tf32": session.numerics.tf32,
        "channels_last": session.numerics.channels_last,
        "compile": bool(session.config.execution.compile),
        # data-parallel runs: images_per_second counts every rank's images, gpu_seconds are rank 0's
        "world_size": session.dist.world_size,
        "rank_device_names": rank_devices,
    }


def meta_record(session: Session) -> dict[str, Any]:
    """meta.json: the run's identity, resolved configuration, method, numerics, pipeline, loader, world size,
    random streams and environment."""
    config, described = session.config, session.augmentation.describe()
    return {
        "run": runs.identity_record(config.key, config.method, described["variant"]),
        "config": config.run,
        "execution": config.execution.as_dict(),
        "method": described,
        "numerics": session.numerics.describe(),
        "pipeline": session.input_pipeline,
        "pretrained": session.pretrained,
        "loader": session.train.describe() if hasattr(session.train, "describe") else None,
        "distributed": session.dist.describe(config.batchnorm, config.batch_size // session.dist.world_size),
        "random_streams": streams.describe(),
        **describe_environment(),
    }
