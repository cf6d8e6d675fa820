"""``python -m augrepro.train RUN.json DATA.npz OUT_DIR [--threads N] [--execution JSON] [--pretrained FILE]
[--nproc-per-node G [--nnodes M]]``: train one resolved run.

The run file holds the resolved configuration (what ``augrepro.studies.study.resolve_run`` returns, as written
in a run's meta.json under ``config``); ``--execution`` the execution-only settings, e.g. '{"device": "cpu"}'.
``--pretrained``: the weights file of a protocol with ``pretrained:`` (torchvision's file, e.g. what the workflow
put in results/pretrained/). ``--nproc-per-node G`` trains on G processes (one per GPU; gloo on the CPU) started
by torchrun, ``--nnodes M`` on M nodes of the current SLURM job (augrepro.train.launch); ``--threads`` is then the
total of a node. Exits with 143 after saving its state when SIGTERM arrives.
"""

from __future__ import annotations

import argparse
import json
import sys

from augrepro.train.distributed import env_world_size
from augrepro.train.engine import train_run
from augrepro.train.launch import add_worker_arguments, launch
from augrepro.train.resumable import Preempted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m augrepro.train", description=__doc__.splitlines()[0])
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    with open(args.run) as f:
        run = json.load(f)
    execution = json.loads(args.execution)
    if args.nproc_per_node and env_world_size() == 1 and (args.nproc_per_node > 1 or args.nnodes > 1):
        return launch(
            run,
            args.data,
            args.out,
            execution,
            args.threads,
            args.nproc_per_node,
            args.nnodes,
            pretrained=args.pretrained,
        )
    try:
        train_run(run, args.data, args.out, execution, threads=args.threads, pretrained=args.pretrained)
    except Preempted as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
