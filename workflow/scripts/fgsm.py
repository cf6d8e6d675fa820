"""Adapter: rule fgsm -> augrepro.evaluate.fgsm.run_fgsm."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

import os  # noqa: E402

from augrepro.evaluate.fgsm import run_fgsm  # noqa: E402
from augrepro.train.gpus import pin_free_gpu  # noqa: E402

local_gpus = snakemake.config.get("local_gpus")  # noqa: F821
if local_gpus and "SLURM_JOB_ID" not in os.environ:
    gpu, gpu_lock = pin_free_gpu(int(local_gpus), Path(".snakemake/augrepro-gpu-locks"))
    print(f"pinned to GPU {gpu} of {local_gpus} (CUDA_VISIBLE_DEVICES={gpu})", file=sys.stderr)

run_fgsm(
    snakemake.input.checkpoint,  # noqa: F821
    snakemake.input.data,  # noqa: F821
    snakemake.output.result,  # noqa: F821
    snakemake.params.recipe,  # noqa: F821
    # execution-only settings (device, workers) are read from the config: changing them reruns nothing
    execution=snakemake.config.get("training") or {},  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
