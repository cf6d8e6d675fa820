"""The augmentation methods, declared: each name with the module that implements it and its cost for the plan.

Importing this module imports no torch: checking a study file's method names and pricing the plan read only these
declarations (:meth:`augrepro.registry.Registry.metadata`); the implementing module is imported when a method is
built (:func:`augrepro.augment.build_augmentation`). A new method is declared here, with its cost and the reason for
it, and registered in its module with ``@register(name)`` (docs/adding_a_method.md).

``cost``: a training step's cost relative to the baseline's, the factor by which the plan multiplies a run's
training work (:func:`augrepro.studies.costs.estimate_hours`) and by which the pilot chooses the costliest method of
a shape (:func:`augrepro.studies.pilot.shapes_of`); ``cost_source``: where that factor comes from.
"""

from __future__ import annotations

from augrepro.registry import Registry

AUGMENTATIONS: Registry = Registry("augmentation method", declared_in="augrepro/augment/catalog.py")

# The SaliencyMix slides' training-time table (ResNet-18, CIFAR-10, 200 epochs, the authors' GPU): baseline 0.83 h.
_TABLE = "SaliencyMix slides, training-time table"
_PROBE_FORWARD = 1.0 + 1.0 / 3.0  # one extra no-grad forward of a three-forward step (SnapMix code: CAM pass)
_PROBE_GRADIENT = 1.0 + 2.0 / 3.0  # an extra forward and backward to the input (SalfMix section 4.2)
_PROBE_FORWARD_SOURCE = "one extra no-grad forward of a three-forward step (SnapMix code: CAM pass)"
_PROBE_GRADIENT_SOURCE = "an extra forward and backward to the input (SalfMix section 4.2)"


def _declare(name: str, module: str, cost: float, cost_source: str) -> None:
    AUGMENTATIONS.declare(name, f"augrepro.augment.{module}", cost=cost, cost_source=cost_source)


_declare("baseline", "basic", 1.0, f"the reference: {_TABLE}, baseline 0.83 h")
_declare("cutout", "basic", 0.84 / 0.83, f"{_TABLE} (0.84 h)")
_declare("mixup", "basic", 0.87 / 0.83, f"{_TABLE} (0.87 h)")
_declare("cutmix", "basic", 0.89 / 0.83, f"{_TABLE} (0.89 h)")
_declare("saliencymix", "saliencymix", 0.91 / 0.83, f"{_TABLE} (0.91 h)")
_declare("resizemix", "resizemix", 0.89 / 0.83, f"assumed as CutMix: one paste per sample ({_TABLE})")
_declare("ricap", "ricap", 0.89 / 0.83, f"assumed as CutMix: four crops per sample ({_TABLE})")
_declare("snapmix", "snapmix", _PROBE_FORWARD * 0.89 / 0.83, f"{_PROBE_FORWARD_SOURCE}, on CutMix's paste")
_declare("salfmix", "salfmix", _PROBE_GRADIENT, _PROBE_GRADIENT_SOURCE)
_declare("cutout_saliency", "salfmix", _PROBE_GRADIENT, f"{_PROBE_GRADIENT_SOURCE}, as SalfMix")
_declare("hybridmix_v1", "hybridmix", _PROBE_GRADIENT * 0.87 / 0.83, f"{_PROBE_GRADIENT_SOURCE}, on Mixup's (v1)")
_declare("hybridmix_v2", "hybridmix", _PROBE_GRADIENT * 0.91 / 0.83, f"{_PROBE_GRADIENT_SOURCE}, on SaliencyMix's (v2)")
_declare("hybridmix_v3", "hybridmix", _PROBE_GRADIENT * 0.89 / 0.83, f"{_PROBE_GRADIENT_SOURCE}, on CutMix's (v3)")


def method_cost(name: str) -> float:
    """A registered method's step cost relative to the baseline's; an unknown name fails, listing the valid ones."""
    return AUGMENTATIONS.metadata(name)["cost"]
