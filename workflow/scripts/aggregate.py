"""Adapter: rule aggregate -> augrepro.results.aggregate.write_aggregate."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.results.aggregate import write_aggregate

write_aggregate(
    [Path(path).parent for path in snakemake.input.metrics],  # the run folders
    snakemake.output.runs,
    snakemake.output.summary,
    snakemake.output.curves,
    evaluations=list(snakemake.input.fgsm) + list(snakemake.input.detection),
)
