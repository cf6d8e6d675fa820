"""A run's identity, its folder and its files: the one place that knows them.

A *run* is one training job: a protocol (a named training recipe, ``config/protocols.yaml``), a dataset
key (a dataset name with an optional ``+`` for the protocol's traditional augmentation), a model, an
augmentation name (a registered method or an alias of one) and a random seed. Its outputs live in::

    results/runs/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/

The workflow's train rule writes exactly :data:`RUN_FILES` there; the engine's ``meta.json`` records the
identity under ``run``; aggregation, comparison and the report read it back with :func:`read_identity`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The folder of one run and its training log (same wildcards as the train rule's outputs).
RUNS_ROOT = "results/runs"
RUN_SUBDIR = "{protocol}/{dataset}/{model}/{augmentation}/seed{seed}"
RUN_DIR = f"{RUNS_ROOT}/{RUN_SUBDIR}"
TRAIN_LOG = "results/logs/train/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}.log"
TRAIN_BENCHMARK = "results/benchmarks/train/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}.tsv"

# The files a finished run leaves in its folder (the train rule's outputs), and the engine's resumable state,
# which is not a declared output so that a killed job does not lose it.
RUN_FILES = {
    "metrics": "metrics.csv",
    "checkpoint": "checkpoint.pt",
    "best": "best.pt",
    "timing": "timing.json",
    "meta": "meta.json",
}
RESUME_FILE = "resume.pt"
# The exit code of a job that SIGTERM stopped after it saved its resume file (128 + SIGTERM, the shell's convention
# for "terminated by SIGTERM"): non-zero, so Snakemake retries the job (--retries) and SLURM's requeue resubmits it;
# the next start resumes from the file (augrepro.train.resumable).
PREEMPTED_EXIT_CODE = 143
# While training: the weights of the best epoch so far (by test top-1 error, the first such epoch, as aggregation's
# best_epoch), one file per candidate epoch; resume.pt names the one that counts. Not declared outputs, so that a
# retried job keeps them (Snakemake removes a failed job's declared outputs); the end copies it to best.pt.
BEST_SO_FAR = "best.epoch{epoch}.pt"
# Which weights an evaluation reads (an evaluation recipe's ``checkpoint``): the final epoch's or the best epoch's.
CHECKPOINTS = {"final": "checkpoint", "best": "best"}
# What aggregation needs of a run (the checkpoint is not read there).
REQUIRED_FILES = (RUN_FILES["metrics"], RUN_FILES["timing"], RUN_FILES["meta"])

# metrics.csv: one row per epoch; errors in percent.
EPOCH_COLUMNS = [
    "epoch",
    "lr",
    "train_loss",
    "train_top1_error",
    "test_loss",
    "test_top1_error",
    "test_top5_error",
    "epoch_seconds",
]

# What identifies a run in every table (runs.csv, summary.csv, the comparison); ``method`` and ``variant``
# say what the augmentation name ran (an alias names its registered method).
IDENTITY_COLUMNS = ["protocol", "dataset", "traditional", "model", "augmentation", "method", "variant", "seed"]
GROUP_COLUMNS = [c for c in IDENTITY_COLUMNS if c != "seed"]  # one summary row per group

# How a published number summarizes a run's test error over epochs (the protocol's ``reported``), and the
# column of runs.csv that holds it: the best epoch (SaliencyMix and CutMix code), the final epoch (Cutout code)
# or the median of the last 10 epochs (PuzzleMix code).
REPORTED = {
    "best": "best_top1_error",
    "final": "final_top1_error",
    "median_last10": "median_last10_top1_error",
}
# The top-5 error that goes with each: at the best top-1 epoch (SaliencyMix-ImageNet and CutMix train.py), or
# at the final epoch.
REPORTED_TOP5 = {"best": "top5_at_best_top1_error", "final": "final_top5_error", "median_last10": "final_top5_error"}


def parse_dataset_key(key: str) -> tuple[str, bool]:
    """``"cifar10+"`` -> ``("cifar10", True)``: the dataset name and whether the protocol's traditional
    augmentation is on. (Whether the name exists is checked by ``augrepro.data.datasets.get_spec``.)"""
    key = str(key)
    return (key[:-1], True) if key.endswith("+") else (key, False)


def dataset_key(dataset: str, traditional: bool) -> str:
    return f"{dataset}+" if traditional else str(dataset)


def _wildcard(wildcards: Any, name: str) -> str:
    """One wildcard's value, from Snakemake's wildcards (by attribute) or a mapping; a missing one fails by name."""
    if not isinstance(wildcards, Mapping):
        return getattr(wildcards, name)
    if wildcards.get(name) is None:
        raise KeyError(
            f"wildcard {name!r} is missing: the wildcards hold {', '.join(map(str, wildcards)) or 'nothing'}"
        )
    return wildcards[name]


@dataclass(frozen=True, order=True)
class RunKey:
    """One run: the five values that name its folder."""

    protocol: str
    dataset_key: str
    model: str
    augmentation: str
    seed: int

    @property
    def dataset(self) -> str:
        return parse_dataset_key(self.dataset_key)[0]

    @property
    def traditional(self) -> bool:
        return parse_dataset_key(self.dataset_key)[1]

    @property
    def cell(self) -> tuple[str, str, str, str]:
        """The grid cell the run is a seed of: (protocol, dataset key, model, augmentation)."""
        return (self.protocol, self.dataset_key, self.model, self.augmentation)

    def wildcards(self) -> dict[str, str]:
        """The train rule's wildcards (``dataset`` is the key, with its ``+``)."""
        return {
            "protocol": self.protocol,
            "dataset": self.dataset_key,
            "model": self.model,
            "augmentation": self.augmentation,
            "seed": str(self.seed),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RunKey:
        """The key of a resolved run (:func:`augrepro.studies.study.resolve_run`, a checkpoint's ``run``) or of a
        meta.json ``run`` record: both hold the dataset key (with its ``+``) as ``dataset_key``."""
        return cls(
            str(record["protocol"]),
            str(record["dataset_key"]),
            str(record["model"]),
            str(record["augmentation"]),
            int(record["seed"]),
        )

    @classmethod
    def from_wildcards(cls, wildcards: Any) -> RunKey:
        get = functools.partial(_wildcard, wildcards)
        return cls(get("protocol"), get("dataset"), get("model"), get("augmentation"), int(get("seed")))

    @property
    def run_dir(self) -> str:
        return RUN_DIR.format(**self.wildcards())

    @property
    def subdir(self) -> str:
        """The run's folder below ``results/runs``."""
        return RUN_SUBDIR.format(**self.wildcards())

    def path(self, name: str) -> str:
        """A file of the run: ``name`` is a key of RUN_FILES (``"metrics"``) or a file name."""
        return f"{self.run_dir}/{RUN_FILES.get(name, name)}"

    @property
    def log(self) -> str:
        return TRAIN_LOG.format(**self.wildcards())

    def label(self) -> str:
        return f"{self.protocol}/{self.dataset_key}/{self.model}/{self.augmentation}/seed{self.seed}"

    def is_done(self, root: str | Path = ".") -> bool:
        """Whether the run's outputs exist under ``root`` (what aggregation needs)."""
        return all((Path(root) / self.run_dir / name).is_file() for name in REQUIRED_FILES)


@dataclass(frozen=True)
class RunIdentity:
    """A run's identity as ``meta.json`` records it (typed: ``traditional`` is a bool, ``seed`` an int)."""

    protocol: str
    dataset: str
    traditional: bool
    model: str
    augmentation: str
    method: str
    variant: str | None
    seed: int

    @property
    def key(self) -> RunKey:
        return RunKey(
            self.protocol, dataset_key(self.dataset, self.traditional), self.model, self.augmentation, self.seed
        )

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


# Evaluations of a finished run (workflow/rules/evaluate.smk): FGSM once per (recipe, run), detection
# fine-tuning once per (recipe, run, detection seed). The recipe (config/evaluations.yaml) names a folder.
FGSM_RESULT = "results/evaluate/fgsm/{fgsm_recipe}/" + RUN_SUBDIR + "/fgsm.json"
FGSM_LOG = "results/logs/fgsm/{fgsm_recipe}/" + RUN_SUBDIR + ".log"
FGSM_BENCHMARK = "results/benchmarks/fgsm/{fgsm_recipe}/" + RUN_SUBDIR + ".tsv"
DETECTION_RESULT = "results/evaluate/detection/{det_recipe}/" + RUN_SUBDIR + "/det_seed{det_seed}/detection.json"
DETECTION_LOG = "results/logs/detection/{det_recipe}/" + RUN_SUBDIR + "/det_seed{det_seed}.log"
DETECTION_BENCHMARK = "results/benchmarks/detection/{det_recipe}/" + RUN_SUBDIR + "/det_seed{det_seed}.tsv"
EVALUATION_RESULTS = {"fgsm": FGSM_RESULT, "detection": DETECTION_RESULT}


@dataclass(frozen=True, order=True)
class EvalKey:
    """One evaluation job: its kind (``fgsm`` or ``detection``), recipe, the run it evaluates and, for
    detection, its seed."""

    kind: str
    recipe: str
    run: RunKey
    seed: int | None = None

    def wildcards(self) -> dict[str, str]:
        out = dict(self.run.wildcards())
        if self.kind == "fgsm":
            out["fgsm_recipe"] = self.recipe
        else:
            out.update(det_recipe=self.recipe, det_seed=str(self.seed))
        return out

    @classmethod
    def from_wildcards(cls, kind: str, wildcards: Any) -> EvalKey:
        get = functools.partial(_wildcard, wildcards)
        run = RunKey.from_wildcards(wildcards)
        if kind == "fgsm":
            return cls("fgsm", get("fgsm_recipe"), run)
        return cls("detection", get("det_recipe"), run, int(get("det_seed")))

    @property
    def result(self) -> str:
        return EVALUATION_RESULTS[self.kind].format(**self.wildcards())

    def is_done(self, root: str | Path = ".") -> bool:
        return (Path(root) / self.result).is_file()


# The pilot (workflow/rules/pilot.smk, augrepro.train.pilot): one short measuring job per shape of the runs, i.e.
# (protocol, dataset key, model, GPUs per node, nodes); its result file, log, and the summary of every shape.
PILOT_ROOT = "results/pilot"
PILOT_SUBDIR = "{protocol}/{dataset}/{model}/gpus{gpus}_nodes{nodes}"
PILOT_RESULT = f"{PILOT_ROOT}/{PILOT_SUBDIR}/pilot.json"
PILOT_LOG = f"results/logs/pilot/{PILOT_SUBDIR}.log"
PILOT_SUMMARY = f"{PILOT_ROOT}/summary.csv"


@dataclass(frozen=True, order=True)
class PilotKey:
    """One shape of runs that the pilot measures: the runs of one protocol, dataset key and model trained on the
    same GPUs per node and nodes (their resources: the largest request of the studies that need them)."""

    protocol: str
    dataset_key: str
    model: str
    gpus: int
    nodes: int = 1

    @classmethod
    def of(cls, run: RunKey, gpus: int, nodes: int = 1) -> PilotKey:
        return cls(run.protocol, run.dataset_key, run.model, int(gpus), int(nodes))

    @property
    def dataset(self) -> str:
        return parse_dataset_key(self.dataset_key)[0]

    def wildcards(self) -> dict[str, str]:
        return {
            "protocol": self.protocol,
            "dataset": self.dataset_key,
            "model": self.model,
            "gpus": str(self.gpus),
            "nodes": str(self.nodes),
        }

    @classmethod
    def from_wildcards(cls, wildcards: Any) -> PilotKey:
        get = functools.partial(_wildcard, wildcards)
        return cls(get("protocol"), get("dataset"), get("model"), int(get("gpus")), int(get("nodes")))

    def label(self) -> str:
        """``protocol/dataset/model/gpusG_nodesM``: how the summary and the plan name the shape."""
        return PILOT_SUBDIR.format(**self.wildcards())

    @property
    def result(self) -> str:
        return PILOT_RESULT.format(**self.wildcards())

    @property
    def log(self) -> str:
        return PILOT_LOG.format(**self.wildcards())


def identity_record(key: RunKey, method: str, variant: str | None) -> dict[str, Any]:
    """What the engine writes under ``run`` in meta.json."""
    return {
        "protocol": key.protocol,
        "dataset": key.dataset,
        "dataset_key": key.dataset_key,
        "traditional": key.traditional,
        "model": key.model,
        "augmentation": key.augmentation,
        "method": method,
        "variant": variant,
        "seed": key.seed,
    }


def read_identity(meta: Mapping[str, Any], where: str | Path = "meta.json") -> RunIdentity:
    """The typed identity of a run from its parsed meta.json; a clear error names the file and the key."""
    run = meta.get("run")
    if not isinstance(run, Mapping):
        raise ValueError(f"{where}: meta.json has no 'run' object")
    missing = [k for k in ("protocol", "dataset", "model", "augmentation", "seed") if k not in run]
    if missing:
        raise ValueError(
            f"{where}: meta.json 'run' lacks {', '.join(repr(k) for k in missing)}; "
            "it was written by an older augrepro: delete the run folder to retrain it"
        )
    name, plus = parse_dataset_key(run.get("dataset_key") or run["dataset"])
    traditional = run.get("traditional")
    variant = run.get("variant")
    return RunIdentity(
        protocol=str(run["protocol"]),
        dataset=name,
        traditional=plus if traditional is None else bool(traditional),
        model=str(run["model"]),
        augmentation=str(run["augmentation"]),
        method=str(run.get("method") or run["augmentation"]),
        variant=None if variant is None or (isinstance(variant, float) and math.isnan(variant)) else str(variant),
        seed=int(run["seed"]),
    )


def read_json(path: str | Path) -> dict[str, Any]:
    """A run's JSON file (meta.json, timing.json) as a dict; a clear error when it is not a JSON object."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data
