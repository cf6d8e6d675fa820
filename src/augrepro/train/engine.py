"""Train one run: device-resident data, batch-level mixing, per-epoch evaluation, atomic outputs.

Outputs in ``out_dir``: ``metrics.csv`` (one row per epoch), ``checkpoint.pt`` (final weights and the
resolved config), ``best.pt`` (the best epoch's weights, the same format), ``timing.json`` and ``meta.json``, all
written at the end, atomically (``best.pt`` is kept while training, see :mod:`augrepro.train.progress`).

While training, the full state (model, optimizer, scheduler, epoch, every RNG state, metrics so far) is
written atomically to ``resume.pt`` after every epoch, and in the middle of an epoch when SIGTERM arrives
(what SLURM sends before a time limit or a preemption); the job then exits with
:data:`augrepro.runs.PREEMPTED_EXIT_CODE`.
A job started where ``resume.pt`` exists resumes from it. ``resume.pt`` is not a declared Snakemake
output, so a failed or killed job does not lose it (:mod:`augrepro.train.resumable`: the file, the stop flag, the loss
check). On the CPU, with the same thread count, a resumed run ends bitwise equal to an uninterrupted one.

Here: the run's :class:`Session` (data, model, method, optimizer, every random stream), one training step, an epoch
and its evaluation, and :func:`train_run`, which strings them together and steps the lr schedule after each epoch.
Elsewhere in :mod:`augrepro.train`: the numerics and the device (``numerics.py``), the optimizer and lr schedule
(``optim.py``), the released code's ``nn.DataParallel`` emulated on one device (``replicas.py``), the log lines and
the timing and meta records (``records.py``), resume.pt and the epoch log (``progress.py``, ``resumable.py``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from augrepro.augment import Context, build_augmentation
from augrepro.data.file_pipelines import describe_file_pipeline
from augrepro.data.normalization import Normalization
from augrepro.data.pipelines import build_pipeline
from augrepro.data.splits import load_splits
from augrepro.models import model_of_run
from augrepro.models.pretrained import load_pretrained
from augrepro.provenance import device_name
from augrepro.studies.protocols import replicas_per_process
from augrepro.train import records, streams
from augrepro.train.config import Execution, TrainingConfig
from augrepro.train.distributed import Distributed, Shard
from augrepro.train.numerics import Numerics, pick_device
from augrepro.train.optim import make_optimizer, make_scheduler
from augrepro.train.progress import EpochState, Progress
from augrepro.train.replicas import ReplicaForward
from augrepro.train.resumable import Preempted, StopFlag, check_finite
from augrepro.train.streams import Generators

__all__ = ["Execution", "Session", "evaluate", "train_one_epoch", "train_run", "train_step"]


def topk_errors(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is not among the top-k predictions, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels[:, None]
    return [(~hit[:, : min(k, kmax)].any(1)).sum() for k in ks]


def train_step(
    forward,
    optimizer,
    augmentation,
    x: torch.Tensor,
    y: torch.Tensor,
    ctx: Context,
    accel: Numerics,
    loss_scale: float = 1.0,
):
    """One SGD step on a mixed batch; returns (MixResult, logits, loss). ``loss_scale`` weighs this process's
    loss in a data-parallel step whose parts differ in size (augrepro.train.distributed.Shard)."""
    mixed = augmentation(x, y, ctx)
    with accel.autocast():
        logits = forward(accel.layout(mixed.images)).float()
    loss = mixed.loss(logits, y)
    optimizer.zero_grad(set_to_none=True)
    (loss if loss_scale == 1.0 else loss * loss_scale).backward()
    optimizer.step()
    return mixed, logits, loss


class EvalSplit(Protocol):
    """What :func:`evaluate` reads of a split: DeviceData, FileData, JpegData, or the pilot's first images of one."""

    @property
    def device(self) -> torch.device: ...

    def __len__(self) -> int: ...

    def eval_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


