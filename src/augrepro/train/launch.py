"""Start one training run on several processes (one per GPU) with ``torchrun``, on one node or on every node
of a SLURM allocation.

One node (``nodes`` 1): ``python -m torch.distributed.run --standalone --nproc-per-node G -m augrepro.train
RUN DATA OUT ...``. Several nodes (inside a SLURM job): ``srun --overlap --nodes M --ntasks-per-node 1``
starts one torchrun per node, which meet at a c10d rendezvous on this host (``--rdzv-id`` the job id). Each
worker process runs :func:`augrepro.train.engine.train_run`, which joins the process group
(``augrepro.train.distributed``).

SIGTERM or SIGINT to the launcher is passed on to torchrun, which passes it to its workers; they agree on
the step to stop at, rank 0 writes ``resume.pt``, and the launcher exits with 143 (the single process's
code for "preempted, resume me"), so Snakemake's retry or SLURM's requeue resumes the run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from augrepro.io import atomic_write_text
from augrepro.runs import PREEMPTED_EXIT_CODE, RESUME_FILE

RUN_FILE = "launch_run.json"  # the resolved run, for the worker processes (removed after a finished run)


def slurm_resources(gpus: int, nodes: int) -> dict[str, Any]:
    """The train rule's SLURM resources for a job of ``gpus`` GPUs per node on ``nodes`` nodes
    (snakemake-executor-plugin-slurm): one node asks ``gpu`` (sbatch ``--gpus=G``, and the job step's
    ``srun --gpus=G``); several nodes ask ``gres: gpu:G`` (``--gres`` counts per node) and ``nodes``
    (``--nodes=M``). A resource that is None is left out."""
    if gpus < 0 or nodes < 1:
        raise ValueError(f"gpus must be >= 0 and nodes >= 1, got gpus={gpus}, nodes={nodes}")
    if nodes == 1:
        return {"gpu": gpus, "gres": None, "nodes": 1}
    return {"gpu": None, "gres": f"gpu:{gpus}" if gpus else None, "nodes": nodes}


def processes_per_node(resources: Mapping[str, Any]) -> tuple[int, int]:
    """(processes per node, nodes) of a job with these rule resources (see :func:`slurm_resources`): one
    process per GPU, one when the job asks for none."""
    nodes = int(resources.get("nodes") or 1)
    gpus = resources.get("gpu")
    if gpus is None and resources.get("gres"):
        gpus = str(resources["gres"]).rsplit(":", 1)[-1]
    return max(1, int(gpus or 0)), nodes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def add_worker_arguments(parser: argparse.ArgumentParser, out_help: str = "output folder of the run") -> None:
    """The arguments a worker module takes (``python -m augrepro.train``, ``python -m augrepro.train.pilot``): what
    :func:`worker_args` passes, and ``--nproc-per-node`` / ``--nnodes`` to start them under torchrun (:func:`launch`)."""
    parser.add_argument("run", help="JSON file with the resolved run configuration")
    parser.add_argument("data", help="prepared dataset (.npz)")
    parser.add_argument("out", help=out_help)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--execution", default="{}", help="execution-only settings as a JSON object")
    parser.add_argument("--pretrained", default=None, help="weights file for a protocol with 'pretrained:'")
    parser.add_argument("--nproc-per-node", type=int, default=None, help="processes (GPUs) per node, via torchrun")
    parser.add_argument("--nnodes", type=int, default=1, help="nodes of the current SLURM job (with --nproc-per-node)")


WORKER_MODULE = "augrepro.train"  # what each process runs: a training run (the pilot: augrepro.train.pilot)


def worker_args(
    run_file: Path,
    data,
    out,
    threads: int | None,
    execution: dict | None,
    pretrained=None,
    module: str = WORKER_MODULE,
    extra: list[str] | None = None,
) -> list[str]:
    """The arguments of ``python -m augrepro.train`` (or ``module``, with ``extra`` arguments) in each worker."""
    args = ["-m", module, str(run_file), str(data), str(out), "--execution", json.dumps(execution or {})]
    args += ["--threads", str(threads)] if threads else []
    return args + (["--pretrained", str(pretrained)] if pretrained else []) + list(extra or [])


def torchrun_command(
    run_file: Path,
    data,
    out,
    nproc_per_node: int,
    nnodes: int = 1,
    threads: int | None = None,
    execution: dict | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str | None = None,
    python: str = sys.executable,
    pretrained=None,
    module: str = WORKER_MODULE,
    extra: list[str] | None = None,
) -> list[str]:
    """torchrun (``python -m torch.distributed.run``) for one node, or for one of ``nnodes`` nodes meeting
    at ``rdzv_endpoint``; ``threads`` are each worker's; ``pretrained``: the backbone's weights file, if any;
    ``module`` and ``extra``: what the workers run (:func:`worker_args`)."""
    cmd = [python, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc_per_node)]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd += ["--standalone", "--nnodes", "1"]
    else:
        if not rdzv_endpoint or not rdzv_id:
            raise ValueError("several nodes need a rendezvous endpoint (host:port) and id")
        cmd += [
            "--nnodes",
            str(nnodes),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            rdzv_endpoint,
            "--rdzv-id",
            str(rdzv_id),
        ]
    return (
        cmd + ["--max-restarts", "0"] + worker_args(run_file, data, out, threads, execution, pretrained, module, extra)
    )


def slurm_command(torchrun: list[str], nodes: int, gpus_per_node: int) -> list[str]:
    """``srun`` starting one torchrun per node of this SLURM job (``--overlap``: it runs beside the job step
    that started the launcher); every node's GPUs go to its torchrun."""
    cmd = [
        "srun",
        "--overlap",
        f"--jobid={os.environ['SLURM_JOB_ID']}",
        f"--nodes={nodes}",
        f"--ntasks={nodes}",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=1",
    ]
    if gpus_per_node:
        cmd.append(f"--gres=gpu:{gpus_per_node}")
    return cmd + torchrun


