"""The pilot's measurement (:func:`measure`): what its worker times and records, with the training engine's own
pieces, on every rank of the run's processes.

The worker trains the run's :class:`~augrepro.train.engine.Session` (its data and loader, input pipeline, numerics,
world size, model, method and optimizer) with :func:`~augrepro.train.engine.train_one_epoch`, over an order of
``warmup + steps`` batches drawn as the run's epochs are (epoch orders concatenated where the split is smaller), as
the run's last epoch (where every method mixes: the SalfMix family leaves the first epoch clean). It times the steps
after the warm-up (the device synchronized where the timing starts and ends), a fresh epoch's first batch (a file
loader starts its workers every epoch), one checkpoint save (``Session.save``: the run's resume.pt, into the pilot's
work folder) and an evaluation pass (the engine's ``evaluate`` on the first test images, as many as the measured
steps trained, after a one-batch warm-up); it records the peak memory (per GPU: torch's peak allocated and reserved
bytes; per process: the peak resident memory) and the device names.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from augrepro.provenance import describe_environment, device_name
from augrepro.studies.pilot import PilotSettings
from augrepro.train.config import TrainingConfig
from augrepro.train.pilot_result import job_memory, log_to_stderr, process_memory


def _quiet(msg: str) -> None:
    """The log of every rank but rank 0."""


def _synchronize(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


class _TimedSplit:
    """The training split with a stopwatch: the steps from ``warmup`` on are timed, the device synchronized where the
    timing starts (before the first timed batch is loaded) and where it ends (after the last step); everything else
    is the split's own."""

    def __init__(self, split, warmup: int, device) -> None:
        self.split, self.warmup, self.device = split, warmup, device
        self.started = self.measured_from = self.ended = 0.0

    def __len__(self) -> int:
        return len(self.split)

    def __getattr__(self, name: str):
        return getattr(self.split, name)

    def iterate(self, order, start_step: int, batch_size: int, generator, pipeline=None):
        batches = iter(self.split.iterate(order, start_step, batch_size, generator, pipeline))
        step = start_step
        self.started = time.perf_counter()
        while True:
            if step == self.warmup:
                _synchronize(self.device)
                self.measured_from = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                break
            yield batch
            step += 1
        _synchronize(self.device)
        self.ended = time.perf_counter()


class _Head:
    """The first ``n`` images of a split, for timing the evaluation (``augrepro.train.engine.evaluate`` reads
    ``len``, ``device`` and ``eval_batches``)."""

    def __init__(self, split, n: int) -> None:
        self.split, self.n = split, int(n)

    def __len__(self) -> int:
        return self.n

    @property
    def device(self):
        return self.split.device

    def eval_batches(self, batch_size: int, start: int = 0, stop: int | None = None):
        return self.split.eval_batches(batch_size, start, self.n if stop is None else min(stop, self.n))


def _order(split, generator, n: int):
    """``n`` image indices drawn as the run's epochs draw them (one epoch's order after another)."""
    import torch

    if len(split) == 0:
        raise ValueError("the training split is empty")
    parts, have = [], 0
    while have < n:
        parts.append(split.epoch_order(generator))
        have += len(parts[-1])
    return torch.cat(parts)[:n]


def _first_batch_seconds(session, order) -> float:
    """How long a fresh epoch takes to deliver its first batch: a file loader starts its workers again every epoch
    (persistent_workers=False), which the steady rate does not count; for data on the device, one batch's time."""
    shard = session.dist.shard(order, session.config.batch_size)
    _synchronize(session.device)
    started = time.perf_counter()
    batches = session.train.iterate(shard.order, 0, shard.batch, session.generators.pipeline, session.pipeline)
    next(batches)
    _synchronize(session.device)
    seconds = time.perf_counter() - started
    batches.close()  # a file loader's workers stop here
    return max(session.dist.all_gather(seconds))