@torch.no_grad()
def evaluate(
    model, data: EvalSplit, batch_size: int, accel: Numerics | None = None, dist: Distributed | None = None
) -> tuple[float, float, float]:
    """(mean loss, top-1 error %, top-5 error %) over the whole split (with ``dist``: each rank evaluates its
    part of the split and the sums are reduced)."""
    accel = accel or Numerics(data.device, "fp32")
    dist = dist or Distributed()
    model.eval()
    loss_sum = torch.zeros((), device=data.device)
    err1 = torch.zeros((), device=data.device)
    err5 = torch.zeros((), device=data.device)
    for x, y in data.eval_batches(batch_size, *dist.eval_range(len(data))):
        with accel.autocast():
            logits = model(accel.layout(x)).float()
        loss_sum += torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        e1, e5 = topk_errors(logits, y)
        err1 += e1
        err5 += e5
    model.train()
    if dist.enabled:
        loss_sum, err1, err5 = dist.sum(torch.stack([loss_sum, err1, err5]))
    n = len(data)
    return loss_sum.item() / n, 100.0 * err1.item() / n, 100.0 * err5.item() / n


@dataclass
class Session:
    """Everything one process trains a run with, every random stream derived from the seed by purpose
    (:mod:`augrepro.train.streams`), so that a run is reproducible, a resumed run equals an uninterrupted one, and
    every method trained with one seed starts from the same weights and sees the same images in the same order."""

    config: TrainingConfig
    device: torch.device
    dist: Distributed
    numerics: Numerics
    normalization: Normalization
    generators: Generators
    train: Any  # DeviceData, FileData or JpegData
    test: Any
    pipeline: Any  # the batched input pipeline of a '+' pixel dataset, or None
    input_pipeline: dict | None  # what the training split went through, for meta.json
    model: torch.nn.Module
    pretrained: dict | None  # the pretrained weights' provenance
    train_forward: Callable
    eval_forward: Callable
    augmentation: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any

    @classmethod
    def create(cls, config: TrainingConfig, data_path, threads: int | None, log: Callable[[str], None]) -> Session:
        key, spec, protocol, execution = config.key, config.spec, config.protocol, config.execution
        if threads:
            torch.set_num_threads(int(threads))
        # torchrun's processes: join the group, take this rank's GPU
        dist, device = Distributed.from_environment(pick_device(execution.device))
        numerics = Numerics(device, config.protocol.numerics).apply()
        if device.type == "cuda":  # fixed input shapes: let cuDNN pick the fastest convolution algorithms once
            torch.backends.cudnn.benchmark = True
        norm = Normalization.of(protocol.normalize, spec)
        # the data order, the pipeline's, the method's and the global draws: each a stream of (seed, purpose, rank)
        generators = Generators.derive(config.seed, dist.rank)
        train, test = load_splits(
            data_path,
            protocol,
            key.traditional,
            norm,
            device,
            execution.loader_workers(threads),
            execution.decode,
            log if dist.is_main else _quiet,
        )
        pipeline, input_pipeline = _input_pipeline(config)
        with streams.initial_weights(config.seed):  # the same weights for every method and rank of a seed
            model, pretrained = _model(config, log if dist.is_main else _quiet)
        model = dist.prepare_model(model.to(device), config.batchnorm, device)
        if numerics.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs omit it
        train_forward, eval_forward = _forwards(model, config, dist)
        augmentation = build_augmentation(config.method, config.method_params, spec)
        optimizer = make_optimizer(model, config.recipe, device)
        return cls(
            config,
            device,
            dist,
            numerics,
            norm,
            generators,
            train,
            test,
            pipeline,
            input_pipeline,
            model,
            pretrained,
            train_forward,
            eval_forward,
            augmentation,
            optimizer,
            make_scheduler(optimizer, protocol),
        )

    def resume(self, progress: Progress, log: Callable[[str], None]) -> None:
        """Continue from the run's resume.pt if there is one (:meth:`Progress.resume`)."""
        progress.resume(
            self.model,
            self.optimizer,
            self.scheduler,
            self.generators,
            self.device,
            log,
            self.train.num_batches(self.config.batch_size),
        )

    def new_epoch(self) -> EpochState:
        """A fresh epoch: its data order drawn from the run's order stream."""
        return EpochState(self.train.epoch_order(self.generators.order), self.device)

    def save(self, progress: Progress, epoch: int, epoch_state: EpochState | None = None) -> None:
        progress.save(epoch, self.model, self.optimizer, self.scheduler, self.generators, epoch_state)


