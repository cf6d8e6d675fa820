"""Adapter: rule train -> augrepro.train.engine.train_run."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.train.engine import train_run  # noqa: E402

train_run(
    snakemake.params.run,  # noqa: F821
    snakemake.input.data,  # noqa: F821
    Path(snakemake.output.metrics).parent,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)
