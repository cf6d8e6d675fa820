"""Protocols: named training recipes (``config/protocols.yaml``), each value citing its source.

A protocol holds the optimizer and schedule, epochs and batch size, the input pipeline that a ``+``
dataset key turns on, the method defaults its source fixes, the numerics, and how its source reports a
run (best, final or median of the last 10 epochs). A protocol may derive from another (``base:``) and
override values per dataset (``per_dataset: {tinyimagenet: {...}}``), so that one recipe of a paper, whose
values differ by dataset (SalfMix section 5.1), stays one protocol.

Execution-only settings (device, compile, DataLoader workers, evaluation batch size) are not part of a
protocol: they live in the config's ``training:`` and never change a run's identity.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from augrepro.errors import ConfigError

# Every key a protocol may hold, with the type a value must have (None: any mapping/list checked elsewhere).
REQUIRED_KEYS = (
    "epochs",
    "batch_size",
    "lr",  # or lr_groups
    "momentum",
    "nesterov",
    "weight_decay",
    "lr_schedule",
    "pipeline",
    "numerics",
    "reported",
)
OPTIONAL_KEYS = (
    "base",
    "title",
    "eval_transform",
    "milestones",
    "gamma",
    "normalize",
    "architecture",
    "methods",
    "per_dataset",
    "max_train_images",
    "max_test_images",
    "lr_decay_delay",
    "model_options",
    "batchnorm_replicas",
    "lr_groups",
    "pretrained",
    "batchnorm",
)
# lr_groups: one learning rate per parameter group, instead of lr: the backbone (every parameter but the head's)
# and the head (the model's final nn.Linear, a new one when the backbone is pretrained; augrepro.models.pretrained.head).
LR_GROUPS = ("backbone", "head")
LR_SCHEDULES = ("multistep", "cosine")
# augrepro.train.numerics.Numerics: fp32 (TF32 off; every paper protocol, as its source's GPUs computed), tf32,
# bf16 (autocast and channels-last: the fast variants, named <protocol>_bf16), auto (bf16 on a GPU, fp32 on the CPU)
NUMERICS = ("auto", "fp32", "tf32", "bf16")
REPORTED = ("best", "final", "median_last10")
BATCHNORM = ("per_replica", "sync")  # augrepro.train.distributed: BatchNorm of a data-parallel run
BATCHNORM_DEFAULT = "per_replica"  # as nn.DataParallel, which every source used
ARCHITECTURES = ("cifar", "imagenet")
# Keys whose mappings merge key by key through ``base`` and ``per_dataset`` (the others are replaced whole).
MERGED_KEYS = ("methods",)


def load_protocols(path: str | Path) -> dict[str, dict[str, Any]]:
    """The protocols file as ``name -> raw entry`` (``base`` and ``per_dataset`` not yet applied); every
    protocol is resolved once here so that a bad one fails before any job starts."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config key 'protocols': {path} not found; point it at a protocols file such as config/protocols.yaml"
        )
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of protocol name -> settings")
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: protocol {name!r} must be a mapping of settings, got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
        if unknown:
            raise ConfigError(
                f"{path}: protocol {name!r}: unknown key(s) {', '.join(unknown)}; valid keys: "
                f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}"
            )
        for dataset, override in (entry.get("per_dataset") or {}).items():
            if not isinstance(override, dict):
                raise ConfigError(f"{path}: protocol {name!r}: per_dataset.{dataset} must be a mapping")
            bad = sorted(
                set(override) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS) | ({"base", "per_dataset"} & set(override))
            )
            if bad:
                raise ConfigError(f"{path}: protocol {name!r}: per_dataset.{dataset} may not set {', '.join(bad)}")
    protocols = {str(k): v for k, v in raw.items()}
    for name in protocols:
        _check(resolve_protocol(protocols, name), f"{path}: protocol {name!r}")
    return protocols


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key in MERGED_KEYS and isinstance(value, dict):
            merged = copy.deepcopy(out.get(key) or {})
            for method, params in value.items():
                merged[method] = {**(merged.get(method) or {}), **copy.deepcopy(params or {})}
            out[key] = merged
        elif key == "per_dataset" and isinstance(value, dict):
            merged = copy.deepcopy(out.get(key) or {})
            for dataset, values in value.items():
                merged[dataset] = _merge(merged.get(dataset) or {}, values or {})
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def _chain(protocols: dict[str, dict[str, Any]], name: str) -> list[str]:
    """``name``, its base, the base's base, ...; a cycle or an unknown base is refused."""
    chain = [name]
    while True:
        entry = protocols.get(chain[-1])
        if entry is None:
            where = f"the base of protocol {chain[-2]!r}" if len(chain) > 1 else "protocol"
            raise ConfigError(
                f"unknown protocol {chain[-1]!r} ({where}); valid protocols: {', '.join(sorted(protocols))}"
            )
        base = entry.get("base")
        if base is None:
            return chain
        if base in chain:
            cycle = " -> ".join(chain[chain.index(base) :] + [base])
            raise ConfigError(f"protocol cycle through 'base:': {cycle}; a protocol may not derive from itself")
        chain.append(str(base))


