"""Adapter: rule download -> augrepro.data.download.fetch."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from augrepro.data.datasets import get_spec, with_checksum
from augrepro.data.download import fetch

data_config = snakemake.config.get("data") or {}
fetch(
    with_checksum(get_spec(snakemake.wildcards.data_name), snakemake.params.checksum, snakemake.wildcards.archive),
    snakemake.output[0],
    mirror=data_config.get("mirror"),
    local_dir=data_config.get("local_dir"),
    log=lambda msg: print(msg, file=sys.stderr),
)
