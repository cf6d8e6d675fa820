"""Adapter: rule detect -> augrepro.evaluate.detection_finetune.run_detection (exit 143 after saving state on SIGTERM)."""

import os
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # (snakemake is injected); "a": keep earlier attempts
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.evaluate.detection_finetune import run_detection
from augrepro.train.gpus import pin_free_gpu
from augrepro.train.resumable import Preempted

local_gpus = snakemake.config.get("local_gpus")
if local_gpus and "SLURM_JOB_ID" not in os.environ:
    gpu, gpu_lock = pin_free_gpu(int(local_gpus), Path(".snakemake/augrepro-gpu-locks"))
    print(f"pinned to GPU {gpu} of {local_gpus} (CUDA_VISIBLE_DEVICES={gpu})", file=sys.stderr)

try:
    run_detection(
        snakemake.input.checkpoint,
        snakemake.input.voc,
        snakemake.output.result,
        snakemake.params.recipe,
        int(snakemake.wildcards.det_seed),
        execution=snakemake.config.get("training") or {},
        threads=snakemake.threads,
    )
except Preempted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
