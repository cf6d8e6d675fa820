"""Adapter: checkpoint look -> augrepro.results.adaptive.write_look."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)
root = Path(snakemake.scriptdir).resolve().parents[1]
sys.path.insert(0, str(root / "src"))

from augrepro.results.adaptive import write_look

found = write_look(
    snakemake.params.study,
    [Path(path).parent for path in snakemake.input.metrics],  # the run folders of this look
    snakemake.params.published_dir,
    int(snakemake.wildcards.look),
    snakemake.output[0],
)
print(f"look {snakemake.wildcards.look}: finished {found['finished']}, {len(found['runs'])} runs", file=sys.stderr)