def child_env(threads: int | None) -> dict[str, str]:
    """The environment of a process started for a run: it imports this very augrepro, with ``threads`` threads."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # the workers import this very augrepro
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = str(threads or 1)  # torchrun would set 1 and warn
    for var in (
        "SLURM_NTASKS",
        "SLURM_NPROCS",
        "SLURM_NNODES",
        "SLURM_NTASKS_PER_NODE",
        "SLURM_TASKS_PER_NODE",
        "SLURM_STEP_NUM_NODES",
        "SLURM_STEP_NUM_TASKS",
    ):
        env.pop(var, None)  # the launcher's own step's geometry: the nested srun gets its own
    return env


def launch(
    run: dict,
    data,
    out,
    execution: dict | None,
    threads: int | None,
    nproc_per_node: int,
    nodes: int = 1,
    log: Callable[[str], None] | None = None,
    pretrained=None,
    module: str = WORKER_MODULE,
    extra: list[str] | None = None,
) -> int:
    """Train ``run`` on ``nproc_per_node`` x ``nodes`` processes; returns the exit code to exit with (0 done,
    143 preempted with resume.pt written, anything else a failure). ``pretrained``: as in ``train_run``;
    ``module`` and ``extra``: what the workers run instead of a training run (the pilot's measuring job)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / RUN_FILE
    atomic_write_text(run_file, json.dumps(run, indent=2) + "\n")
    per_worker = max(1, int(threads) // nproc_per_node) if threads else None
    if nodes == 1:
        cmd = torchrun_command(
            run_file,
            data,
            out,
            nproc_per_node,
            1,
            per_worker,
            execution,
            pretrained=pretrained,
            module=module,
            extra=extra,
        )
    else:
        if "SLURM_JOB_ID" not in os.environ:
            raise RuntimeError(
                f"a run on {nodes} nodes is started inside a SLURM job (srun); run it through "
                "`snakemake --profile slurm`, or set the study's resources.nodes to 1"
            )
        endpoint = f"{socket.gethostname()}:{_free_port()}"
        cmd = slurm_command(
            torchrun_command(
                run_file,
                data,
                out,
                nproc_per_node,
                nodes,
                per_worker,
                execution,
                endpoint,
                os.environ["SLURM_JOB_ID"],
                pretrained=pretrained,
                module=module,
                extra=extra,
            ),
            nodes,
            nproc_per_node,
        )
    log(f"launching {nproc_per_node} x {nodes} processes: {' '.join(cmd)}")
    try:  # the workers write where this process writes its log (the rule's log file under Snakemake)
        sink = sys.stderr if sys.stderr.fileno() >= 0 else None
    except (AttributeError, OSError, ValueError):
        sink = None
    proc = subprocess.Popen(cmd, env=child_env(per_worker), stdout=sink, stderr=sink)
    stopped = []

    def forward(signum, frame):
        stopped.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        rc = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if rc == 0:
        run_file.unlink(missing_ok=True)
        return 0
    if stopped and (out / RESUME_FILE).exists():
        log(f"stopped by signal {stopped[0]}: the workers saved resume.pt; exiting with {PREEMPTED_EXIT_CODE}")
        return PREEMPTED_EXIT_CODE
    return rc
