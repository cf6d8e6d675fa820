from __future__ import annotations

from typing import TYPE_CHECKING

from augrepro.models.catalog import ARCHITECTURES, IMAGENET_MODELS, MODELS, check_model_options, model_label

if TYPE_CHECKING:
    import torch.nn as nn

    from augrepro.resolved import ResolvedRun

__all__ = ["ARCHITECTURES", "IMAGENET_MODELS", "MODELS", "build_model", "check_model_options", "model_label"]


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


def model_of_run(run: ResolvedRun, num_classes: int) -> nn.Module:
    """The model a resolved run trains: its name, its protocol's architecture and model options. A checkpoint's
    ``run`` (a mapping) is read with :meth:`augrepro.resolved.ResolvedRun.from_params` first."""
    return build_model(run.key.model, num_classes, run.architecture, **(run.protocol.model_options or {}))
