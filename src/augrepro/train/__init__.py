"""The training engine: one resolved run (augrepro.studies.study.resolve_run) -> metrics, checkpoint, timing, meta.

Importing the package imports no torch: the workflow reads :mod:`augrepro.train.launch` (how a job asks SLURM for its
GPUs) while it builds the DAG; the engine's names below are imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Execution": "augrepro.train.config",
    "TrainingConfig": "augrepro.train.config",
    "train_run": "augrepro.train.engine",
    "Preempted": "augrepro.train.resumable",
}

__all__ = ["Execution", "Preempted", "TrainingConfig", "train_run"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
