"""The pilot's measuring job: a few hundred training steps of one run, on the machine its shape will train on.

:func:`run_pilot` is one pilot job (the pilot rule's script, ``augrepro pilot``): a supervisor that starts the worker
in a child process as the train rule starts a run (one process, or torchrun's processes for a run of several GPUs or
nodes: :func:`augrepro.train.launch.launch`), waits for it at most 90 % of the job's runtime, and writes the job's
result file (atomically) whatever happened: the measurements, or the failure with its kind (:data:`FAILURE_KINDS`:
out of memory, missing data, a GPU error, a setting the run cannot take, a loss that is not finite, a timeout, a
crash) and message. So every shape's result comes back, and no pilot's failure stops the workflow.

The worker (:func:`measure`; ``python -m augrepro.train.pilot RUN DATA WORK ...``) trains with the training engine's
own pieces: the run's :class:`~augrepro.train.engine.Session` (its data and loader, input pipeline, numerics, world
size, model, method and optimizer) and :func:`~augrepro.train.engine.train_one_epoch`, over an order of
``warmup + steps`` batches drawn as the run's epochs are (epoch orders concatenated where the split is smaller), as
the run's last epoch (where every method mixes: the SalfMix family leaves the first epoch clean). It times the steps
after the warm-up (the device synchronized where the timing starts and ends), a fresh epoch's first batch (a file
loader starts its workers every epoch), one checkpoint save (``Session.save``: the run's resume.pt, into the pilot's
work folder) and an evaluation pass (the engine's
``evaluate`` on the first test images, as many as the measured steps trained, after a one-batch warm-up); it records
the peak memory (per GPU: torch's peak allocated and reserved bytes; per process: the peak resident memory) and the
device names. Rank 0 writes ``measurement.json``; a rank that fails writes ``failure.rank<r>.json`` and exits 1
(torchrun then stops the others).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from augrepro.io import atomic_write_text
from augrepro.runs import PREEMPTED_EXIT_CODE, PilotKey
from augrepro.studies.pilot import PilotSettings

MODULE = "augrepro.train.pilot"  # python -m MODULE: the worker
MEASUREMENT = "measurement.json"  # the worker's result (rank 0), in the work folder
RUN_FILE = "run.json"
WORKER_LOG = "worker.log"
WORK_DIR = "work"  # beside the result file; removed when the result is written
STOP_GRACE_SECONDS = 30.0  # after SIGTERM at the deadline, before SIGKILL

# What each kind of failure means and what to do about it (recorded with the failure as its hint).
FAILURE_KINDS = {
    "out_of_memory": "the run does not fit in the device's memory: a GPU with more memory (gpu_model in the "
    "profile) or more GPUs per run (the study's resources.gpus); on the host, raise the study's resources.mem_mb",
    "missing_data": "a file the run reads is missing here: are results/ and the dataset's images on a file system "
    "that the compute nodes see?",
    "gpu": "a CUDA, cuDNN or NCCL error: the GPU or its driver on this node (nvidia-smi; exclude the node), or "
    "training.device asks for a GPU that is not there",
    "invalid_setting": "the run cannot take one of its settings on this shape (the message names it)",
    "non_finite_loss": "the loss became NaN or infinite within the pilot's steps",
    "timeout": "the pilot did not finish in time: raise pilot_settings.runtime_min or lower pilot_settings.steps",
    "crashed": "the worker died without recording why (a signal: the host's memory limit, a segfault; see the log)",
    "error": "an unexpected error (the log has its traceback)",
}


class PilotInterrupted(RuntimeError):
    """SIGTERM or SIGINT reached the pilot job (a preemption, a cancelled job): the worker was stopped and no result
    written, so that a retry runs the pilot again. Exit with ``exit_code``."""

    exit_code = PREEMPTED_EXIT_CODE


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:
    """The log of every rank but rank 0."""


# --- the worker --------------------------------------------------------------------------------------


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


def _memory(device) -> dict[str, Any]:
    """This process's peak memory so far: resident (host) and, on a GPU, torch's peak allocated and reserved bytes."""
    out: dict[str, Any] = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}  # KiB
    if device is not None and device.type == "cuda":
        import torch

        out.update(
            peak_gpu_allocated_bytes=torch.cuda.max_memory_allocated(device),
            peak_gpu_reserved_bytes=torch.cuda.max_memory_reserved(device),
            gpu_memory_bytes=torch.cuda.get_device_properties(device).total_memory,
        )
    return out


def _job_memory(ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's peaks: per GPU the largest rank's; on the host, the largest node's sum over its processes."""
    per_host: dict[str, int] = {}
    for r in ranks:
        per_host[r["host"]] = per_host.get(r["host"], 0) + r["peak_rss_bytes"]
    out: dict[str, Any] = {"peak_host_memory_bytes": max(per_host.values())}
    for name, pick in (("peak_gpu_allocated_bytes", max), ("peak_gpu_reserved_bytes", max), ("gpu_memory_bytes", min)):
        values = [r[name] for r in ranks if r.get(name) is not None]
        out[name] = pick(values) if values else None
    return out


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
    from augrepro.provenance import describe_environment, device_name
    from augrepro.train.config import TrainingConfig
    from augrepro.train.engine import Session, evaluate, train_one_epoch
    from augrepro.train.progress import EpochState, Progress
    from augrepro.train.resumable import StopFlag

    settings = PilotSettings.of(settings)
    log = log or _stderr
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

    ranks = dist.all_gather({"host": socket.gethostname(), "device_name": device_name(device), **_memory(device)})
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
        "memory": _job_memory(ranks),
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


