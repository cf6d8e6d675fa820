"""Adapter: rule report_partial -> write_partial_aggregate, then build_report over what exists."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
root = Path(snakemake.scriptdir).resolve().parents[1]
sys.path.insert(0, str(root / "src"))

from augrepro.report.build import build_report
from augrepro.report.provenance import workflow_provenance
from augrepro.results.aggregate import write_partial_aggregate
from augrepro.results.verdicts import write_chosen_verdicts

out = snakemake.output
status = write_partial_aggregate(
    snakemake.params.grid,
    out.runs,
    out.summary,
    out.curves,
    out.status,
    evaluations=snakemake.params.evaluations,
)
counts = status["status"].value_counts().to_dict()
print(f"grid runs: {counts}", file=sys.stderr)

# the verdicts of every chosen study, from what exists (failed cells marked from status.csv)
studies = snakemake.params.studies
write_chosen_verdicts(studies, out.summary, out.runs, snakemake.params.published_dir, out.verdicts, out.status)

config = snakemake.config
build_report(
    out.summary,
    out.runs,
    out.curves,
    snakemake.params.published_dir,
    out.html,
    studies=studies,
    verdicts_dir=out.verdicts,
    provenance={
        "report": "partial: the runs of the chosen studies that exist now",
        **workflow_provenance(config, snakemake.params.studies),
    },
    templates_dir=root / "report",
    status_csv=out.status,
    previews=snakemake.params.previews,
    title="Reproduction report (partial): saliency-guided mixing augmentations",
)
