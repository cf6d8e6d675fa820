"""What a training run is given: the run (its identity and its protocol's values) and the execution settings.

:class:`Execution` is the config's ``training:`` (workflow/schemas/config.schema.yaml): how a run is executed,
never what it computes, so it is not part of the run's identity. :class:`TrainingConfig` is one resolved run
(:class:`augrepro.resolved.ResolvedRun`, whose protocol's defaults are its schema's) with the dataset and those
settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from augrepro.data.datasets import DatasetSpec, get_spec
from augrepro.models.pretrained import weights_file
from augrepro.resolved import Protocol, ResolvedRun
from augrepro.runs import RunKey


@dataclass(frozen=True)
class Execution:
    """Execution-only settings shared by every run (the schema's ``training:``; its defaults must equal these)."""

    device: str = "auto"  # auto (the GPU when there is one) | cpu | cuda | cuda:N
    compile: bool = False  # torch.compile the model
    workers: int | None = None  # DataLoader workers for file datasets; None: the job's threads (4 without)
    eval_batch_size: int = 500  # the per-epoch evaluation's batch (no effect on results)
    decode: str = "auto"  # file datasets: auto | device | workers (augrepro.data.jpeg.choose_decode)

    @classmethod
    def of(cls, settings: Mapping[str, Any] | Execution | None = None) -> Execution:
        """From the config's mapping; a key set to None keeps its default, an unknown key is refused."""
        if isinstance(settings, Execution):
            return settings
        settings = dict(settings or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        return cls(**{k: v for k, v in settings.items() if v is not None})

    def loader_workers(self, threads: int | None) -> int:
        """DataLoader workers: the setting, else the job's threads, else 4."""
        return int(self.workers if self.workers is not None else (threads or 4))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingConfig:
    """One resolved run as the engine trains it (:class:`augrepro.resolved.ResolvedRun`), its dataset, the execution
    settings and the pretrained weights file of a protocol that starts from one. ``run`` is the run's params as
    given, kept whole: its identity in resume.pt and the checkpoints, and meta.json's ``config``."""

    run: dict[str, Any]
    resolved: ResolvedRun
    spec: DatasetSpec
    execution: Execution
    pretrained_file: str | None = None

    @classmethod
    def of(
        cls,
        run: Mapping[str, Any] | ResolvedRun,
        execution: Mapping[str, Any] | Execution | None = None,
        pretrained: str | os.PathLike | None = None,
    ) -> TrainingConfig:
        """``run``: the train rule's params (:meth:`ResolvedRun.to_params`) or the resolved run. Check that
        ``pretrained`` (a weights file) is given exactly when the protocol starts from pretrained weights; the
        message names the file to give."""
        resolved = run if isinstance(run, ResolvedRun) else ResolvedRun.from_params(run)
        params = resolved.to_params() if isinstance(run, ResolvedRun) else dict(run)
        key, tag = resolved.key, resolved.protocol.pretrained
        if tag and pretrained is None:
            raise ValueError(
                f"protocol {key.protocol!r} starts from pretrained {tag!r} weights: give the file "
                f"{weights_file(key.model, tag)} (the workflow's pretrained rule fetches it into "
                "results/pretrained/; python -m augrepro.train takes --pretrained)"
            )
        if pretrained is not None and not tag:
            raise ValueError(
                f"protocol {key.protocol!r} has no 'pretrained:', but a weights file was given ({pretrained})"
            )
        return cls(
            params,
            resolved,
            get_spec(key.dataset),
            Execution.of(execution),
            None if pretrained is None else str(pretrained),
        )

    @property
    def key(self) -> RunKey:
        return self.resolved.key

    @property
    def protocol(self) -> Protocol:
        return self.resolved.protocol

    @property
    def recipe(self) -> dict[str, Any]:
        """The protocol's resolved values as a mapping (config/protocols.yaml), for the reader that takes one
        (:func:`augrepro.train.optim.make_optimizer`, which the benchmarks and tests call with a few values)."""
        return self.protocol.to_params()

    @property
    def seed(self) -> int:
        return self.key.seed

    @property
    def epochs(self) -> int:
        return self.protocol.epochs

    @property
    def batch_size(self) -> int:
        return self.protocol.batch_size

    @property
    def batchnorm(self) -> str:
        """BatchNorm over several processes: per_replica (the schema's default, as DataParallel) or sync."""
        return self.protocol.batchnorm

    @property
    def pretrained_tag(self) -> str | None:
        return self.protocol.pretrained

    @property
    def method(self) -> str:
        return self.resolved.method

    @property
    def method_params(self) -> dict[str, Any]:
        return self.resolved.params
