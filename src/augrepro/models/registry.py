from __future__ import annotations

import torch.nn as nn

from augrepro.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")

ARCHITECTURES = ("cifar", "imagenet")
# ImageNet-style models (7x7 stem, max-pool) come from torchvision, as in the SaliencyMix and CutMix ImageNet
# code (and the released "ImageNet" script, which trains them on Tiny-ImageNet upscaled to 224 px); the
# CIFAR-style models (3x3 stem, no max-pool) serve 32x32 and 64x64 inputs.
IMAGENET_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101")


def build_model(name: str, num_classes: int, architecture: str = "cifar") -> nn.Module:
    """The model ``name`` with ``num_classes`` outputs, CIFAR-style (the registry) or ImageNet-style."""
    if architecture == "imagenet":
        if name not in IMAGENET_MODELS:
            raise ValueError(
                f"model {name!r} has no ImageNet-style version; valid ImageNet-style models: {', '.join(IMAGENET_MODELS)}"
            )
        import torchvision

        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if architecture != "cifar":
        raise ValueError(f"unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    return MODELS.build(name, num_classes=num_classes)
