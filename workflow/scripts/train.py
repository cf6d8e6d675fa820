"""Adapter: rule train -> augrepro.train.engine.train_run (exit 143 after saving state on SIGTERM); a job of
several GPUs (or nodes) -> augrepro.train.launch.launch: one torchrun process per GPU."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # (snakemake is injected); "a": keep earlier attempts
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.train.engine import train_run
from augrepro.train.gpus import pin_local_gpus
from augrepro.train.launch import launch, processes_per_node
from augrepro.train.resumable import Preempted

per_node, nodes = processes_per_node(snakemake.resources)
# Workstation profile: spread training jobs over the local GPUs, one job per GPU (SLURM pins its own).
gpu_locks = pin_local_gpus(snakemake.config.get("local_gpus"), per_node)

out = Path(snakemake.output.metrics).parent
# Execution-only settings are read from the config, not passed as params: changing the device or
# torch.compile does not rerun finished runs (they are not part of a run's identity).
execution = snakemake.config.get("training") or {}
pretrained = snakemake.input.weights[0] if snakemake.input.weights else None
if per_node * nodes > 1:
    sys.exit(
        launch(
            snakemake.params.run,
            snakemake.input.data,
            out,
            execution,
            snakemake.threads,
            per_node,
            nodes,
            pretrained=pretrained,
        )
    )
try:
    train_run(
        snakemake.params.run,
        snakemake.input.data,
        out,
        execution,
        threads=snakemake.threads,
        pretrained=pretrained,
    )
except Preempted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
