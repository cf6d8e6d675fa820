"""A finished run's checkpoint as the evaluations read it: its resolved configuration and its model."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def load_run_model(checkpoint: str | Path, device: torch.device) -> tuple[dict[str, Any], torch.nn.Module]:
    """(resolved run, model with the checkpoint's weights) of a finished run."""
    from augrepro.data.datasets import get_spec
    from augrepro.models import model_of_run

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "run" not in state or "model" not in state:
        raise ValueError(f"{checkpoint}: not a run checkpoint (expected the engine's 'run' and 'model')")
    run = state["run"]
    spec = get_spec(run["dataset"])
    model = model_of_run(run, spec.num_classes)
    model.load_state_dict(state["model"])
    return run, model.to(device)


def execution_setup(execution: dict[str, Any] | None, threads: int | None, log: Callable[[str], None] | None):
    """(log, device, DataLoader workers) of an evaluation job from the config's execution-only settings
    (``training:``: device, workers) and the job's threads."""
    from augrepro.train.config import Execution
    from augrepro.train.engine import pick_device

    execution = Execution.of(execution)
    if threads:
        torch.set_num_threads(int(threads))
    device = pick_device(execution.device)
    return log or (lambda msg: print(msg, file=sys.stderr, flush=True)), device, execution.loader_workers(threads)
