"""Adapter: rule report -> augrepro.report.build.build_report."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
root = Path(snakemake.scriptdir).resolve().parents[1]
sys.path.insert(0, str(root / "src"))

from augrepro.report.build import build_report
from augrepro.report.provenance import workflow_provenance

config = snakemake.config
build_report(
    snakemake.input.summary,
    snakemake.input.runs,
    snakemake.input.curves,
    snakemake.params.published_dir,
    snakemake.output[0],
    studies=snakemake.params.studies,
    verdicts_dir=Path(snakemake.input.verdicts[0]).parent,
    provenance=workflow_provenance(config, snakemake.params.studies),
    templates_dir=root / "report",
    previews=snakemake.input.previews,
)
