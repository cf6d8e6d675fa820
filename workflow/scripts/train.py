"""Adapter: rule train -> augrepro.train.engine.train_run (exit 143 after saving state on SIGTERM)."""

import os
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: F821 (snakemake is injected); "a": keep earlier attempts
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.train.engine import Preempted, train_run  # noqa: E402
from augrepro.train.gpus import pin_free_gpu  # noqa: E402

# Workstation profile: spread training jobs over the local GPUs, one job per GPU (SLURM pins its own).
local_gpus = snakemake.config.get("local_gpus")  # noqa: F821
if local_gpus and "SLURM_JOB_ID" not in os.environ:
    gpu, gpu_lock = pin_free_gpu(int(local_gpus), Path(".snakemake/augrepro-gpu-locks"))
    print(f"pinned to GPU {gpu} of {local_gpus} (CUDA_VISIBLE_DEVICES={gpu})", file=sys.stderr)

try:
    train_run(
        snakemake.params.run,  # noqa: F821
        snakemake.input.data,  # noqa: F821
        Path(snakemake.output.metrics).parent,  # noqa: F821
        # Execution-only settings are read from the config, not passed as params: changing the device or
        # torch.compile does not rerun finished runs (they are not part of a run's identity).
        execution=snakemake.config.get("training") or {},  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
        pretrained=snakemake.input.weights[0] if snakemake.input.weights else None,  # noqa: F821
    )
except Preempted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
