"""Evaluation recipes (``config/evaluations.yaml``): named FGSM and detection settings, each value cited.

``fgsm:`` and ``detection:`` each map a recipe name to its values; every recipe is checked when the file is
loaded (:func:`augrepro.evaluate.fgsm.check_recipe`, :func:`augrepro.evaluate.detection.check_recipe`), so a
bad one fails before any job starts, naming the file, the recipe and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KINDS = ("fgsm", "detection")


def load_evaluations(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"fgsm": {name: values}, "detection": {name: values}}`` with each recipe's ``name`` set."""
    from augrepro.evaluate import detection, fgsm
    from augrepro.studies.protocols import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config key 'evaluations': {path} not found; point it at config/evaluations.yaml")
    with open(path, encoding="utf-8") as fh:
        try:
            raw = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or set(raw) - set(KINDS):
        raise ConfigError(f"{path}: expected sections {', '.join(KINDS)} (recipe name -> values), got {sorted(raw)}")
    checks = {"fgsm": fgsm.check_recipe, "detection": detection.check_recipe}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in KINDS:
        recipes = raw.get(kind) or {}
        if not isinstance(recipes, dict):
            raise ConfigError(f"{path}: '{kind}' must map a recipe name to its values")
        out[kind] = {}
        for name, values in recipes.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: {kind} recipe {name!r} must be a mapping of values")
            try:
                checks[kind](values, f"{path}: {kind} recipe {name!r}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            out[kind][str(name)] = {**values, "name": str(name)}
    return out
