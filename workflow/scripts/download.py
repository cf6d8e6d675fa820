"""Adapter: rule download -> augrepro.data.download.fetch."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.data.datasets import get_spec  # noqa: E402
from augrepro.data.download import fetch  # noqa: E402

fetch(
    get_spec(snakemake.wildcards.data_name),  # noqa: F821
    snakemake.output[0],  # noqa: F821
    mirror=snakemake.params.mirror,  # noqa: F821
    local_dir=snakemake.params.local_dir,  # noqa: F821
    log=lambda msg: print(msg, file=sys.stderr),
)
