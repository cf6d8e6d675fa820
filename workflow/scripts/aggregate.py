"""Adapter: rule aggregate -> augrepro.results.aggregate.write_aggregate."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.results.aggregate import write_aggregate  # noqa: E402

write_aggregate(
    snakemake.params.run_dirs,  # noqa: F821
    snakemake.output.runs,  # noqa: F821
    snakemake.output.summary,  # noqa: F821
    snakemake.output.curves,  # noqa: F821
    evaluations=list(snakemake.input.fgsm) + list(snakemake.input.detection),  # noqa: F821
)
