"""Adapter: rule pretrained -> augrepro.models.pretrained.fetch_weights."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.models.pretrained import fetch_weights

fetch_weights(
    snakemake.wildcards.weights_file,
    snakemake.output[0],
    local_dir=(snakemake.config.get("data") or {}).get("pretrained_dir"),
    log=lambda msg: print(msg, file=sys.stderr),
)
