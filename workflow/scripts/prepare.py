"""Adapter: rule prepare -> augrepro.data.prepare.prepare."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.data.datasets import get_spec
from augrepro.data.prepare import prepare

inputs = list(snakemake.input)  # (a dataset of several files, Stanford Cars or Pascal VOC, has them all)
data = prepare(
    get_spec(snakemake.wildcards.data_name),
    inputs if len(inputs) > 1 else inputs[0],
    snakemake.output[0],
    log=lambda msg: print(msg, file=sys.stderr),
)
print(
    f"prepared {len(data.train)} training and {len(data.test)} test images, {len(data.classes)} classes"
    if hasattr(data, "boxes")
    else f"prepared {len(data.train_y)} training and {len(data.test_y)} test images ({data.kind}), "
    f"{len(data.classes)} classes: {data.classes[:10]}",
    file=sys.stderr,
)
