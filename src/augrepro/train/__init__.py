"""The training engine: one resolved run (augrepro.studies.study.resolve_run) -> metrics, checkpoint, timing, meta."""

from augrepro.train.engine import EXECUTION_DEFAULTS, Preempted, train_run

__all__ = ["EXECUTION_DEFAULTS", "Preempted", "train_run"]
