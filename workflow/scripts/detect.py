"""Adapter: rule detect -> augrepro.evaluate.detection.run_detection (exit 143 after saving state on SIGTERM)."""

import os
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: F821 (snakemake is injected); "a": keep earlier attempts
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.evaluate.detection import run_detection  # noqa: E402
from augrepro.train.engine import Preempted  # noqa: E402
from augrepro.train.gpus import pin_free_gpu  # noqa: E402

local_gpus = snakemake.config.get("local_gpus")  # noqa: F821
if local_gpus and "SLURM_JOB_ID" not in os.environ:
    gpu, gpu_lock = pin_free_gpu(int(local_gpus), Path(".snakemake/augrepro-gpu-locks"))
    print(f"pinned to GPU {gpu} of {local_gpus} (CUDA_VISIBLE_DEVICES={gpu})", file=sys.stderr)

try:
    run_detection(
        snakemake.input.checkpoint,  # noqa: F821
        snakemake.input.voc,  # noqa: F821
        snakemake.output.result,  # noqa: F821
        snakemake.params.recipe,  # noqa: F821
        int(snakemake.wildcards.det_seed),  # noqa: F821
        execution=snakemake.config.get("training") or {},  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    )
except Preempted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