def resolve_protocol(protocols: dict[str, dict[str, Any]], name: str, dataset: str | None = None) -> dict[str, Any]:
    """The protocol's values with its ``base`` chain applied (the root first), then, for ``dataset``, its
    ``per_dataset`` overrides. ``base`` and ``per_dataset`` do not appear in the result; ``name`` does."""
    values: dict[str, Any] = {}
    for link in reversed(_chain(protocols, name)):
        values = _merge(values, protocols[link])
    per_dataset = values.pop("per_dataset", None) or {}
    values.pop("base", None)
    if dataset is not None and dataset in per_dataset:
        values = _merge(values, per_dataset[dataset])
    values["name"] = name
    return values


def _check(values: dict[str, Any], where: str) -> None:
    """A resolved protocol's keys, types and ranges; the first problem fails, naming ``where`` and the key."""
    _check_keys(values, where)
    expect = _expectation(values, where)
    _check_optimization(values, expect)
    _check_execution(values, expect)
    _check_data(values, expect)
    _check_model(values, expect)


_Expect = Callable[[str, bool, str], None]


def _expectation(values: dict[str, Any], where: str) -> _Expect:
    """``expect(key, ok, what)``: fails with the key's value and what was expected unless ``ok``."""

    def expect(key: str, ok: bool, what: str) -> None:
        if not ok:
            raise ConfigError(f"{where}: {key} is {values.get(key)!r}; expected {what}")

    return expect


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_keys(values: dict[str, Any], where: str) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in values and not (k == "lr" and "lr_groups" in values)]
    if "lr" in values and "lr_groups" in values:
        raise ConfigError(f"{where} sets both lr and lr_groups (directly or through its base); keep one")
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)} (directly or through its base)")


def _check_optimization(values: dict[str, Any], expect: _Expect) -> None:
    """Epochs, batch, learning rate(s), pretrained weights, SGD's values and the lr schedule."""
    expect("epochs", _positive_int(values["epochs"]), "an integer >= 1")
    expect("batch_size", _positive_int(values["batch_size"]), "an integer >= 1")
    if "lr_groups" in values:
        groups = values["lr_groups"]
        expect(
            "lr_groups",
            isinstance(groups, dict)
            and set(groups) == set(LR_GROUPS)
            and all(_number(v) and v > 0 for v in groups.values()),
            f"{{{', '.join(f'{g}: <lr > 0>' for g in LR_GROUPS)}}}",
        )
    else:
        expect("lr", _number(values["lr"]) and values["lr"] > 0, "a number > 0")
    if values.get("pretrained") is not None:
        from augrepro.models.pretrained import PRETRAINED

        expect("pretrained", values["pretrained"] in PRETRAINED, f"one of {', '.join(PRETRAINED)} or null")
    expect("momentum", _number(values["momentum"]) and 0 <= values["momentum"] < 1, "a number in [0, 1)")
    expect("nesterov", isinstance(values["nesterov"], bool), "true or false")
    expect("weight_decay", _number(values["weight_decay"]) and values["weight_decay"] >= 0, "a number >= 0")
    expect("lr_schedule", values["lr_schedule"] in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}")
    if values["lr_schedule"] == "multistep":
        _check_multistep(values, expect)


def _check_multistep(values: dict[str, Any], expect: _Expect) -> None:
    milestones = values.get("milestones")
    expect(
        "milestones",
        isinstance(milestones, list) and all(_positive_int(m) for m in milestones) and milestones == sorted(milestones),
        "an increasing list of epochs >= 1 (multistep schedule)",
    )
    expect(
        "gamma",
        _number(values.get("gamma")) and 0 < values.get("gamma", 0) <= 1,
        "a number in (0, 1] (multistep schedule)",
    )
    delay = values.get("lr_decay_delay", 0)
    expect("lr_decay_delay", isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0, "an integer >= 0")