def failure_kind(exc: BaseException) -> str:
    """The kind of a worker's exception (a key of :data:`FAILURE_KINDS`)."""
    import torch

    from augrepro.train.resumable import NonFiniteLossError

    text = str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError) or "out of memory" in text.lower():
        return "out_of_memory"
    if isinstance(exc, NonFiniteLossError):
        return "non_finite_loss"
    if isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and getattr(exc, "filename", None)):
        return "missing_data"
    if any(word in text for word in ("CUDA", "cuDNN", "CUBLAS", "cublas", "NCCL", "nvjpeg")):
        return "gpu"
    if isinstance(exc, ValueError):
        return "invalid_setting"
    return "error"


def describe_failure(exc: BaseException, rank: int = 0) -> dict[str, Any]:
    """What a failed worker records: the kind, the message, what to do, which rank, when, and its peak memory."""
    kind = failure_kind(exc)
    device = None
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            device = torch.device("cuda", torch.cuda.current_device())
    except Exception:  # noqa: BLE001 (a broken GPU must not hide the failure it caused)
        pass
    return {
        "kind": kind,
        "message": f"{type(exc).__name__}: {exc}",
        "hint": FAILURE_KINDS[kind],
        "rank": rank,
        "time": time.time(),
        "memory": _memory(device),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m augrepro.train.pilot RUN.json DATA.npz WORK/ [--threads N] [--execution JSON] [--pretrained FILE]
    [--steps S] [--warmup W] [--nproc-per-node G [--nnodes M]]``: the pilot's worker (every rank under torchrun)."""
    started = time.perf_counter()
    from augrepro.train.distributed import env_world_size
    from augrepro.train.launch import add_worker_arguments, launch

    parser = argparse.ArgumentParser(prog="python -m augrepro.train.pilot", description="the pilot's worker")
    add_worker_arguments(parser, "the pilot's work folder (measurement.json, failure.rank<r>.json)")
    parser.add_argument("--steps", type=int, default=PilotSettings.steps, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=PilotSettings.warmup, help="untimed steps first")
    args = parser.parse_args(argv)
    with open(args.run) as f:
        run = json.load(f)
    execution = json.loads(args.execution)
    work = Path(args.out)
    if args.nproc_per_node and env_world_size() == 1 and (args.nproc_per_node > 1 or args.nnodes > 1):
        extra = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
        return launch(
            run,
            args.data,
            work,
            execution,
            args.threads,
            args.nproc_per_node,
            args.nnodes,
            pretrained=args.pretrained,
            module=MODULE,
            extra=extra,
        )
    rank = int(os.environ.get("RANK", "0"))
    try:
        settings = PilotSettings(steps=args.steps, warmup=args.warmup)
        record = measure(run, args.data, work, execution, args.threads, settings, args.pretrained, started=started)
    except Exception as exc:  # noqa: BLE001 (every failure is recorded: that is the pilot's point)
        traceback.print_exc()
        atomic_write_text(work / f"failure.rank{rank}.json", json.dumps(describe_failure(exc, rank), indent=2) + "\n")
        return 1
    if rank == 0:
        atomic_write_text(work / MEASUREMENT, json.dumps(record, indent=2, default=str) + "\n")
    return 0


# --- the supervisor ----------------------------------------------------------------------------------


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the worker's process group (torchrun passes it on), SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _worker_failure(
    work: Path, rc: int, timed_out: bool, deadline: float, settings: PilotSettings, log_text: str
) -> dict[str, Any]:
    """Why the worker gave no measurement: a timeout, the first failure a rank recorded, or how it died."""
    if timed_out:
        message = (
            f"the pilot did not finish within {deadline / 60:.2g} min (90 % of pilot_settings.runtime_min = "
            f"{settings.runtime_min}) and was stopped; raise runtime_min or lower steps ({settings.steps})"
        )
        return {"kind": "timeout", "message": message, "hint": FAILURE_KINDS["timeout"]}
    recorded = []
    for path in sorted(work.glob("failure.rank*.json")):
        try:
            recorded.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if recorded:  # the first failure in time: the others are usually its echo on the other ranks
        return min(recorded, key=lambda f: f.get("time", 0.0))
    last = next((line.strip() for line in reversed(log_text.splitlines()) if line.strip()), "")
    if rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else f"signal {-rc}"
        message = f"the worker was killed by {name}" + (
            " (the host's out-of-memory killer or the job's memory limit? the study's resources.mem_mb)"
            if -rc == signal.SIGKILL
            else ""
        )
    else:
        message = f"the worker exited with code {rc} without a result" + (
            f"; its last line: {last[:300]}" if last else ""
        )
    return {"kind": "crashed", "message": message, "hint": FAILURE_KINDS["crashed"]}


