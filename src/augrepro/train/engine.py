"""Train one run: device-resident data, batch-level mixing, per-epoch evaluation, atomic outputs.

Outputs in ``out_dir``: ``metrics.csv`` (one row per epoch), ``checkpoint.pt`` (final weights and the
resolved config), ``timing.json`` and ``meta.json``, all written at the end, atomically.

While training, the full state (model, optimizer, scheduler, epoch, every RNG state, metrics so far) is
written atomically to ``resume.pt`` after every epoch, and in the middle of an epoch when SIGTERM arrives
(what SLURM sends before a time limit or a preemption); the job then exits with :data:`PREEMPTED_EXIT_CODE`.
A job started where ``resume.pt`` exists resumes from it. ``resume.pt`` is not a declared Snakemake
output, so a failed or killed job does not lose it. On the CPU, with the same thread count, a resumed
run ends bitwise equal to an uninterrupted one.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import os
import random
import signal
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from augrepro import runs
from augrepro.augment import Context, build_augmentation
from augrepro.data.datasets import get_spec
from augrepro.data.file_pipelines import describe_file_pipeline
from augrepro.data.loader import DeviceData
from augrepro.data.normalization import Normalization
from augrepro.data.pipelines import build_pipeline
from augrepro.data.splits import load_splits
from augrepro.io import atomic_torch_save, atomic_write_text
from augrepro.models import model_of_run
from augrepro.studies.protocols import replicas_per_process
from augrepro.provenance import describe_environment
from augrepro.train.distributed import Distributed

METRIC_COLUMNS = runs.EPOCH_COLUMNS
# Execution-only settings (the config's ``training:``): they never change what a run computes beyond the
# device's arithmetic, and are not part of its identity, so a resume accepts a change of them.
EXECUTION_DEFAULTS = {"device": "auto", "compile": False, "workers": None, "eval_batch_size": 500, "decode": "auto"}
# 128 + SIGTERM: the shell's convention for "terminated by SIGTERM"; non-zero, so Snakemake retries the
# job (--retries) and SLURM's requeue resubmits it; either way the next start resumes from resume.pt.
PREEMPTED_EXIT_CODE = 143


class NonFiniteLossError(RuntimeError):
    pass


class Preempted(RuntimeError):
    """SIGTERM arrived; the state was saved to resume.pt. Exit with ``exit_code``."""

    exit_code = PREEMPTED_EXIT_CODE


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


def topk_errors(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is not among the top-k predictions, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels[:, None]
    return [(~hit[:, : min(k, kmax)].any(1)).sum() for k in ks]


class Numerics:
    """The protocol's numerics: ``auto`` is bf16 autocast and channels-last on a GPU and fp32 on the CPU (where
    they do not help), ``fp32`` pins full precision, ``bf16`` forces both."""

    def __init__(self, device: torch.device, numerics: str = "auto") -> None:
        self.bf16 = numerics == "bf16" or (numerics == "auto" and device.type == "cuda")
        self.channels_last = self.bf16
        self.device = device

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
        saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in self.norms]
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


def train_step(forward, optimizer, augmentation, x: torch.Tensor, y: torch.Tensor, ctx: Context, accel: Numerics,
               loss_scale: float = 1.0):
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
def evaluate(model, data: DeviceData, batch_size: int, accel: Numerics | None = None,
             dist: Distributed | None = None) -> tuple[float, float, float]:
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


def _numpy_global_state() -> tuple:
    # The legacy global numpy state holds an array: kept as a list so weights_only loading accepts it.
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)


def _rng_state(gen: torch.Generator, rng: np.random.Generator, rank_gen: torch.Generator | None = None) -> dict:
    extra = {} if rank_gen is None or rank_gen is gen else {"rank_data": rank_gen.get_state()}
    return {
        **extra,
        "python": random.getstate(),
        "numpy_global": _numpy_global_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": gen.get_state(),
        "augment": rng.bit_generator.state,
    }


def _set_rng_state(state: dict, gen: torch.Generator, rng: np.random.Generator, rank_gen: torch.Generator | None = None) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy_global"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen.set_state(state["data"])
    rng.bit_generator.state = state["augment"]
    if "rank_data" in state and rank_gen is not None:
        rank_gen.set_state(state["rank_data"])


class StopFlag:
    """Set by SIGTERM while training; checked at every step boundary (also the detection fine-tuning's)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class _EpochState:
    """What a mid-epoch checkpoint must hold to replay the rest of the epoch exactly."""

    def __init__(self, order: torch.Tensor, device: torch.device) -> None:
        self.order = order
        self.step = 0
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device)
        self.step_losses: list[torch.Tensor] = []
        self.seconds = 0.0
        self.gpu_seconds = 0.0

    def to_dict(self) -> dict:
        return {
            "order": self.order,
            "step": self.step,
            "loss_sum": self.loss_sum.detach().cpu(),
            "correct": self.correct.detach().cpu(),
            "step_losses": torch.stack(self.step_losses).cpu() if self.step_losses else torch.zeros(0),
            "seconds": self.seconds,
            "gpu_seconds": self.gpu_seconds,
        }

    @classmethod
    def from_dict(cls, d: dict, device: torch.device) -> "_EpochState":
        state = cls(d["order"], device)
        state.step = int(d["step"])
        state.loss_sum = d["loss_sum"].to(device)
        state.correct = d["correct"].to(device)
        state.step_losses = list(d["step_losses"].to(device).unbind()) if len(d["step_losses"]) else []
        state.seconds = float(d["seconds"])
        state.gpu_seconds = float(d["gpu_seconds"])
        return state


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