def _check_execution(values: dict[str, Any], expect: _Expect) -> None:
    """Numerics, the reported epoch, the data pipeline, the architecture and the BatchNorm mode."""
    expect("numerics", values["numerics"] in NUMERICS, f"one of {', '.join(NUMERICS)}")
    expect("reported", values["reported"] in REPORTED, f"one of {', '.join(REPORTED)}")
    expect("pipeline", isinstance(values["pipeline"], dict) and "name" in values["pipeline"], "a mapping with a 'name'")
    if "architecture" in values:
        expect("architecture", values["architecture"] in ARCHITECTURES, f"one of {', '.join(ARCHITECTURES)}")
    if "batchnorm" in values:
        expect(
            "batchnorm",
            values["batchnorm"] in BATCHNORM,
            f"one of {', '.join(BATCHNORM)} (per_replica: each GPU's part of the batch normalized on its own, "
            "as DataParallel; sync: SyncBatchNorm over the whole batch)",
        )


def _check_data(values: dict[str, Any], expect: _Expect) -> None:
    """Normalization, the evaluation transform and the image limits."""
    if "normalize" in values:
        norm = values["normalize"]
        ok = (
            isinstance(norm, dict)
            and set(norm) == {"mean", "std"}
            and all(
                isinstance(norm[k], list) and len(norm[k]) == 3 and all(_number(v) for v in norm[k])
                for k in ("mean", "std")
            )
        )
        expect("normalize", ok and all(v > 0 for v in norm["std"]), "{mean: [r, g, b], std: [r, g, b]} with std > 0")
    if values.get("eval_transform") is not None:
        fixed = values["eval_transform"]
        ok = (
            isinstance(fixed, dict) and set(fixed) == {"resize", "crop"} and all(_positive_int(fixed[k]) for k in fixed)
        )
        expect("eval_transform", ok and fixed["crop"] <= fixed["resize"], "{resize: <side>, crop: <side <= resize>}")
    for key in ("max_train_images", "max_test_images"):
        if values.get(key) is not None:
            expect(key, _positive_int(values[key]), "an integer >= 1 or null")


def _check_model(values: dict[str, Any], expect: _Expect) -> None:
    """The DataParallel replicas, the model builder's options and the methods' parameters."""
    if "batchnorm_replicas" in values:
        expect(
            "batchnorm_replicas",
            _positive_int(values["batchnorm_replicas"]),
            "an integer >= 1 (the source's GPUs under nn.DataParallel)",
        )
    if values.get("model_options") is not None:
        expect("model_options", isinstance(values["model_options"], dict), "a mapping of the model builder's options")
    methods = values.get("methods") or {}
    expect(
        "methods",
        isinstance(methods, dict) and all(isinstance(v, dict) for v in methods.values()),
        "method -> parameters",
    )


def protocol_values(protocols: dict[str, dict[str, Any]], name: str, dataset: str) -> dict[str, Any]:
    """The resolved protocol of one run (for ``dataset``), checked."""
    values = resolve_protocol(protocols, name, dataset)
    _check(values, f"protocol {name!r} on {dataset}")
    return values


def replicas_per_process(recipe: dict, world_size: int) -> int:
    """How many of the source's ``nn.DataParallel`` replicas (the protocol's ``batchnorm_replicas``) one process
    emulates with :class:`ReplicaForward`: all of them in a single process; under torchrun each rank is one
    replica already, so the replicas must equal the ranks (``batchnorm: per_replica``); ``sync`` normalizes
    over the global batch, one replica per process."""
    replicas = int(recipe.get("batchnorm_replicas", 1))
    if world_size <= 1:
        return replicas
    if recipe.get("batchnorm", BATCHNORM_DEFAULT) == "sync" or replicas == 1:
        return 1
    if replicas != world_size:
        raise ValueError(
            f"the protocol's batchnorm_replicas is {replicas} (its source's GPUs under nn.DataParallel) but the run "
            f"has {world_size} processes: run it on {replicas} GPUs, or on one (the replicas are then emulated)"
        )
    return 1
