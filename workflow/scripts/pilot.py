"""Adapter: rule pilot -> augrepro.train.pilot.run_pilot (the result file is written whatever the measuring job
does; exit 143 without one when SIGTERM reaches the job, so that a retry runs it again)."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.resolved import ResolvedRun
from augrepro.runs import PilotKey
from augrepro.train.gpus import pin_local_gpus
from augrepro.train.launch import processes_per_node
from augrepro.train.pilot import PilotInterrupted, run_pilot

per_node, nodes = processes_per_node(snakemake.resources)
# Workstation profile: a free local GPU (or several) per job, as the training jobs take them.
gpu_locks = pin_local_gpus(snakemake.config.get("local_gpus"), per_node)
try:
    run_pilot(
        PilotKey.from_wildcards(snakemake.wildcards),
        ResolvedRun.from_params(snakemake.params.run),
        snakemake.input.data,
        snakemake.output.result,
        snakemake.config.get("training") or {},  # execution-only settings, as the training jobs read them
        snakemake.threads,
        per_node,
        nodes,
        snakemake.params.settings,
        pretrained=snakemake.input.weights[0] if snakemake.input.weights else None,
    )
except PilotInterrupted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
