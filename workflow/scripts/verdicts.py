"""Adapter: rule verdicts -> augrepro.results.verdicts.write_verdicts."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
root = Path(snakemake.scriptdir).resolve().parents[1]
sys.path.insert(0, str(root / "src"))

from augrepro.results.verdicts import write_verdicts

out = snakemake.output
verdicts = write_verdicts(
    snakemake.params.study,
    snakemake.input.summary,
    snakemake.input.runs,
    snakemake.params.published_dir,
    {"cells": out.cells, "claims": out.claims, "claim_cells": out.claim_cells},
)
print(f"{len(verdicts.cells)} cells, {len(verdicts.claims)} claims", file=sys.stderr)