def run_pilot(
    key: PilotKey,
    run: dict[str, Any],
    data,
    result,
    execution: dict[str, Any] | None = None,
    threads: int | None = None,
    per_node: int = 1,
    nodes: int = 1,
    settings: PilotSettings | dict | None = None,
    pretrained=None,
    log: Callable[[str], None] | None = None,
    deadline_seconds: float | None = None,
) -> dict[str, Any]:
    """One pilot job: measure ``run`` (the shape ``key``'s) on ``per_node`` x ``nodes`` processes and write
    ``result`` (atomically) in every case; returns the record. Raises :class:`PilotInterrupted` (no result) when
    SIGTERM or SIGINT reaches the job. ``deadline_seconds``: when the worker is stopped and the pilot recorded as timed
    out (default: 90 % of the settings' runtime_min)."""
    from augrepro.train.launch import child_env

    settings = PilotSettings.of(settings)
    deadline = settings.deadline_seconds if deadline_seconds is None else float(deadline_seconds)
    log = log or _stderr
    result = Path(result)
    work = result.parent / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run_file = work / RUN_FILE
    atomic_write_text(run_file, json.dumps(run, indent=2) + "\n")
    cmd = [sys.executable, "-m", MODULE, str(run_file), str(data)]
    cmd += [str(work), "--execution", json.dumps(execution or {})]
    cmd += ["--steps", str(settings.steps), "--warmup", str(settings.warmup)]
    cmd += ["--threads", str(threads)] if threads else []
    cmd += ["--pretrained", str(pretrained)] if pretrained else []
    cmd += ["--nproc-per-node", str(per_node), "--nnodes", str(nodes)] if per_node * nodes > 1 else []
    log(f"pilot of {key.label()} ({run['augmentation']}, seed {run['seed']}): {' '.join(cmd)}")
    started, timed_out, stopped = time.perf_counter(), False, []
    with open(work / WORKER_LOG, "w") as sink:
        proc = subprocess.Popen(
            cmd, env=child_env(threads), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )

        def interrupt(signum, frame):
            stopped.append(signum)
            _stop(proc)

        import threading

        handled = (signal.SIGTERM, signal.SIGINT) if threading.current_thread() is threading.main_thread() else ()
        previous = {s: signal.signal(s, interrupt) for s in handled}
        try:
            try:
                rc = proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(proc)
                rc = proc.returncode
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    log_text = (work / WORKER_LOG).read_text(errors="replace")
    sys.stderr.write(log_text)
    if stopped:
        raise PilotInterrupted(
            f"the pilot of {key.label()} was stopped by signal {stopped[0]}; no result written (a retry runs it again)"
        )
    measurement = work / MEASUREMENT
    if rc == 0 and not timed_out and measurement.is_file():
        outcome = json.loads(measurement.read_text())
    else:
        outcome = _failed(_worker_failure(work, rc, timed_out, deadline, settings, log_text))
    job = {"wall_seconds": time.perf_counter() - started, "command": cmd, "exit_code": rc}
    record = _write_result(key, run, result, outcome, per_node * nodes, settings, job, log)
    shutil.rmtree(work, ignore_errors=True)
    return record


