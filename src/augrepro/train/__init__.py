"""The training engine: one resolved run (augrepro.studies.study.resolve_run) -> metrics, checkpoint, timing, meta."""

from augrepro.train.config import Execution, TrainingConfig
from augrepro.train.engine import Preempted, train_run

__all__ = ["Execution", "Preempted", "TrainingConfig", "train_run"]
