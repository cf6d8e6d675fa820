"""Adapter: rule preview -> augrepro.report.preview.render_preview."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.report.preview import render_preview

augmentation = snakemake.wildcards.augmentation
dataset = snakemake.wildcards.data_name
params = dict(snakemake.params.entry)  # (the method and the parameters the studies give it)
method = params.pop("method")
out = render_preview(
    snakemake.input.data,
    dataset,
    method,
    snakemake.output[0],
    params=params,
    title=f"{augmentation} ({method}) on {dataset}",
)
print(f"wrote {out}", file=sys.stderr)
