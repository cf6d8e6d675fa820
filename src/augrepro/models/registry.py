from __future__ import annotations

import inspect

import torch.nn as nn

from augrepro.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")

ARCHITECTURES = ("cifar", "imagenet")
# ImageNet-style models (7x7 stem, max-pool) come from torchvision, as in the SaliencyMix and CutMix ImageNet
# code (and the released "ImageNet" script, which trains them on Tiny-ImageNet upscaled to 224 px); the
# CIFAR-style models (3x3 stem, no max-pool) serve 32x32 and 64x64 inputs.
# Name -> label (as the papers print it).
IMAGENET_MODELS = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50", "resnet101": "ResNet-101"}


def model_label(name: str) -> str:
    """How the papers print a model ("PreActResNet-18"); an unregistered name as it is."""
    if name in MODELS:
        return MODELS.label(name)
    return IMAGENET_MODELS.get(name, name)


def build_model(name: str, num_classes: int, architecture: str = "cifar", **options) -> nn.Module:
    """The model ``name`` with ``num_classes`` outputs, CIFAR-style (the registry) or ImageNet-style; ``options``
    are the registered builder's keyword arguments (a protocol's ``model_options``, e.g. PreActResNet's
    ``final_bn``)."""
    check_model_options(name, architecture, options)
    if architecture == "imagenet":
        if name not in IMAGENET_MODELS:
            raise ValueError(
                f"model {name!r} has no ImageNet-style version; valid ImageNet-style models: {', '.join(IMAGENET_MODELS)}"
            )
        import torchvision

        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if architecture != "cifar":
        raise ValueError(f"unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    return MODELS.build(name, num_classes=num_classes, **options)


def check_model_options(name: str, architecture: str, options: dict) -> None:
    """The options a model's builder takes, named in the error with the valid ones."""
    if not options:
        return
    if architecture == "imagenet":
        raise ValueError(f"model_options {sorted(options)}: torchvision's ImageNet-style {name} takes none")
    valid = [p for p in inspect.signature(MODELS.get(name)).parameters if p != "num_classes"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"model_options {', '.join(unknown)} for model {name!r}; valid options: {', '.join(valid) or '(none)'}"
        )


def model_of_run(run: dict, num_classes: int) -> nn.Module:
    """The model a resolved run (augrepro.studies.study.resolve_run, or a checkpoint's ``run``) trains: its name,
    its protocol's architecture and model options."""
    recipe = run.get("recipe") or {}
    return build_model(
        run["model"], num_classes, recipe.get("architecture", "cifar"), **(recipe.get("model_options") or {})
    )
