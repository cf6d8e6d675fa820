"""A resolved run, typed: its key, its method and parameters, and its protocol's values on its dataset.

:func:`augrepro.studies.study.resolve` makes one from a run's key, the protocols and the studies' aliases. Its
:meth:`ResolvedRun.to_params` is the mapping the workflow passes to the train rule as ``params.run`` (Snakemake
reruns a job whose params change, so this mapping is kept exactly as it has always been: the run's identity,
``method_params`` and ``recipe``), which the engine keeps in resume.pt, checkpoint.pt, best.pt and meta.json's
``config``; :meth:`ResolvedRun.from_params` reads any of those back. :class:`Protocol` is the recipe: each key of
the protocol schema (workflow/schemas/protocol.schema.yaml) an attribute, a key the protocol does not set at its
schema default, and the keys it does set remembered in their order, so that the mapping comes back unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from augrepro import schemas
from augrepro.augment.variants import declared_variant
from augrepro.runs import RunKey, identity_record

# Each protocol key's default (the protocol schema's, where it gives one) and the keys a resolved protocol must set.
_DEFAULTS = schemas.definition_defaults("protocol", "values")
REQUIRED = tuple(schemas.load_schema("protocol")["$defs"]["resolved"]["required"])
# What a run does not keep of its protocol: its report title, and the methods' defaults (in ``method_params``).
NOT_IN_RECIPE = ("title", "methods")


def _identity(key: RunKey, method: str) -> dict[str, Any]:
    """A run's identity in its params: meta.json's (:func:`augrepro.runs.identity_record`) without the variant."""
    return {k: v for k, v in identity_record(key, method, None).items() if k != "variant"}


# The keys of a run's params, in their order.
PARAM_KEYS = (*_identity(RunKey("", "", "", "", 0), ""), "method_params", "recipe")


def _default(key: str) -> Any:
    """A dataclass field whose default is the protocol schema's for ``key`` (a fresh copy of a mapping)."""
    value = _DEFAULTS[key]
    return (
        field(default_factory=lambda: copy.deepcopy(value)) if isinstance(value, dict | list) else field(default=value)
    )


@dataclass(frozen=True)
class Protocol:
    """A protocol's values on one dataset (its base chain and per-dataset values applied), as a run keeps them
    (``recipe``). ``given``: the keys the recipe sets, in its order (None: every attribute, as built in code);
    ``extra``: keys this version does not know (a checkpoint of another version), kept to be written back."""

    name: str
    epochs: int
    batch_size: int
    momentum: float
    nesterov: bool
    weight_decay: float
    lr_schedule: str  # multistep (milestones, gamma) or cosine
    pipeline: dict[str, Any]  # the traditional augmentation of a '+' dataset key: {name, ...}
    numerics: str  # fp32, tf32, bf16 or auto (augrepro.train.numerics)
    reported: str  # best, final or median_last10 (augrepro.runs.REPORTED)
    lr: float | None = None  # None: lr_groups instead
    lr_groups: dict[str, float] | None = _default("lr_groups")
    milestones: list[int] | None = _default("milestones")
    gamma: float | None = _default("gamma")
    lr_decay_delay: int = _default("lr_decay_delay")
    eval_transform: dict[str, int] | None = _default("eval_transform")
    normalize: dict[str, list[float]] | None = _default("normalize")
    architecture: str | None = _default("architecture")  # resolved runs always set it (study.architecture)
    model_options: dict[str, Any] | None = _default("model_options")
    batchnorm_replicas: int = _default("batchnorm_replicas")
    batchnorm: str = _default("batchnorm")
    pretrained: str | None = _default("pretrained")
    max_train_images: int | None = _default("max_train_images")
    max_test_images: int | None = _default("max_test_images")
    given: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The protocol keys that are attributes (those of the schema that a recipe holds, and ``name``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("given", "extra"))

    @classmethod
    def from_params(cls, recipe: Mapping[str, Any]) -> Protocol:
        """The protocol of a run's ``recipe`` (a copy: the object shares nothing with the mapping)."""
        if not isinstance(recipe, Mapping):
            raise ValueError(f"a run's recipe is a mapping of protocol values, not {recipe!r}")
        missing = [k for k in ("name", *REQUIRED) if k not in recipe]
        if missing:
            raise ValueError(
                f"the run's recipe lacks {', '.join(missing)}: it was not resolved by this augrepro "
                "(augrepro.studies.study.resolve_run)"
            )
        values = copy.deepcopy(dict(recipe))
        known = set(cls.keys())
        return cls(
            **{k: v for k, v in values.items() if k in known},
            given=tuple(values),
            extra={k: v for k, v in values.items() if k not in known},
        )

    @classmethod
    def of_values(cls, values: Mapping[str, Any]) -> Protocol:
        """The protocol of a resolved protocol's values (:func:`augrepro.studies.protocols.protocol_values`) as a
        run keeps them: without what a run does not keep (:data:`NOT_IN_RECIPE`)."""
        return cls.from_params({k: v for k, v in values.items() if k not in NOT_IN_RECIPE})

    def to_params(self) -> dict[str, Any]:
        """The recipe as the run's params hold it: the keys given, in their order, with their values (copies)."""
        keys = self.keys() if self.given is None else self.given
        return copy.deepcopy({k: self.extra[k] if k in self.extra else getattr(self, k) for k in keys})


