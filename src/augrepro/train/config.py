"""From the workflow's config to one run's resolved configuration, and the checks behind it.

The JSON schema (workflow/schemas/config.schema.yaml) checks types and required keys; this
module checks the names against the registries, so that an unknown model, method or dataset is
refused before any job starts, with the key and the valid values in the message.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from augrepro.augment import AUGMENTATIONS, build_augmentation
from augrepro.data.datasets import DATASETS, get_spec, parse_dataset_key
from augrepro.models import MODELS
from augrepro.models.registry import IMAGENET_MODELS
from augrepro.registry import UnknownNameError


class ConfigError(ValueError):
    pass


# The optimization keys every preset must give (config/presets.yaml).
OPTIMIZATION_KEYS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "milestones", "gamma")


def load_presets(path: str | Path) -> dict[str, dict[str, Any]]:
    """The training presets (config/presets.yaml): name -> optimization settings."""
    with open(path) as f:
        presets = yaml.safe_load(f) or {}
    for name, values in presets.items():
        missing = [k for k in OPTIMIZATION_KEYS if k not in (values or {})]
        if missing:
            raise ConfigError(f"{path}: preset {name!r} lacks {', '.join(missing)}")
    return presets


def resolve_training(training: dict[str, Any], presets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The preset named by ``training.preset``, overridden by every other non-null key of ``training``."""
    name = training.get("preset")
    if name not in presets:
        raise ConfigError(
            f"config key 'training.preset': unknown preset {name!r}; valid presets: {', '.join(sorted(presets))}"
        )
    resolved = copy.deepcopy(presets[name])
    resolved.update({k: copy.deepcopy(v) for k, v in training.items() if v is not None})
    return resolved


def method_of(config: dict, augmentation: str) -> tuple[str, dict[str, Any]]:
    """The registered method and its parameters behind an augmentation name of the config.

    ``methods.<name>`` may hold parameters and, for an alias, ``method: <registered name>``.
    """
    entry = copy.deepcopy((config.get("methods") or {}).get(augmentation) or {})
    method = entry.pop("method", augmentation)
    return method, entry


def validate_config(config: dict, presets: dict[str, dict[str, Any]]) -> None:
    resolve_training(config.get("training", {}), presets)
    for key in config.get("datasets", []):
        try:
            parse_dataset_key(key)
        except UnknownNameError:
            raise ConfigError(
                f"config key 'datasets': unknown dataset {key!r}; valid datasets: "
                f"{', '.join(sorted(DATASETS))} (append '+' for the traditional crop and flip, e.g. cifar10+)"
            ) from None
    for name in config.get("models", []):
        if name not in MODELS:
            raise ConfigError(f"config key 'models': unknown model {name!r}; valid models: {', '.join(MODELS.names())}")
        if any(parse_dataset_key(k)[0] == "imagenet" for k in config.get("datasets", [])) and name not in IMAGENET_MODELS:
            raise ConfigError(
                f"config key 'models': {name!r} has no ImageNet-style version; with imagenet in 'datasets' "
                f"the valid models are {', '.join(IMAGENET_MODELS)}"
            )
    for aug in config.get("augmentations", []):
        method, params = method_of(config, aug)
        if method not in AUGMENTATIONS:
            where = f"methods.{aug}.method" if method != aug else "augmentations"
            raise ConfigError(
                f"config key '{where}': unknown augmentation method {method!r}; valid methods: "
                f"{', '.join(AUGMENTATIONS.names())} (or define an alias under 'methods' with 'method: <one of these>')"
            )
        for key in config.get("datasets", []):
            try:
                build_augmentation(method, params, get_spec(parse_dataset_key(key)[0]))
            except ValueError as exc:
                raise ConfigError(f"config key 'methods.{aug}': {exc}") from None
    seeds = config.get("seeds", [])
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"config key 'seeds': duplicate seeds in {seeds}")


def resolve_run(
    config: dict, dataset_key: str, model: str, augmentation: str, seed: int, presets: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Everything one training run depends on, and nothing else (so that adding a method to the
    config leaves every other run's parameters, and hence its outputs, untouched)."""
    name, traditional = parse_dataset_key(dataset_key)
    method, params = method_of(config, augmentation)
    return {
        "dataset": name,
        "dataset_key": dataset_key,
        "traditional": traditional,
        "model": model,
        "augmentation": augmentation,
        "method": method,
        "method_params": params,
        "seed": int(seed),
        "training": resolve_training(config["training"], presets),
    }
