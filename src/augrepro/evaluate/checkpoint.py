"""A finished run's checkpoint as the evaluations read it: its resolved configuration and its model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_run_model(checkpoint: str | Path, device: torch.device) -> tuple[dict[str, Any], torch.nn.Module]:
    """(resolved run, model with the checkpoint's weights) of a finished run."""
    from augrepro.data.datasets import get_spec
    from augrepro.models import build_model

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "run" not in state or "model" not in state:
        raise ValueError(f"{checkpoint}: not a run checkpoint (expected the engine's 'run' and 'model')")
    run = state["run"]
    spec = get_spec(run["dataset"])
    model = build_model(run["model"], spec.num_classes, architecture=run["recipe"]["architecture"])
    model.load_state_dict(state["model"])
    return run, model.to(device)