def _input_pipeline(config: TrainingConfig) -> tuple[Any, dict | None]:
    """The batched input pipeline of a '+' pixel dataset (or None), and what the training split goes through."""
    key, spec, protocol = config.key, config.spec, config.protocol
    pipeline = build_pipeline(protocol.pipeline, spec.image_size) if key.traditional and spec.kind == "pixels" else None
    if pipeline is not None:
        return pipeline, pipeline.describe()
    if spec.kind == "files":  # decoded and augmented by the DataLoader workers (augrepro.data.file_pipelines)
        return None, describe_file_pipeline(protocol.pipeline, key.traditional)
    return None, None


def _forwards(model: torch.nn.Module, config: TrainingConfig, dist: Distributed) -> tuple[Callable, Callable]:
    """The model's training and evaluation forwards (compiled if the execution says so)."""
    compile_ = config.execution.compile
    forward = torch.compile(dist.wrap(model)) if compile_ else dist.wrap(model)
    # evaluation never goes through DistributedDataParallel (each rank evaluates its own part of the split)
    eval_forward = forward if not dist.enabled else (torch.compile(model) if compile_ else model)
    # the source's nn.DataParallel replicas that this process emulates (its share of them under torchrun)
    return ReplicaForward(forward, model, replicas_per_process(config.protocol, dist.world_size)), eval_forward


def _quiet(msg: str) -> None:
    """The log of every rank but rank 0."""


def _model(config: TrainingConfig, log) -> tuple[torch.nn.Module, dict | None]:
    """The run's model, with the protocol's pretrained weights in its backbone (their provenance) if any."""
    model = model_of_run(config.resolved, config.spec.num_classes)
    if not config.pretrained_tag:
        return model, None
    if config.pretrained_file is None:
        raise ValueError(
            f"{config.key.label()}: the protocol names pretrained weights ({config.pretrained_tag}) but no weights "
            "file was given: pass the file the workflow's download rule writes (--pretrained)"
        )

    provenance = load_pretrained(model, config.pretrained_file, config.key.model, config.pretrained_tag)
    log(f"loaded {provenance['weights']} from {config.pretrained_file} into the backbone; {provenance['head']}")
    return model, provenance


