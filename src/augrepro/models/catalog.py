"""The models, declared: each name with the module that implements it, its label as the papers print it, and the
options its builder takes (a protocol's ``model_options``).

Importing this module imports no torch: checking a study's model names and options, and pricing the plan, read only
these declarations; the implementing module is imported when a model is built (:func:`augrepro.models.build_model`).
A new CIFAR-style model is declared here and registered in its module with ``@MODELS.register(name)``; a test
checks that each declaration's options are its builder's keyword arguments.
"""

from __future__ import annotations

from typing import Any

from augrepro.registry import Registry

MODELS: Registry[Any] = Registry("model", declared_in="augrepro/models/catalog.py")

ARCHITECTURES = ("cifar", "imagenet")
# ImageNet-style models (7x7 stem, max-pool) come from torchvision, as in the SaliencyMix and CutMix ImageNet
# code (and the released "ImageNet" script, which trains them on Tiny-ImageNet upscaled to 224 px); the
# CIFAR-style models (3x3 stem, no max-pool) serve 32x32 and 64x64 inputs.
# Name -> label (as the papers print it). torchvision's builders take no model_options.
IMAGENET_MODELS = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50", "resnet101": "ResNet-101"}

_PREACT_OPTIONS = ("final_bn", "stem_stride")  # models/preact_resnet.py: the PuzzleMix code's variants


def _declare(name: str, module: str, label: str, options: tuple[str, ...] = ()) -> None:
    MODELS.declare(name, f"augrepro.models.{module}", label=label, options=options)


_declare("preactresnet18", "preact_resnet", "PreActResNet-18", _PREACT_OPTIONS)
_declare("preactresnet50", "preact_resnet", "PreActResNet-50", _PREACT_OPTIONS)
_declare("preactresnet101", "preact_resnet", "PreActResNet-101", _PREACT_OPTIONS)
_declare("pyramidnet110", "pyramidnet", "PyramidNet-110")
_declare("pyramidnet200", "pyramidnet", "PyramidNet-200")
_declare("regnet200m", "regnet", "RegNet-200M")
_declare("resnet8", "resnet_cifar", "ResNet-8")
_declare("resnet18", "resnet_cifar", "ResNet-18")
_declare("resnet50", "resnet_cifar", "ResNet-50")
_declare("resnet101", "resnet_cifar", "ResNet-101")
_declare("wrn28_10", "wide_resnet", "WideResNet-28-10")


def model_label(name: str) -> str:
    """How the papers print a model ("PreActResNet-18"); an unregistered name as it is."""
    if name in MODELS:
        return MODELS.label(name)
    return IMAGENET_MODELS.get(name, name)


def check_model_options(name: str, architecture: str, options: dict) -> None:
    """The options a model's builder takes (its declaration's), named in the error with the valid ones."""
    if not options:
        return
    if architecture == "imagenet":
        raise ValueError(f"model_options {sorted(options)}: torchvision's ImageNet-style {name} takes none")
    valid = list(MODELS.metadata(name)["options"])
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"model_options {', '.join(unknown)} for model {name!r}; valid options: {', '.join(valid) or '(none)'}"
        )
