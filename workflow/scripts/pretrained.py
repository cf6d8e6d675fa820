"""Adapter: rule pretrained -> augrepro.models.pretrained.fetch_weights."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.models.pretrained import fetch_weights  # noqa: E402

fetch_weights(
    snakemake.wildcards.weights_file,  # noqa: F821
    snakemake.output[0],  # noqa: F821
    local_dir=(snakemake.config.get("data") or {}).get("pretrained_dir"),  # noqa: F821
    log=lambda msg: print(msg, file=sys.stderr),
)
