"""Protocols: named training recipes (``config/protocols.yaml``), each value citing its source.

A protocol holds the optimizer and schedule, epochs and batch size, the input pipeline that a ``+``
dataset key turns on, the method defaults its source fixes, the numerics, and how its source reports a
run (best, final or median of the last 10 epochs). A protocol may derive from another (``base:``) and
override values per dataset (``per_dataset: {tinyimagenet: {...}}``), so that one recipe of a paper, whose
values differ by dataset (SalfMix section 5.1), stays one protocol.

Each protocol's keys, types, ranges and defaults are its JSON schema's (workflow/schemas/protocol.schema.yaml),
checked as written and once resolved; this module keeps the base chain and what a schema cannot say.

Execution-only settings (device, compile, DataLoader workers, evaluation batch size) are not part of a
protocol: they live in the config's ``training:`` and never change a run's identity.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augrepro import schemas
from augrepro.errors import ConfigError
from augrepro.models.pretrained import PRETRAINED

if TYPE_CHECKING:
    from augrepro.resolved import Protocol

# The keys a resolved protocol must hold (lr or lr_groups besides): the protocol schema's (resolved), which states
# every key's type, range and default (workflow/schemas/protocol.schema.yaml).
REQUIRED_KEYS = tuple(schemas.load_schema("protocol")["$defs"]["resolved"]["required"])
_VALUES = schemas.load_schema("protocol")["$defs"]["values"]["properties"]
# lr_groups: one learning rate per parameter group, instead of lr: the backbone (every parameter but the head's)
# and the head (the model's final nn.Linear, a new one when the backbone is pretrained; augrepro.models.pretrained.head).
LR_GROUPS = tuple(_VALUES["lr_groups"]["required"])
LR_SCHEDULES = tuple(_VALUES["lr_schedule"]["enum"])
# augrepro.train.numerics.Numerics: fp32 (TF32 off; every paper protocol, as its source's GPUs computed), tf32,
# bf16 (autocast and channels-last: the fast variants, named <protocol>_bf16), auto (bf16 on a GPU, fp32 on the CPU)
NUMERICS = tuple(_VALUES["numerics"]["enum"])
REPORTED = tuple(_VALUES["reported"]["enum"])
BATCHNORM = tuple(_VALUES["batchnorm"]["enum"])  # augrepro.train.distributed: BatchNorm of a data-parallel run
BATCHNORM_DEFAULT = _VALUES["batchnorm"]["default"]  # as nn.DataParallel, which every source used
LR_DECAY_DELAY_DEFAULT = _VALUES["lr_decay_delay"]["default"]
ARCHITECTURES = tuple(_VALUES["architecture"]["enum"])
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
    raw = schemas.read_yaml(path) or {}
    schemas.validate(raw, "protocol", str(path))
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
    """A resolved protocol: its keys (through its base), the protocol schema's ``resolved`` (types, ranges, the
    multistep schedule's keys), and what a schema cannot say; the first problem fails, naming ``where`` and the key."""
    _check_keys(values, where)
    schemas.validate(values, "protocol", where, "resolved")
    milestones = values.get("milestones") or []
    if values["lr_schedule"] == "multistep" and milestones != sorted(milestones):
        raise ConfigError(f"{where}: milestones is {milestones!r}; expected an increasing list of epochs")
    fixed = values.get("eval_transform")
    if fixed and fixed["crop"] > fixed["resize"]:
        raise ConfigError(f"{where}: eval_transform is {fixed!r}; expected {{resize: <side>, crop: <side <= resize>}}")
    if values.get("pretrained") is not None:
        if values["pretrained"] not in PRETRAINED:
            raise ConfigError(
                f"{where}: pretrained is {values['pretrained']!r}; expected one of {', '.join(PRETRAINED)} or null"
            )


def _check_keys(values: dict[str, Any], where: str) -> None:
    """The keys a protocol needs, given directly or through its base: one of lr and lr_groups, and the required."""
    needed = [k for k in _VALUES if k in REQUIRED_KEYS or k == "lr"]  # in the schema's order
    missing = [k for k in needed if k not in values and not (k == "lr" and "lr_groups" in values)]
    if "lr" in values and "lr_groups" in values:
        raise ConfigError(f"{where} sets both lr and lr_groups (directly or through its base); keep one")
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)} (directly or through its base)")


def protocol_values(protocols: dict[str, dict[str, Any]], name: str, dataset: str) -> dict[str, Any]:
    """The resolved protocol of one run (for ``dataset``), checked (once per distinct resolved values: every run of
    a protocol on a dataset has the same, and the workflow resolves each of its runs)."""
    values = resolve_protocol(protocols, name, dataset)
    fingerprint = json.dumps(values, sort_keys=True, default=repr)
    if fingerprint not in _PASSED:
        _check(values, f"protocol {name!r} on {dataset}")
        _PASSED.add(fingerprint)
    return values


_PASSED: set[str] = set()  # the resolved protocols (as canonical JSON) that passed _check


def batch_per_process(batch_size: int, world_size: int) -> int:
    """Each process's part of a global batch of ``batch_size`` over ``world_size`` data-parallel processes; a world
    size that does not divide it is refused (checked by the studies' validation before any job, and by the run)."""
    if world_size > 1 and batch_size % world_size:
        raise ValueError(
            f"batch size {batch_size} is not a multiple of the world size {world_size}: the per-GPU batch is "
            "the protocol's batch size / world size; choose a number of GPUs (gpus x nodes) that divides it"
        )
    return batch_size // max(1, world_size)


def replicas_per_process(protocol: Protocol, world_size: int) -> int:
    """How many of the source's ``nn.DataParallel`` replicas (the protocol's ``batchnorm_replicas``) one process
    emulates with :class:`ReplicaForward`: all of them in a single process; under torchrun each rank is one
    replica already, so the replicas must equal the ranks (``batchnorm: per_replica``); ``sync`` normalizes
    over the global batch, one replica per process."""
    replicas = protocol.batchnorm_replicas
    if world_size <= 1:
        return replicas
    if protocol.batchnorm == "sync" or replicas == 1:
        return 1
    if replicas != world_size:
        raise ValueError(
            f"the protocol's batchnorm_replicas is {replicas} (its source's GPUs under nn.DataParallel) but the run "
            f"has {world_size} processes: run it on {replicas} GPUs, or on one (the replicas are then emulated)"
        )
    return 1