def _failed(failure: dict[str, Any]) -> dict[str, Any]:
    """A failed pilot's outcome: the failure, and the peak memory its rank recorded (in the job's terms)."""
    memory = failure.get("memory")
    return {"status": "failed", "failure": failure, "memory": _job_memory([{"host": "", **memory}]) if memory else None}


def _write_result(
    key: PilotKey,
    run: dict[str, Any],
    result,
    outcome: dict[str, Any],
    world_size: int,
    settings: PilotSettings,
    job: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Write a pilot's result file (atomically): what it trained, its outcome (measurements or failure), and the job."""
    record: dict[str, Any] = {
        "run": f"{run['protocol']}/{run['dataset_key']}/{run['model']}/{run['augmentation']}/seed{run['seed']}",
        "augmentation": run["augmentation"],
        "method": run["method"],
        "config": run,
        "epochs": int(run["recipe"]["epochs"]),
        "batch_size": int(run["recipe"]["batch_size"]),
        "world_size": world_size,
        "steps": settings.steps,
        "warmup": settings.warmup,
        **outcome,
        "shape": asdict(key),
        "settings": settings.as_dict(),
        "job": {
            "host": socket.gethostname(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            **job,
        },
    }
    atomic_write_text(result, json.dumps(record, indent=2, default=str) + "\n")
    if record["status"] == "ok":
        log(f"pilot of {key.label()}: measured, {record['train_images_per_second']:.1f} training images/s")
    else:
        log(f"pilot of {key.label()}: FAILED: {record['failure']['kind']}: {record['failure']['message']}")
    return record


def record_failure(
    key: PilotKey,
    run: dict[str, Any],
    result,
    kind: str,
    message: str,
    world_size: int = 1,
    settings: PilotSettings | dict | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write the result of a pilot that could not start (``augrepro pilot`` without the prepared data, say)."""
    failure = {"kind": kind, "message": message, "hint": FAILURE_KINDS[kind]}
    settings = PilotSettings.of(settings)
    return _write_result(key, run, result, _failed(failure), world_size, settings, {"exit_code": None}, log or _stderr)


if __name__ == "__main__":
    sys.exit(main())
