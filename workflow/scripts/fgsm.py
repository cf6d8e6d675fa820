"""Adapter: rule fgsm -> augrepro.evaluate.fgsm.run_fgsm."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import os

from augrepro.evaluate.fgsm import run_fgsm
from augrepro.train.gpus import pin_free_gpu

local_gpus = snakemake.config.get("local_gpus")
if local_gpus and "SLURM_JOB_ID" not in os.environ:
    gpu, gpu_lock = pin_free_gpu(int(local_gpus), Path(".snakemake/augrepro-gpu-locks"))
    print(f"pinned to GPU {gpu} of {local_gpus} (CUDA_VISIBLE_DEVICES={gpu})", file=sys.stderr)

run_fgsm(
    snakemake.input.checkpoint,
    snakemake.input.data,
    snakemake.output.result,
    snakemake.params.recipe,
    # execution-only settings (device, workers) are read from the config: changing them reruns nothing
    execution=snakemake.config.get("training") or {},
    threads=snakemake.threads,
)
