"""Adapter: rule train -> augrepro.train.engine.train_run (exit 143 after saving state on SIGTERM)."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: F821 (snakemake is injected); "a": keep earlier attempts
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from augrepro.train.engine import Preempted, train_run  # noqa: E402

try:
    train_run(
        snakemake.params.run,  # noqa: F821
        snakemake.input.data,  # noqa: F821
        Path(snakemake.output.metrics).parent,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    )
except Preempted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
