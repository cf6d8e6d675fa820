from __future__ import annotations

import torch.nn as nn

from augrepro.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def build_model(name: str, num_classes: int) -> nn.Module:
    return MODELS.build(name, num_classes=num_classes)
