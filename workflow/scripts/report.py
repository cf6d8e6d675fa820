"""Adapter: rule report -> augrepro.report.build.build_report."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
root = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(root / "src"))

from augrepro.report.build import build_report  # noqa: E402
from augrepro.report.provenance import workflow_provenance  # noqa: E402

config = snakemake.config  # noqa: F821
build_report(
    snakemake.input.summary,  # noqa: F821
    snakemake.input.runs,  # noqa: F821
    snakemake.input.curves,  # noqa: F821
    snakemake.params.published_dir,  # noqa: F821
    snakemake.output[0],  # noqa: F821
    studies=snakemake.params.studies,  # noqa: F821
    provenance=workflow_provenance(config, snakemake.params.studies),  # noqa: F821
    templates_dir=root / "report",
    previews=snakemake.input.previews,  # noqa: F821
)
