"""Evaluation recipes (``config/evaluations.yaml``): named FGSM and detection settings, each value cited.

``fgsm:`` and ``detection:`` each map a recipe name to its values, whose keys, types, ranges and defaults are the
evaluations schema's (workflow/schemas/evaluations.schema.yaml); every recipe is checked when the file is loaded
(:func:`check_fgsm`, :func:`check_detection`: the schema, then what it cannot say), so a bad one fails before any
job starts, naming the file, the recipe and the key. The compute that runs them (:mod:`augrepro.evaluate.fgsm`,
:mod:`augrepro.evaluate.detection_finetune`) reads the values these checks return; this module imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augrepro import schemas
from augrepro.errors import ConfigError

KINDS = ("fgsm", "detection")


# --- FGSM (augrepro.evaluate.fgsm) and detection transfer (augrepro.evaluate.detection_finetune) -----------------
# Each key's type, range and default: the evaluations schema's (workflow/schemas/evaluations.schema.yaml).

FGSM_DEFAULTS = schemas.definition_defaults("evaluations", "fgsm")
DETECTION_DEFAULTS = schemas.definition_defaults("evaluations", "detection")
ROI_POOLS = tuple(schemas.load_schema("evaluations")["$defs"]["detection"]["properties"]["roi_pool"]["enum"])
_NOT_VALUES = ("title", "name")  # a recipe's report name and key, not settings


def check_fgsm(recipe: dict[str, Any], where: str = "fgsm recipe") -> dict[str, Any]:
    """An FGSM recipe with its defaults, validated by the schema; a bad value names the key."""
    schemas.validate(recipe, "evaluations", where, "fgsm")
    return {k: v for k, v in {**FGSM_DEFAULTS, **recipe}.items() if k not in _NOT_VALUES}


def check_detection(recipe: dict[str, Any], where: str = "detection recipe") -> dict[str, Any]:
    """A detection recipe with its defaults filled in, validated by the schema, and what it cannot say: the
    milestones increase and lie below the iterations; head fpn has five anchor sizes, one per pyramid level."""
    schemas.validate(recipe, "evaluations", where, "detection")
    values = {k: v for k, v in {**DETECTION_DEFAULTS, **recipe}.items() if k not in _NOT_VALUES}
    milestones = values["milestones"]
    if milestones != sorted(milestones) or any(m >= values["iterations"] for m in milestones):
        raise ConfigError(
            f"{where}: milestones is {milestones!r}; expected an increasing list of iterations below "
            f"'iterations' ({values['iterations']})"
        )
    if values["head"] == "fpn" and len(values["anchor_sizes"]) != 5:  # layer1-layer4 and the max-pooled level
        raise ConfigError(
            f"{where}: anchor_sizes is {values['anchor_sizes']!r}; expected five sizes with head fpn, "
            "one per pyramid level"
        )
    return values


def load_evaluations(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"fgsm": {name: values}, "detection": {name: values}}`` with each recipe's ``name`` set."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config key 'evaluations': {path} not found; point it at config/evaluations.yaml")
    raw = schemas.read_yaml(path) or {}
    schemas.validate(raw, "evaluations", str(path))
    checks = {"fgsm": check_fgsm, "detection": check_detection}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in KINDS:
        out[kind] = {}
        for name, values in (raw.get(kind) or {}).items():
            checks[kind](values, f"{path}: {kind}.{name}")
            out[kind][str(name)] = {**values, "name": str(name)}
    return out
