"""The training engine: one resolved run (augrepro.studies.study.resolve_run) -> metrics, checkpoint, timing, meta."""

from augrepro.train.config import Execution, TrainingConfig
from augrepro.train.engine import train_run
from augrepro.train.resumable import Preempted

__all__ = ["Execution", "Preempted", "TrainingConfig", "train_run"]
