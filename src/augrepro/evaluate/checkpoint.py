"""A finished run's checkpoint as the evaluations read it: its resolved configuration, its model and its epoch.

An evaluation recipe (config/evaluations.yaml) says which weights of a run it reads (``checkpoint``): ``best``,
the best epoch's (``best.pt``: what the SaliencyMix README evaluates, ``model_best.pth.tar``) or ``final``, the last
epoch's (``checkpoint.pt``); :data:`augrepro.runs.CHECKPOINTS` names the train rule's output of each.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from augrepro.augment.base import run_variant
from augrepro.data.datasets import get_spec
from augrepro.models import model_of_run
from augrepro.resolved import ResolvedRun
from augrepro.runs import identity_record
from augrepro.train.config import Execution


@dataclass(frozen=True)
class RunCheckpoint:
    """A run's weights file as loaded: the resolved run, the model with the weights, and the epoch they are of."""

    resolved: ResolvedRun
    model: torch.nn.Module
    epoch: int
    path: str

    @property
    def run(self) -> dict[str, Any]:
        """The resolved run as the checkpoint holds it (the train rule's params)."""
        return self.resolved.to_params()

    def identity(self) -> dict[str, Any]:
        """The run's identity as its meta.json records it (:func:`augrepro.runs.identity_record`), its variant
        included (:func:`augrepro.augment.base.run_variant`)."""
        variant = run_variant(self.resolved, get_spec(self.resolved.key.dataset))
        return identity_record(self.resolved.key, self.resolved.method, variant)

    def record(self, choice: str) -> dict[str, Any]:
        """What an evaluation's result says of the weights it read."""
        return {"kind": choice, "file": Path(self.path).name, "epoch": self.epoch}


def load_checkpoint(checkpoint: str | Path, device: torch.device, num_classes: int | None = None) -> RunCheckpoint:
    """A finished run's checkpoint.pt or best.pt; its ``run`` read with :meth:`ResolvedRun.from_params`, its model
    with ``num_classes`` outputs (default: its dataset's)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "run" not in state or "model" not in state:
        raise ValueError(f"{checkpoint}: not a run checkpoint (expected the engine's 'run' and 'model')")
    resolved = ResolvedRun.from_params(state["run"])
    classes = get_spec(resolved.key.dataset).num_classes if num_classes is None else num_classes
    model = model_of_run(resolved, classes)
    model.load_state_dict(state["model"])
    return RunCheckpoint(resolved, model.to(device), int(state.get("epoch", 0)), str(checkpoint))


def load_run_model(checkpoint: str | Path, device: torch.device) -> tuple[dict[str, Any], torch.nn.Module]:
    """(resolved run, model with the checkpoint's weights) of a finished run."""
    loaded = load_checkpoint(checkpoint, device)
    return loaded.run, loaded.model


def execution_setup(execution: dict[str, Any] | None, threads: int | None, log: Callable[[str], None] | None):
    """(log, device, DataLoader workers) of an evaluation job from the config's execution-only settings
    (``training:``: device, workers) and the job's threads."""
    from augrepro.train.numerics import pick_device

    settings = Execution.of(execution)
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(settings.device)
    return log or (lambda msg: print(msg, file=sys.stderr, flush=True)), device, settings.loader_workers(threads)