class _GpuTimer:
    """GPU time of a stretch of work (CUDA events; nothing on the CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.events = None
        if device.type == "cuda":
            self.events = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.events[0].record()

    def seconds(self) -> float:
        if self.events is None:
            return 0.0
        self.events[1].record()
        self.events[1].synchronize()
        return self.events[0].elapsed_time(self.events[1]) / 1000.0


def _epoch_bar(steps: int, done: int, desc: str, shown: bool):
    """An epoch's progress bar on stderr (rank 0's; on a terminal every second, in a log every 10 s)."""
    from tqdm import tqdm

    return tqdm(
        total=steps,
        initial=done,
        desc=desc,
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 10.0,
        leave=False,
        disable=not shown,
    )


def train_one_epoch(session: Session, epoch: int, state: EpochState, stop: StopFlag, progress: Progress) -> float:
    """Train ``epoch`` from ``state`` (a fresh epoch, or the one SIGTERM interrupted) to its end; returns its
    training seconds. At a SIGTERM between two steps, resume.pt is written and :class:`Preempted` raised."""
    config, dist = session.config, session.dist
    norm, generators = session.normalization, session.generators
    ctx = Context(norm.mean, norm.std, generators.method, generators.method_rng, epoch=epoch, model=session.model)
    shard: Shard = dist.shard(state.order, config.batch_size)  # this rank's part of each step (all in one process)
    segment_start = time.perf_counter()
    gpu = _GpuTimer(session.device)
    bar = _epoch_bar(shard.steps, state.step, f"epoch {epoch}/{config.epochs}", dist.is_main)
    batches = session.train.iterate(shard.order, state.step, shard.batch, generators.pipeline, session.pipeline)
    for x, y in batches:
        mixed, logits, loss = train_step(
            session.train_forward,
            session.optimizer,
            session.augmentation,
            x,
            y,
            ctx,
            session.numerics,
            shard.loss_scale(state.step),
        )
        state.step_losses.append(loss.detach())
        state.loss_sum += loss.detach() * len(y)
        state.correct += mixed.correct(logits.detach(), y)
        state.step += 1
        bar.update(1)
        # Checked after a whole step, before the next batch draws anything from the generators; all ranks agree
        # on it (a SIGTERM to any rank stops every rank at this same step).
        if stop.anywhere(dist) and state.step < shard.steps:
            bar.close()
            state.seconds += time.perf_counter() - segment_start
            session.save(progress, epoch, state)
            raise Preempted.saved(f"in epoch {epoch} at step {state.step}/{shard.steps}", progress.path)
    bar.close()
    check_finite(
        torch.stack(state.step_losses),
        lambda i: f"at epoch {epoch}, step {i + 1}",
        "lower the protocol's lr (config/protocols.yaml) or check the method's parameters",
        dist,
    )
    state.gpu_seconds += gpu.seconds()
    return state.seconds + time.perf_counter() - segment_start


def evaluate_epoch(
    session: Session, epoch: int, lr: float, state: EpochState, train_seconds: float
) -> dict[str, float]:
    """After an epoch's training: evaluate on the test split and return the epoch's row (``lr``: the lr it
    trained with)."""
    dist = session.dist
    eval_start = time.perf_counter()
    dist.broadcast_buffers(session.model)  # rank 0's BatchNorm statistics, the ones it checkpoints
    test_loss, top1, top5 = evaluate(
        session.eval_forward, session.test, session.config.execution.eval_batch_size, session.numerics, dist
    )
    loss_sum, correct = (
        dist.sum(torch.stack([state.loss_sum, state.correct])) if dist.enabled else (state.loss_sum, state.correct)
    )
    n = len(session.train)
    return {
        "epoch": epoch,
        "lr": lr,
        "train_loss": loss_sum.item() / n,
        "train_top1_error": 100.0 * (1.0 - correct.item() / n),
        "test_loss": test_loss,
        "test_top1_error": top1,
        "test_top5_error": top5,
        "epoch_seconds": train_seconds + time.perf_counter() - eval_start,
    }


def train_run(
    run: dict[str, Any],
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    execution: dict[str, Any] | Execution | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
    pretrained: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train the run described by ``run`` (see :func:`augrepro.studies.study.resolve_run`: its identity, method
    and the protocol's values under ``recipe``); ``execution``: the execution-only settings (:class:`Execution`).
    ``pretrained``: the weights file of a protocol with ``pretrained:`` (``augrepro.models.pretrained``), loaded
    into the backbone; the head stays new. Returns the epoch rows, timing and meta it wrote."""
    started = time.perf_counter()
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    config = TrainingConfig.of(run, execution, pretrained)
    session = Session.create(config, data_path, threads, log)
    if not session.dist.is_main:
        log = _quiet  # only rank 0 logs and writes
    progress = Progress(Path(out_dir), run, session.dist, started)
    session.resume(progress, log)
    rank_devices = session.dist.all_gather(device_name(session.device))
    log(records.describe_start(session))
    with StopFlag() as stop:
        for epoch in range(progress.start_epoch, config.epochs + 1):
            lr = session.optimizer.param_groups[0]["lr"]
            state = progress.take_partial() or session.new_epoch()
            train_seconds = train_one_epoch(session, epoch, state, stop, progress)
            session.scheduler.step()  # the next epoch's lr (augrepro.train.optim.lr_factor)
            row = evaluate_epoch(session, epoch, lr, state, train_seconds)
            progress.record(row, train_seconds, state.gpu_seconds, len(session.train))
            log(records.describe_epoch(row, config.epochs))
            progress.keep_best(session.model, epoch)  # before resume.pt, which then names it
            session.save(progress, epoch)
            if stop.anywhere(session.dist) and epoch < config.epochs:
                raise Preempted.saved(f"after epoch {epoch}", progress.path)
    timing, meta = records.timing_record(session, progress, rank_devices), records.meta_record(session)
    progress.write_outputs(session.model, config.epochs, timing, meta)
    session.dist.close()
    log(records.describe_end(progress, timing))
    return {"metrics": progress.rows, "timing": timing, "meta": meta}
