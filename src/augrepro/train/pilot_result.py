"""A pilot's result: the kinds of failure and what each means (:data:`FAILURE_KINDS`), what a failed worker records
(:func:`describe_failure`), the peak memory of a process and of a job, and the result file of a pilot job, written
atomically whatever happened (:func:`write_result`; :func:`record_failure` for a pilot that could not start).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from augrepro.io import atomic_write_text
from augrepro.resolved import ResolvedRun
from augrepro.runs import PilotKey
from augrepro.studies.pilot import PilotSettings

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


def log_to_stderr(msg: str) -> None:
    """The pilot's log when none is given: a line on stderr, flushed."""
    print(msg, file=sys.stderr, flush=True)


def process_memory(device) -> dict[str, Any]:
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


def job_memory(ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's peaks: per GPU the largest rank's; on the host, the largest node's sum over its processes."""
    per_host: dict[str, int] = {}
    for r in ranks:
        per_host[r["host"]] = per_host.get(r["host"], 0) + r["peak_rss_bytes"]
    out: dict[str, Any] = {"peak_host_memory_bytes": max(per_host.values())}
    for name, pick in (("peak_gpu_allocated_bytes", max), ("peak_gpu_reserved_bytes", max), ("gpu_memory_bytes", min)):
        values = [r[name] for r in ranks if r.get(name) is not None]
        out[name] = pick(values) if values else None
    return out


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
        "memory": process_memory(device),
    }


def failed_outcome(failure: dict[str, Any]) -> dict[str, Any]:
    """A failed pilot's outcome: the failure, and the peak memory its rank recorded (in the job's terms)."""
    memory = failure.get("memory")
    return {"status": "failed", "failure": failure, "memory": job_memory([{"host": "", **memory}]) if memory else None}


def write_result(
    key: PilotKey,
    run: ResolvedRun,
    result,
    outcome: dict[str, Any],
    world_size: int,
    settings: PilotSettings,
    job: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Write a pilot's result file (atomically): what it trained, its outcome (measurements or failure), and the job."""
    record: dict[str, Any] = {
        "run": run.key.label(),
        "augmentation": run.key.augmentation,
        "method": run.method,
        "config": run.to_params(),
        "epochs": run.protocol.epochs,
        "batch_size": run.protocol.batch_size,
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
    run: ResolvedRun,
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
    return write_result(
        key, run, result, failed_outcome(failure), world_size, settings, {"exit_code": None}, log or log_to_stderr
    )
