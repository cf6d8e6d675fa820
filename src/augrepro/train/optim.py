"""The training run's optimizer and lr schedule, as the protocol sets them (``augrepro.studies.protocols``)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from typing import Any

import torch

from augrepro.models.pretrained import head
from augrepro.resolved import Protocol


def make_optimizer(model: torch.nn.Module, recipe: dict, device: torch.device) -> torch.optim.SGD:
    """SGD with the run's lr, momentum, Nesterov and weight decay (``recipe``: the protocol's values as a mapping,
    :attr:`augrepro.train.config.TrainingConfig.recipe`, or just these); on a GPU the fused kernel (one launch
    for all parameters instead of a few per parameter group).

    ``lr_groups`` ({backbone, head}) gives two parameter groups, the backbone first (every parameter but the
    head's) and the head (``augrepro.models.pretrained.head``: the final nn.Linear), each with its lr, as the
    SnapMix code's ``prams_group: [ftlayer, freshlayer]`` with ``lr_group`` (utils/trainutil.py get_params)."""
    groups = recipe.get("lr_groups")
    if groups:
        head_params = list(head(model)[1].parameters())
        head_ids = {id(p) for p in head_params}
        params: list[dict[str, Any]] | Iterator[torch.nn.Parameter] = [
            {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": groups["backbone"]},
            {"params": head_params, "lr": groups["head"]},
        ]
    else:
        params = model.parameters()
    return torch.optim.SGD(
        params,
        lr=groups["head"] if groups else recipe["lr"],
        momentum=recipe["momentum"],
        nesterov=recipe["nesterov"],
        weight_decay=recipe["weight_decay"],
        fused=True if device.type == "cuda" else None,
    )


def lr_factor(protocol: Protocol, steps: int) -> float:
    """The lr multiplier after ``steps`` scheduler steps (one per finished epoch), so epoch E (1-based) trains
    with ``lr * lr_factor(protocol, E - 1)``:

    * ``multistep``: gamma ** (milestones passed), as torch's MultiStepLR stepped after each epoch, each decay
      ``lr_decay_delay`` epochs late (1: the released SaliencyMix CIFAR code calls ``scheduler.step(epoch)`` after
      testing 0-based epoch ``epoch``, so 61 epochs run at the initial lr, then 60, 40 and 39);
    * ``cosine``: 0.5 (1 + cos(pi steps / epochs)), CosineAnnealingLR(T_max=epochs) stepped per epoch
      (RegNet-Pytorch main.py)."""
    if protocol.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * steps / int(protocol.epochs)))
    milestones, gamma = protocol.milestones, protocol.gamma
    if milestones is None or gamma is None:  # the protocol schema requires both of a multistep schedule
        raise ValueError(f"protocol {protocol.name!r}: a multistep lr schedule needs milestones and gamma")
    return float(gamma) ** bisect.bisect_right(milestones, steps - int(protocol.lr_decay_delay))


def make_scheduler(optimizer, protocol: Protocol):
    """The protocol's lr schedule (:func:`lr_factor`), stepped once after every epoch (by
    :func:`augrepro.train.engine.train_run`, before the epoch's evaluation)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda steps: lr_factor(protocol, steps))
