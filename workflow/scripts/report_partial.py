"""Adapter: rule report_partial -> write_partial_aggregate, then build_report over what exists."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
root = Path(snakemake.scriptdir).resolve().parents[1]  # noqa: F821
sys.path.insert(0, str(root / "src"))

from augrepro.report.build import build_report  # noqa: E402
from augrepro.report.provenance import workflow_provenance  # noqa: E402
from augrepro.results.aggregate import write_partial_aggregate  # noqa: E402

out = snakemake.output  # noqa: F821
status = write_partial_aggregate(
    snakemake.params.grid, out.runs, out.summary, out.curves, out.status, evaluations=snakemake.params.evaluations  # noqa: F821
)
counts = status["status"].value_counts().to_dict()
print(f"grid runs: {counts}", file=sys.stderr)

config = snakemake.config  # noqa: F821
build_report(
    out.summary,
    out.runs,
    out.curves,
    snakemake.params.published_dir,  # noqa: F821
    out.html,
    studies=snakemake.params.studies,  # noqa: F821
    provenance={
        "report": "partial: the runs of the chosen studies that exist now",
        **workflow_provenance(config, snakemake.params.studies),  # noqa: F821
    },
    templates_dir=root / "report",
    status_csv=out.status,
    previews=snakemake.params.previews,  # noqa: F821
    title="Reproduction report (partial): saliency-guided mixing augmentations",
)