@dataclass(frozen=True)
class ResolvedRun:
    """Everything one training run depends on, and nothing else: its key, its registered method and the method's
    parameters (the protocol's defaults for it, then the study alias's), and its protocol on its dataset.
    Execution-only settings (device, workers) are not here: they never change what a run computes."""

    key: RunKey
    method: str
    params: dict[str, Any]
    protocol: Protocol

    @property
    def architecture(self) -> str:
        """The model's input stem, ``cifar`` or ``imagenet``: its protocol's, which a resolved run always sets
        (:func:`augrepro.studies.study.architecture` gives the default by the dataset's kind)."""
        if self.protocol.architecture is None:
            raise ValueError(
                f"resolved run {self.key.label()}: its recipe names no architecture; it was not resolved by this "
                "augrepro (augrepro.studies.study.resolve_run)"
            )
        return self.protocol.architecture

    @property
    def variant(self) -> str | None:
        """The variant the run records (:func:`augrepro.augment.variants.declared_variant`; no torch)."""
        return declared_variant(self.method, self.params)

    def to_params(self) -> dict[str, Any]:
        """The run as the train rule's ``params.run``: its identity (:func:`augrepro.runs.identity_record`, but the
        variant, which the engine records from the method it builds), ``method_params`` and ``recipe``."""
        return {
            **_identity(self.key, self.method),
            "method_params": copy.deepcopy(self.params),
            "recipe": self.protocol.to_params(),
        }

    @classmethod
    def from_params(cls, run: Mapping[str, Any]) -> ResolvedRun:
        """A run from its params (or a checkpoint's or resume.pt's ``run``); its identity's dataset and
        ``traditional`` must agree with its dataset key."""
        missing = [k for k in PARAM_KEYS if k not in run]
        if missing:
            raise ValueError(f"not a resolved run: it lacks {', '.join(missing)} (augrepro.studies.study.resolve_run)")
        unknown = [str(k) for k in run if k not in PARAM_KEYS]
        if unknown:
            raise ValueError(f"not a resolved run of this augrepro: unknown key(s) {', '.join(unknown)}")
        resolved = cls(
            RunKey.from_record(run),
            str(run["method"]),
            copy.deepcopy(dict(run["method_params"])),
            Protocol.from_params(run["recipe"]),
        )
        for name in ("dataset", "traditional"):
            if run[name] != getattr(resolved.key, name):
                raise ValueError(
                    f"resolved run {resolved.key.label()}: its {name} is {run[name]!r}, but its dataset key "
                    f"{resolved.key.dataset_key!r} says {getattr(resolved.key, name)!r}"
                )
        return resolved
