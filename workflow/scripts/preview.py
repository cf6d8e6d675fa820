"""Adapter: rule preview -> augrepro.report.preview.render_preview."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.report.preview import render_preview  # noqa: E402

augmentation = snakemake.wildcards.augmentation  # noqa: F821
dataset = snakemake.wildcards.data_name  # noqa: F821
params = dict(snakemake.params.entry)  # noqa: F821  (the method and the parameters the studies give it)
method = params.pop("method")
out = render_preview(
    snakemake.input.data,  # noqa: F821
    dataset,
    method,
    snakemake.output[0],  # noqa: F821
    params=params,
    title=f"{augmentation} ({method}) on {dataset}",
)
print(f"wrote {out}", file=sys.stderr)
