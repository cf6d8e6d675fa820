"""Adapter: rule download -> augrepro.data.download.fetch."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.data.datasets import get_spec, with_checksum  # noqa: E402
from augrepro.data.download import fetch  # noqa: E402

data_config = snakemake.config.get("data") or {}  # noqa: F821
fetch(
    with_checksum(get_spec(snakemake.wildcards.data_name), snakemake.params.checksum),  # noqa: F821
    snakemake.output[0],  # noqa: F821
    mirror=data_config.get("mirror"),
    local_dir=data_config.get("local_dir"),
    log=lambda msg: print(msg, file=sys.stderr),
)
