from __future__ import annotations

import torch.nn as nn

from augrepro.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


# ImageNet-style models (7x7 stem, max-pool) come from torchvision when the dataset is ImageNet, as in the
# SaliencyMix and CutMix ImageNet experiments; the CIFAR-style models serve 32x32 and 64x64 inputs.
IMAGENET_MODELS = ("resnet50", "resnet101")


def build_model(name: str, num_classes: int, dataset: str | None = None) -> nn.Module:
    if dataset == "imagenet":
        if name not in IMAGENET_MODELS:
            raise ValueError(
                f"model {name!r} has no ImageNet-style version; valid models on imagenet: {', '.join(IMAGENET_MODELS)}"
            )
        import torchvision

        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    return MODELS.build(name, num_classes=num_classes)
