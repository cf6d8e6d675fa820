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
"""

from __future__ import annotations

import bisect
import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from augrepro import runs
from augrepro.augment import Context, build_augmentation
from augrepro.data.file_pipelines import describe_file_pipeline
from augrepro.data.loader import DeviceData
from augrepro.data.normalization import Normalization
from augrepro.data.pipelines import build_pipeline
from augrepro.data.splits import load_splits
from augrepro.models import model_of_run
from augrepro.provenance import describe_environment, device_name
from augrepro.studies.protocols import replicas_per_process
from augrepro.train import streams
from augrepro.train.config import Execution, TrainingConfig
from augrepro.train.distributed import Distributed, Shard
from augrepro.train.progress import EpochState, Progress
from augrepro.train.resumable import Preempted, StopFlag, check_finite
from augrepro.train.streams import Generators

METRIC_COLUMNS = runs.EPOCH_COLUMNS
__all__ = ["Execution", "Numerics", "train_run"]


def pick_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"training.device is {setting!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(setting)


def topk_errors(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is not among the top-k predictions, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels[:, None]
    return [(~hit[:, : min(k, kmax)].any(1)).sum() for k in ks]


class Numerics:
    """The protocol's numerics (``augrepro.studies.protocols.NUMERICS``):

    * ``fp32``: full precision, TF32 off (the sources' GPUs, V100, GTX 1080 Ti and RTX 2080 Ti, have no TF32;
      PyTorch otherwise lets cuDNN convolutions use TF32 on Ampere and newer);
    * ``tf32``: fp32 tensors, TF32 tensor cores for convolutions and matrix products (CUDA only);
    * ``bf16``: bf16 autocast and channels-last (TF32 off for what stays in fp32);
    * ``auto``: ``bf16`` on a GPU, ``fp32`` on the CPU (where bf16 and channels-last do not help): the demo's.

    :meth:`apply` sets the process's TF32 switches (PyTorch's ``fp32_precision`` API) and :meth:`describe` reads
    them back for meta.json."""

    def __init__(self, device: torch.device, numerics: str = "auto") -> None:
        self.setting = numerics
        self.bf16 = numerics == "bf16" or (numerics == "auto" and device.type == "cuda")
        self.channels_last = self.bf16
        self.tf32 = numerics == "tf32" and device.type == "cuda"  # TF32 exists on CUDA devices only
        self.device = device

    def apply(self) -> Numerics:
        """Allow TF32 for CUDA convolutions and matrix products exactly when the numerics say so."""
        precision = "tf32" if self.tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
        return self

    def describe(self) -> dict[str, Any]:
        """What the run computed with: the protocol's setting, the options it turned on, and PyTorch's TF32
        switches as they are now (``ieee``: full fp32)."""
        return {
            "setting": self.setting,
            "bf16": self.bf16,
            "channels_last": self.channels_last,
            "tf32": self.tf32,
            "cuda_matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
            "cudnn_conv_fp32_precision": torch.backends.cudnn.conv.fp32_precision,
        }

    def autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def make_optimizer(model: torch.nn.Module, recipe: dict, device: torch.device) -> torch.optim.SGD:
    """SGD with the run's lr, momentum, Nesterov and weight decay; on a GPU the fused kernel (one launch
    for all parameters instead of a few per parameter group).

    ``lr_groups`` ({backbone, head}) gives two parameter groups, the backbone first (every parameter but the
    head's) and the head (``augrepro.models.pretrained.head``: the final nn.Linear), each with its lr, as the
    SnapMix code's ``prams_group: [ftlayer, freshlayer]`` with ``lr_group`` (utils/trainutil.py get_params)."""
    groups = recipe.get("lr_groups")
    if groups:
        from augrepro.models.pretrained import head

        head_params = list(head(model)[1].parameters())
        head_ids = {id(p) for p in head_params}
        params = [
            {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": groups["backbone"]},
            {"params": head_params, "lr": groups["head"]},
        ]
    else:
        params = model.parameters()
    return torch.optim.SGD(
        params,
        lr=groups["head"] if groups else recipe["lr"],
        momentum=recipe["momentum"],
        nesterov=recipe["nesterov"],
        weight_decay=recipe["weight_decay"],
        fused=True if device.type == "cuda" else None,
    )


class ReplicaForward:
    """The training forward of ``nn.DataParallel`` on ``replicas`` GPUs, on one device: the batch is split into
    ``replicas`` chunks (``Tensor.chunk``, as DataParallel scatters it), so BatchNorm normalizes each chunk with its
    own statistics; the running statistics are those of the first chunk only (DataParallel keeps the buffers of
    the replica on device[0]; the others' updates are lost). The released SaliencyMix CIFAR code runs
    ``nn.DataParallel`` on two GPUs (README: CUDA_VISIBLE_DEVICES=0,1), so BatchNorm sees 64 of 128 images."""

    def __init__(self, forward, model: torch.nn.Module, replicas: int) -> None:
        self.forward, self.model, self.replicas = forward, model, int(replicas)
        self.norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.replicas <= 1 or not self.model.training or x.shape[0] < 2:
            return self.forward(x)
        first, *rest = x.chunk(self.replicas)
        outputs = [self.forward(first)]
        saved = [
            (m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in self.norms
        ]
        try:
            for m in self.norms:  # momentum 0: running = 1 * running + 0 * batch, exactly unchanged
                m.momentum = 0.0
            outputs += [self.forward(chunk) for chunk in rest]
        finally:
            for m, (momentum, tracked) in zip(self.norms, saved):
                m.momentum = momentum
                if tracked is not None:
                    m.num_batches_tracked.copy_(tracked)
        return torch.cat(outputs)


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


@torch.no_grad()
def evaluate(
    model, data: DeviceData, batch_size: int, accel: Numerics | None = None, dist: Distributed | None = None
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


def lr_factor(recipe: dict, steps: int) -> float:
    """The lr multiplier after ``steps`` scheduler steps (one per finished epoch), so epoch E (1-based) trains
    with ``lr * lr_factor(recipe, E - 1)``:

    * ``multistep``: gamma ** (milestones passed), as torch's MultiStepLR stepped after each epoch, each decay
      ``lr_decay_delay`` epochs late (1: the released SaliencyMix CIFAR code calls ``scheduler.step(epoch)`` after
      testing 0-based epoch ``epoch``, so 61 epochs run at the initial lr, then 60, 40 and 39);
    * ``cosine``: 0.5 (1 + cos(pi steps / epochs)), CosineAnnealingLR(T_max=epochs) stepped per epoch
      (RegNet-Pytorch main.py)."""
    if recipe["lr_schedule"] == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * steps / int(recipe["epochs"])))
    passed = bisect.bisect_right(recipe["milestones"], steps - int(recipe.get("lr_decay_delay", 0)))
    return float(recipe["gamma"]) ** passed


def make_scheduler(optimizer, recipe: dict):
    """The protocol's lr schedule (:func:`lr_factor`), stepped once after every epoch."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda steps: lr_factor(recipe, steps))


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
        key, spec, recipe, execution = config.key, config.spec, config.recipe, config.execution
        if threads:
            torch.set_num_threads(int(threads))
        # torchrun's processes: join the group, take this rank's GPU
        dist, device = Distributed.from_environment(pick_device(execution.device))
        numerics = Numerics(device, recipe["numerics"]).apply()
        if device.type == "cuda":  # fixed input shapes: let cuDNN pick the fastest convolution algorithms once
            torch.backends.cudnn.benchmark = True
        norm = Normalization.of(recipe, spec)
        # the data order, the pipeline's, the method's and the global draws: each a stream of (seed, purpose, rank)
        generators = Generators.derive(config.seed, dist.rank)
        train, test = load_splits(
            data_path,
            recipe,
            key.traditional,
            norm,
            device,
            execution.loader_workers(threads),
            execution.decode,
            log if dist.is_main else _quiet,
        )
        pipeline = (
            build_pipeline(recipe["pipeline"], spec.image_size) if key.traditional and spec.kind == "pixels" else None
        )
        if pipeline is not None:
            input_pipeline = pipeline.describe()
        elif spec.kind == "files":  # decoded and augmented by the DataLoader workers (augrepro.data.file_pipelines)
            input_pipeline = describe_file_pipeline(recipe["pipeline"], key.traditional)
        else:
            input_pipeline = None
        with streams.initial_weights(config.seed):  # the same weights for every method and rank of a seed
            model, pretrained = _model(config, log if dist.is_main else _quiet)
        model = dist.prepare_model(model.to(device), config.batchnorm, device)
        if numerics.channels_last:
            model = model.to(memory_format=torch.channels_last)
        forward = torch.compile(dist.wrap(model)) if execution.compile else dist.wrap(model)
        # evaluation never goes through DistributedDataParallel (each rank evaluates its own part of the split)
        eval_forward = forward if not dist.enabled else (torch.compile(model) if execution.compile else model)
        # the source's nn.DataParallel replicas that this process emulates (its share of them under torchrun)
        train_forward = ReplicaForward(forward, model, replicas_per_process(recipe, dist.world_size))
        augmentation = build_augmentation(config.method, config.method_params, spec)
        optimizer = make_optimizer(model, recipe, device)
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
            make_scheduler(optimizer, recipe),
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


def _quiet(msg: str) -> None:
    """The log of every rank but rank 0."""


def _model(config: TrainingConfig, log) -> tuple[torch.nn.Module, dict | None]:
    """The run's model, with the protocol's pretrained weights in its backbone (their provenance) if any."""
    model = model_of_run(config.run, config.spec.num_classes)
    if not config.pretrained_tag:
        return model, None
    from augrepro.models.pretrained import load_pretrained

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


def train_one_epoch(session: Session, epoch: int, state: EpochState, stop: StopFlag, progress: Progress) -> float:
    """Train ``epoch`` from ``state`` (a fresh epoch, or the one SIGTERM interrupted) to its end; returns its
    training seconds. At a SIGTERM between two steps, resume.pt is written and :class:`Preempted` raised."""
    config, dist = session.config, session.dist
    norm, generators = session.normalization, session.generators
    ctx = Context(norm.mean, norm.std, generators.method, generators.method_rng, epoch=epoch, model=session.model)
    shard: Shard = dist.shard(
        state.order, config.batch_size
    )  # this rank's part of each step (all of it in one process)
    segment_start = time.perf_counter()
    gpu = _GpuTimer(session.device)
    from tqdm import tqdm

    bar = tqdm(
        total=shard.steps,
        initial=state.step,
        desc=f"epoch {epoch}/{config.epochs}",
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 10.0,
        leave=False,
        disable=not dist.is_main,
    )
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
        "lower training.lr or check the method's parameters",
        dist,
    )
    state.gpu_seconds += gpu.seconds()
    return state.seconds + time.perf_counter() - segment_start


def evaluate_epoch(
    session: Session, epoch: int, lr: float, state: EpochState, train_seconds: float
) -> dict[str, float]:
    """After an epoch's training: step the lr schedule, evaluate on the test split, and return the epoch's row."""
    dist = session.dist
    session.scheduler.step()
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
    progress = Progress(out_dir, run, session.dist, started)
    session.resume(progress, log)
    rank_devices = session.dist.all_gather(device_name(session.device))
    log(_describe_start(session))
    with StopFlag() as stop:
        for epoch in range(progress.start_epoch, config.epochs + 1):
            lr = session.optimizer.param_groups[0]["lr"]
            state = progress.take_partial() or session.new_epoch()
            train_seconds = train_one_epoch(session, epoch, state, stop, progress)
            row = evaluate_epoch(session, epoch, lr, state, train_seconds)
            progress.record(row, train_seconds, state.gpu_seconds, len(session.train))
            log(_describe_epoch(row, config.epochs))
            progress.keep_best(session.model, epoch)  # before resume.pt, which then names it
            session.save(progress, epoch)
            if stop.anywhere(session.dist) and epoch < config.epochs:
                raise Preempted.saved(f"after epoch {epoch}", progress.path)
    timing, meta = _timing(session, progress, rank_devices), _meta(session, progress)
    progress.write_outputs(session.model, config.epochs, timing, meta)
    session.dist.close()
    log(_describe_end(progress, timing))
    return {"metrics": progress.rows, "timing": timing, "meta": meta}


def _describe_end(progress: Progress, timing: dict[str, Any]) -> str:
    best = min(row["test_top1_error"] for row in progress.rows)
    return (
        f"done: best test top-1 error {best:.2f} %, {timing['images_per_second']:.0f} images/s, "
        f"{timing['wall_seconds']:.1f} s wall"
    )


def _describe_start(session: Session) -> str:
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


def _describe_epoch(row: dict[str, float], epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs} lr {row['lr']:.4g} train_loss {row['train_loss']:.4f} "
        f"train_err {row['train_top1_error']:.2f} test_loss {row['test_loss']:.4f} "
        f"test_top1_err {row['test_top1_error']:.2f} test_top5_err {row['test_top5_error']:.2f} "
        f"({row['epoch_seconds']:.1f}s)"
    )


def _timing(session: Session, progress: Progress, rank_devices: list) -> dict[str, Any]:
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


def _meta(session: Session, progress: Progress) -> dict[str, Any]:
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
