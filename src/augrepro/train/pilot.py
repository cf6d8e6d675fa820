"""The pilot's measuring job: a few hundred training steps of one run, on the machine its shape will train on.

:func:`run_pilot` is one pilot job (the pilot rule's script, ``augrepro pilot``): a supervisor that starts the worker
in a child process as the train rule starts a run (one process, or torchrun's processes for a run of several GPUs or
nodes: :func:`augrepro.train.launch.launch`), waits for it at most 90 % of the job's runtime, and writes the job's
result file (atomically) whatever happened: the measurements, or the failure with its kind
(:data:`augrepro.train.pilot_result.FAILURE_KINDS`: out of memory, missing data, a GPU error, a setting the run cannot
take, a loss that is not finite, a timeout, a crash) and message. So every shape's result comes back, and no pilot's
failure stops the workflow.

The worker (:func:`main`; ``python -m augrepro.train.pilot RUN DATA WORK ...``) measures the run on every rank
(:func:`augrepro.train.pilot_measure.measure`: what it times and records). Rank 0 writes ``measurement.json``; a rank
that fails writes ``failure.rank<r>.json`` (:func:`augrepro.train.pilot_result.describe_failure`) and exits 1
(torchrun then stops the others). The result file and the failures: :mod:`augrepro.train.pilot_result`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augrepro.io import atomic_write_text
from augrepro.resolved import ResolvedRun
from augrepro.runs import PREEMPTED_EXIT_CODE, PilotKey
from augrepro.studies.pilot import PilotSettings
from augrepro.train.launch import add_worker_arguments, child_env, launch
from augrepro.train.pilot_measure import measure
from augrepro.train.pilot_result import FAILURE_KINDS, describe_failure, failed_outcome, log_to_stderr, write_result

MODULE = "augrepro.train.pilot"  # python -m MODULE: the worker
MEASUREMENT = "measurement.json"  # the worker's result (rank 0), in the work folder
RUN_FILE = "run.json"
WORKER_LOG = "worker.log"
WORK_DIR = "work"  # beside the result file; removed when the result is written
STOP_GRACE_SECONDS = 30.0  # after SIGTERM at the deadline, before SIGKILL


class PilotInterrupted(RuntimeError):
    """SIGTERM or SIGINT reached the pilot job (a preemption, a cancelled job): the worker was stopped and no result
    written, so that a retry runs the pilot again. Exit with ``exit_code``."""

    exit_code = PREEMPTED_EXIT_CODE


# --- the worker ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m augrepro.train.pilot RUN.json DATA.npz WORK/ [--threads N] [--execution JSON] [--pretrained FILE]
    [--steps S] [--warmup W] [--nproc-per-node G [--nnodes M]]``: the pilot's worker (every rank under torchrun)."""
    started = time.perf_counter()
    from augrepro.train.distributed import env_world_size

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
    run: ResolvedRun,
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
    settings = PilotSettings.of(settings)
    deadline = settings.deadline_seconds if deadline_seconds is None else float(deadline_seconds)
    log = log or log_to_stderr
    result = Path(result)
    work = result.parent / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run_file = work / RUN_FILE
    atomic_write_text(run_file, json.dumps(run.to_params(), indent=2) + "\n")
    cmd = [sys.executable, "-m", MODULE, str(run_file), str(data)]
    cmd += [str(work), "--execution", json.dumps(execution or {})]
    cmd += ["--steps", str(settings.steps), "--warmup", str(settings.warmup)]
    cmd += ["--threads", str(threads)] if threads else []
    cmd += ["--pretrained", str(pretrained)] if pretrained else []
    cmd += ["--nproc-per-node", str(per_node), "--nnodes", str(nodes)] if per_node * nodes > 1 else []
    log(f"pilot of {key.label()} ({run.key.augmentation}, seed {run.key.seed}): {' '.join(cmd)}")
    started, timed_out, stopped = time.perf_counter(), False, []
    with open(work / WORKER_LOG, "w") as sink:
        proc = subprocess.Popen(
            cmd, env=child_env(threads), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )

        def interrupt(signum, frame):
            stopped.append(signum)
            _stop(proc)

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
        outcome = failed_outcome(_worker_failure(work, rc, timed_out, deadline, settings, log_text))
    job = {"wall_seconds": time.perf_counter() - started, "command": cmd, "exit_code": rc}
    record = write_result(key, run, result, outcome, per_node * nodes, settings, job, log)
    shutil.rmtree(work, ignore_errors=True)
    return record


if __name__ == "__main__":
    sys.exit(main())