def measure(
    run: dict[str, Any],
    data,
    work,
    execution: dict[str, Any] | None = None,
    threads: int | None = None,
    settings: PilotSettings | dict | None = None,
    pretrained=None,
    log: Callable[[str], None] | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Measure ``run`` (a resolved run, as the train rule gets it) on this process's device (every rank of torchrun's
    group calls it): returns the measurement record (every rank gets it; rank 0 writes it). ``started``: when the
    worker started (time.perf_counter()), for the setup time: the data loaded and the model built (the imports, done
    before, not counted)."""
    started = time.perf_counter() if started is None else started
    from augrepro.train.engine import Session, evaluate, train_one_epoch
    from augrepro.train.progress import EpochState, Progress
    from augrepro.train.resumable import StopFlag

    settings = PilotSettings.of(settings)
    log = log or log_to_stderr
    config = TrainingConfig.of(run, execution, pretrained)
    session = Session.create(config, data, threads, log)
    dist, device, batch = session.dist, session.device, config.batch_size
    if not dist.is_main:
        log = _quiet
    setup_seconds = time.perf_counter() - started
    train_images, test_images = len(session.train), len(session.test)
    if test_images == 0:
        raise ValueError("the test split is empty")
    log(
        f"pilot of {config.key.label()}: {settings.warmup} warm-up and {settings.steps} timed steps of {batch} images "
        f"on {device} ({device_name(device)})"
        + (f", {dist.world_size} processes ({dist.backend})" if dist.enabled else "")
    )
    timed = _TimedSplit(session.train, settings.warmup, device)
    order = _order(session.train, session.generators.order, (settings.warmup + settings.steps) * batch)
    session.train = timed
    progress = Progress(work, run, dist)  # its resume.pt (the timed checkpoint) goes to the work folder
    # as the run's last epoch: every method mixes there; the flag is never raised (a SIGTERM ends the worker)
    train_one_epoch(session, config.epochs, EpochState(order, device), StopFlag(), progress)
    session.train = timed.split
    warmup_seconds = max(dist.all_gather(timed.measured_from - timed.started))
    train_seconds = max(dist.all_gather(timed.ended - timed.measured_from))
    epoch_start_seconds = _first_batch_seconds(session, order)

    checkpoint_started = time.perf_counter()
    session.save(progress, config.epochs)
    checkpoint_seconds = time.perf_counter() - checkpoint_started

    eval_batch = config.execution.eval_batch_size
    eval_images = min(test_images, max(settings.steps * batch, eval_batch * dist.world_size))
    dist.broadcast_buffers(session.model)
    warmup_split = _Head(session.test, min(test_images, eval_batch * dist.world_size))
    evaluate(session.eval_forward, warmup_split, eval_batch, session.numerics, dist)
    _synchronize(device)
    eval_started = time.perf_counter()
    evaluate(session.eval_forward, _Head(session.test, eval_images), eval_batch, session.numerics, dist)
    eval_seconds = time.perf_counter() - eval_started

    ranks = dist.all_gather(
        {"host": socket.gethostname(), "device_name": device_name(device), **process_memory(device)}
    )
    measured = settings.steps * batch
    record = {
        "status": "ok",
        "run": config.key.label(),
        "augmentation": config.key.augmentation,
        "method": config.method,
        "config": run,
        "epochs": config.epochs,
        "batch_size": batch,
        "world_size": dist.world_size,
        "steps": settings.steps,
        "warmup": settings.warmup,
        "train_images": train_images,
        "test_images": test_images,
        "setup_seconds": setup_seconds,
        "warmup_seconds": warmup_seconds,
        "warmup_images": settings.warmup * batch,
        "train_seconds": train_seconds,
        "train_images_measured": measured,
        "train_images_per_second": measured / max(train_seconds, 1e-9),
        "epoch_start_seconds": epoch_start_seconds,
        "checkpoint_seconds": checkpoint_seconds,
        "eval_seconds": eval_seconds,
        "eval_images_measured": eval_images,
        "eval_images_per_second": eval_images / max(eval_seconds, 1e-9),
        "memory": job_memory(ranks),
        "ranks": ranks,
        "device": device.type,
        "device_name": ranks[0]["device_name"],
        "numerics": {
            "bf16": session.numerics.bf16,
            "channels_last": session.numerics.channels_last,
            "compile": bool(config.execution.compile),
        },
        "execution": config.execution.as_dict(),
        "pipeline": session.input_pipeline,
        "loader": session.train.describe() if hasattr(session.train, "describe") else None,
        **describe_environment(),
    }
    progress.path.unlink(missing_ok=True)
    dist.close()
    log(
        f"pilot of {config.key.label()}: {record['train_images_per_second']:.1f} training and "
        f"{record['eval_images_per_second']:.1f} evaluation images/s, checkpoint {checkpoint_seconds:.2f} s"
    )
    return record