def train_run(
    run: dict[str, Any],
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    execution: dict[str, Any] | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
    pretrained: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train the run described by ``run`` (see :func:`augrepro.studies.study.resolve_run`: its identity, method
    and the protocol's values under ``recipe``); ``execution`` holds the execution-only settings
    (:data:`EXECUTION_DEFAULTS`: device, compile, workers, eval_batch_size). ``pretrained``: the weights file
    of a protocol with ``pretrained:`` (``augrepro.models.pretrained``), loaded into the backbone; the head
    stays new."""
    wall_start = time.perf_counter()
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = run["recipe"]
    execution = {**EXECUTION_DEFAULTS, **{k: v for k, v in (execution or {}).items() if v is not None}}
    key = runs.RunKey(run["protocol"], run["dataset_key"], run["model"], run["augmentation"], int(run["seed"]))
    spec = get_spec(key.dataset)
    if recipe.get("pretrained") and pretrained is None:
        from augrepro.models.pretrained import weights_file

        raise ValueError(
            f"protocol {key.protocol!r} starts from pretrained {recipe['pretrained']!r} weights: give the file "
            f"{weights_file(key.model, recipe['pretrained'])} (the workflow's pretrained rule fetches it into "
            "results/pretrained/; python -m augrepro.train takes --pretrained)"
        )
    if pretrained is not None and not recipe.get("pretrained"):
        raise ValueError(f"protocol {key.protocol!r} has no 'pretrained:', but a weights file was given ({pretrained})")
    seed = key.seed
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(execution["device"])
    # torchrun's processes: join the group, take this rank's GPU; only rank 0 logs and writes
    dist, device = Distributed.from_environment(device)
    if not dist.is_main:
        log = lambda msg: None  # noqa: E731
    accel = Numerics(device, recipe["numerics"])
    if device.type == "cuda":  # fixed input shapes: let cuDNN pick the fastest convolution algorithms once
        torch.backends.cudnn.benchmark = True
    norm = Normalization.of(recipe, spec)

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    workers = int(execution["workers"] if execution["workers"] is not None else (threads or 4))
    train, test = load_splits(data_path, recipe, key.traditional, norm, device, workers, execution["decode"], log)
    pipeline = build_pipeline(recipe["pipeline"], spec.image_size) if key.traditional and spec.kind == "pixels" else None
    if pipeline is not None:
        input_pipeline = pipeline.describe()
    elif spec.kind == "files":  # decoded and augmented by the DataLoader workers (augrepro.data.file_pipelines)
        input_pipeline = describe_file_pipeline(recipe["pipeline"], key.traditional)
    else:
        input_pipeline = None

    model = model_of_run(run, spec.num_classes)
    provenance = None
    if recipe.get("pretrained"):
        from augrepro.models.pretrained import load_pretrained

        provenance = load_pretrained(model, pretrained, key.model, recipe["pretrained"])
        log(f"loaded {provenance['weights']} from {pretrained} into the backbone; {provenance['head']}")
    model = model.to(device)
    batchnorm = recipe.get("batchnorm", "per_replica")
    model = dist.prepare_model(model, batchnorm, device)
    if accel.channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(dist.wrap(model)) if execution["compile"] else dist.wrap(model)
    # evaluation never goes through DistributedDataParallel (each rank evaluates its own part of the split)
    eval_forward = forward if not dist.enabled else (torch.compile(model) if execution["compile"] else model)
    # the source's nn.DataParallel replicas that this process emulates (its share of them under torchrun)
    train_forward = ReplicaForward(forward, model, replicas_per_process(recipe, dist.world_size))
    # this rank's pipeline and mixing draws (the run's own generators in a single process)
    rank_gen, rng = dist.rank_generators(seed, gen, rng)
    augmentation = build_augmentation(run["method"], run["method_params"], spec)
    optimizer = make_optimizer(model, recipe, device)
    scheduler = make_scheduler(optimizer, recipe)
    epochs, batch_size = int(recipe["epochs"]), int(recipe["batch_size"])
    steps = train.num_batches(batch_size)

    rows: list[dict[str, float]] = []
    totals = {"train_seconds": 0.0, "eval_seconds": 0.0, "gpu_seconds": 0.0, "images": 0, "previous_wall_seconds": 0.0}
    start_epoch, partial = 1, None
    resume_path = out / runs.RESUME_FILE
    if resume_path.exists():
        state = torch.load(resume_path, map_location=device, weights_only=True)
        if state["run"] != run:
            raise RuntimeError(
                f"{resume_path} belongs to a different configuration; delete it to start this run afresh"
            )
        dist.check_resume(state, resume_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(dist.mine(state["rng"]), gen, rng, rank_gen)
        rows, totals = state["metrics"], state["totals"]
        start_epoch = state["epoch"] + 1
        if state["partial"] is not None:
            partial = _EpochState.from_dict(dist.mine(state["partial"]), device)
            start_epoch = state["epoch"]
            log(f"resuming from {resume_path} in epoch {start_epoch} after step {partial.step}/{steps}")
        else:
            log(f"resuming from {resume_path} after epoch {state['epoch']}")

    def save_state(epoch: int, epoch_state: _EpochState | None) -> None:
        # every rank's random streams and partial sums, gathered; rank 0 writes, the others wait for it
        rng_states = dist.per_rank(_rng_state(gen, rng, rank_gen))
        partial_states = dist.per_rank(epoch_state.to_dict()) if epoch_state is not None else None
        if dist.is_main:
            atomic_torch_save(
                resume_path,
                {
                    "run": run,
                    "epoch": epoch,
                    "world_size": dist.world_size,
                    "partial": partial_states,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_states,
                    "metrics": rows,
                    "totals": {
                        **totals,
                        "previous_wall_seconds": totals["previous_wall_seconds"] + time.perf_counter() - wall_start,
                    },
                },
            )
        dist.barrier()

    described = augmentation.describe()
    rank_devices = dist.all_gather(device_name(device))
    log(
        f"run {key.label()}: {described['method']} {described['params']} on {device} ({device_name(device)}), "
        f"{len(train)} train / {len(test)} test images, {epochs} epochs, pipeline "
        f"{input_pipeline if input_pipeline is not None else 'none'}, bf16 {accel.bf16}, "
        f"channels_last {accel.channels_last}, compile {bool(execution['compile'])}"
        + (f", {dist.world_size} processes ({dist.backend}, batchnorm {batchnorm})" if dist.enabled else "")
    )
    from tqdm import tqdm

    with StopFlag() as stop:
        for epoch in range(start_epoch, epochs + 1):
            lr = optimizer.param_groups[0]["lr"]
            ctx = Context(norm.mean, norm.std, rank_gen, rng, epoch=epoch, model=model)
            es = partial if partial is not None else _EpochState(train.epoch_order(gen), device)
            partial = None
            shard = dist.shard(es.order, batch_size)  # this rank's part of each step (all of it in one process)
            segment_start = time.perf_counter()
            if device.type == "cuda":
                gpu_start, gpu_end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                gpu_start.record()
            bar = tqdm(
                total=shard.steps,
                initial=es.step,
                desc=f"epoch {epoch}/{epochs}",
                file=sys.stderr,
                mininterval=1.0 if sys.stderr.isatty() else 10.0,
                leave=False,
                disable=not dist.is_main,
            )
            for x, y in train.iterate(shard.order, es.step, shard.batch, rank_gen, pipeline):
                mixed, logits, loss = train_step(train_forward, optimizer, augmentation, x, y, ctx, accel, shard.loss_scale(es.step))
                es.step_losses.append(loss.detach())
                es.loss_sum += loss.detach() * len(y)
                es.correct += mixed.correct(logits.detach(), y)
                es.step += 1
                bar.update(1)
                # Checked after a whole step, before the next batch draws anything from the generators; all
                # ranks agree on it (a SIGTERM to any rank stops every rank at this same step).
                if dist.any(stop.requested) and es.step < shard.steps:
                    bar.close()
                    es.seconds += time.perf_counter() - segment_start
                    save_state(epoch, es)
                    raise Preempted(
                        f"SIGTERM in epoch {epoch} at step {es.step}/{shard.steps}: state saved to {resume_path}; "
                        f"exiting with code {PREEMPTED_EXIT_CODE}; the next start resumes from here"
                    )
            bar.close()
            losses = torch.stack(es.step_losses)
            finite = torch.isfinite(losses)
            if dist.any(not bool(finite.all())):
                where = "on another rank"
                if not bool(finite.all()):
                    step = int((~finite).nonzero()[0]) + 1
                    where = f"{losses[step - 1].item()} at epoch {epoch}, step {step}"
                raise NonFiniteLossError(
                    f"loss became {where}" + (f" (rank {dist.rank})" if dist.enabled else "") + "; "
                    "stopping without writing outputs (lower training.lr or check the method's parameters)"
                )
            if device.type == "cuda":
                gpu_end.record()
                gpu_end.synchronize()
                es.gpu_seconds += gpu_start.elapsed_time(gpu_end) / 1000.0
            train_seconds = es.seconds + time.perf_counter() - segment_start
            scheduler.step()
            eval_start = time.perf_counter()
            dist.broadcast_buffers(model)  # rank 0's BatchNorm statistics, the ones it checkpoints
            test_loss, top1, top5 = evaluate(eval_forward, test, int(execution["eval_batch_size"]), accel, dist)
            loss_sum, correct = dist.sum(torch.stack([es.loss_sum, es.correct])) if dist.enabled else (es.loss_sum, es.correct)
            eval_seconds = time.perf_counter() - eval_start
            totals["train_seconds"] += train_seconds
            totals["eval_seconds"] += eval_seconds
            totals["gpu_seconds"] += es.gpu_seconds
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
            save_state(epoch, None)
            if dist.any(stop.requested) and epoch < epochs:
                raise Preempted(
                    f"SIGTERM after epoch {epoch}: state saved to {resume_path}; "
                    f"exiting with code {PREEMPTED_EXIT_CODE}; the next start resumes from here"
                )

    wall = totals["previous_wall_seconds"] + (time.perf_counter() - wall_start)
    timing = {
        "wall_seconds": wall,
        "train_seconds": totals["train_seconds"],
        "eval_seconds": totals["eval_seconds"],
        "gpu_seconds": totals["gpu_seconds"] if device.type == "cuda" else None,
        "images_per_second": totals["images"] / max(totals["train_seconds"], 1e-9),
        "device": device.type,
        "device_name": device_name(device),
        "epochs": epochs,
        "bf16": accel.bf16,
        "channels_last": accel.channels_last,
        "compile": bool(execution["compile"]),
        # data-parallel runs: images_per_second counts every rank's images, gpu_seconds are rank 0's
        "world_size": dist.world_size,
        "rank_device_names": rank_devices,
    }
    meta = {
        "run": runs.identity_record(key, run["method"], described["variant"]),
        "config": run,
        "execution": execution,
        "method": described,
        "pipeline": input_pipeline,
        "pretrained": provenance,
        "loader": train.describe() if hasattr(train, "describe") else None,
        "distributed": dist.describe(batchnorm, batch_size // dist.world_size),
        **describe_environment(),
    }
    if dist.is_main:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        files = runs.RUN_FILES
        atomic_torch_save(out / files["checkpoint"], {"run": run, "epoch": epochs, "model": model.state_dict()})
        atomic_write_text(out / files["timing"], json.dumps(timing, indent=2) + "\n")
        atomic_write_text(out / files["meta"], json.dumps(meta, indent=2, default=str) + "\n")
        atomic_write_text(out / files["metrics"], buf.getvalue())
        resume_path.unlink(missing_ok=True)
    dist.close()
    log(
        f"done: best test top-1 error {min(r['test_top1_error'] for r in rows):.2f} %, "
        f"{timing['images_per_second']:.0f} images/s, {wall:.1f} s wall"
    )
    return {"metrics": rows, "timing": timing, "meta": meta}
