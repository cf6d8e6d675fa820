"""The workflow's grid: the chosen studies, those skipped for lack of data, and the union of their runs.

:func:`select_from_config` is what ``workflow/rules/common.smk`` and ``augrepro plan`` call: it loads the
protocols and every study file, checks them all (before any job starts), keeps the studies named by the
config's ``studies``, skips those whose data is not available (ImageNet without ``data.imagenet_path``)
with one line each, and expands the rest into runs, each once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augrepro import schemas
from augrepro.data.datasets import get_spec, with_checksum
from augrepro.resolved import ResolvedRun
from augrepro.runs import EvalKey, RunKey
from augrepro.studies.checks import validate_studies
from augrepro.studies.evaluations import load_evaluations
from augrepro.studies.protocols import ConfigError, load_protocols, resolve_protocol
from augrepro.studies.study import (
    Study,
    load_studies,
    method_of,
    parse_adaptive,
    resolve,
    select,
)

BUILD_CACHE = Path(".snakemake") / "augrepro"  # under the working directory: the builds that passed

# The config's adaptive seeds when it does not say (workflow/schemas/config.schema.yaml's defaults).
ADAPTIVE_DEFAULTS = {k: v for k, v in schemas.defaults("config", "adaptive").items() if k != "enabled"}


def unavailable_reason(dataset: str, data_config: dict[str, Any] | None, root: str | Path = ".") -> str | None:
    """Why ``dataset`` cannot be used with this config (None: it can): a dataset that is never downloaded
    (ImageNet needs an account) needs ``data.<name>_path`` pointing at the user's copy; a dataset whose official
    URLs are gone (Stanford Cars) needs data.local_dir or data.mirror, unless its files are already in
    results/downloads/<name>/."""
    spec = get_spec(dataset)
    if spec.downloadable:
        data_config = data_config or {}
        if spec.urls_gone and not data_config.get("local_dir") and not data_config.get("mirror"):
            downloads = Path(root) / "results" / "downloads" / spec.name
            if not all((downloads / entry.name).is_file() for entry in spec.archives()):
                return f"needs {spec.name}: {spec.urls_gone}"
        return None
    key = f"{spec.name}_path"
    path = (data_config or {}).get(key)
    if not path:
        return f"needs {spec.name}, which is never downloaded: set data.{key} to your copy (resources/datasets.md)"
    if not Path(path).is_dir():
        return f"data.{key} is {path!r}, which is not a folder; point it at your {spec.name} copy"
    return None


def check_checksums(checksums: dict[str, Any] | None) -> None:
    """data.checksums names datasets with archives and, for a dataset of several files, their file names."""
    for name, value in (checksums or {}).items():
        try:
            with_checksum(get_spec(name), value)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"config key data.checksums.{name}: {exc}") from None


@dataclass
class Selection:
    """The chosen studies and the runs they need."""

    studies: list[Study]  # chosen and runnable, in the config's order
    skipped: dict[str, str]  # chosen but not runnable here: name -> reason
    all_studies: dict[str, Study]  # every study file (the report folds away the ones not chosen)
    protocols: dict[str, dict[str, Any]]
    aliases: dict[str, tuple[dict[str, Any], str]]
    root: Path = Path(".")  # the working directory (where results/ lives)
    evaluations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # config/evaluations.yaml
    partial: dict[str, str] = field(default_factory=dict)  # chosen, run without some datasets: name -> why
    published_dir: Path = Path("resources/published")  # the published tables (config key 'published')
    # the adaptive design the config asks for, or would (config key 'adaptive'): the plan prices it for every study
    adaptive_design: dict[str, Any] = field(default_factory=lambda: dict(ADAPTIVE_DEFAULTS))
    runs: list[RunKey] = field(default_factory=list)  # the union, each run once
    evaluation_jobs: list[EvalKey] = field(default_factory=list)  # the union of the evaluation jobs, each once
    _resolved: dict[RunKey, ResolvedRun] = field(default_factory=dict, repr=False)
    # run -> the chosen studies that may train it, and evaluation job -> the chosen studies' requests for it: built
    # once, since Snakemake asks for every job's resources (a scan of every study per job cost 20 s on the paper)
    _owners: dict[RunKey, list[Study]] = field(default_factory=dict, repr=False)
    _evaluation_requests: dict[tuple[str, str, RunKey], list[dict[str, int]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.runs = list(dict.fromkeys(r for s in self.studies for r in s.runs()))
        self.evaluation_jobs = list(dict.fromkeys(j for s in self.studies for j in s.evaluation_jobs()))
        for study in self.studies:
            for key in dict.fromkeys(study.potential_runs()):
                self._owners.setdefault(key, []).append(study)
            for evaluation in study.evaluations:
                for key in dict.fromkeys(study.runs()):
                    place = (evaluation.kind, evaluation.recipe, key)
                    self._evaluation_requests.setdefault(place, []).append(evaluation.resources)

    def jobs_of(self, kind: str) -> list[EvalKey]:
        """The evaluation jobs of one kind (``fgsm`` or ``detection``)."""
        return [j for j in self.evaluation_jobs if j.kind == kind]

    def evaluation_recipe(self, kind: str, name: str) -> dict[str, Any]:
        """The values of one evaluation recipe (with its ``name``); depends on the recipe's name alone."""
        return dict(self.evaluations[kind][name])

    def evaluation_resources(self, job: EvalKey) -> dict[str, int]:
        """What an evaluation job asks for: the largest request of the chosen studies that need it."""
        requests = self._evaluation_requests.get((job.kind, job.recipe, job.run), [])
        if not requests:
            raise KeyError(f"{job.kind} job {job.recipe} of {job.run.label()} is not in any chosen study")
        return {k: max(r[k] for r in requests) for k in requests[0]}

    def resolved_run(self, key: RunKey) -> ResolvedRun:
        """The resolved run of one key, typed (:class:`augrepro.resolved.ResolvedRun`; built once per key: it depends
        on the run's key alone)."""
        if key not in self._resolved:
            self._resolved[key] = resolve(key, self.protocols, self.aliases)
        return self._resolved[key]

    def resolved(self, key: RunKey) -> dict[str, Any]:
        """The resolved run of one key as the train rule's params (:meth:`ResolvedRun.to_params`: a fresh mapping)."""
        return self.resolved_run(key).to_params()

    def studies_of(self, key: RunKey) -> list[Study]:
        """The chosen studies that may train ``key`` (adaptive studies: any seed up to their ``max``)."""
        return list(self._owners.get(key, []))

    @property
    def adaptive_studies(self) -> list[Study]:
        """The chosen studies with adaptive seeds: their runs beyond the first look come from their looks."""
        return [s for s in self.studies if s.adaptive]

    def study(self, name: str) -> Study:
        return next(s for s in self.studies if s.name == name)

    def resources(self, key: RunKey) -> dict[str, int]:
        """What the run's job asks for: the largest request of the studies that need it."""
        studies = self.studies_of(key)
        if not studies:
            raise KeyError(f"run {key.label()} is not in any chosen study")
        return {k: max(s.resources[k] for s in studies) for k in studies[0].resources}

    def wildcard_values(self) -> dict[str, list[str]]:
        """Every value each train-rule wildcard takes (for wildcard_constraints)."""
        out: dict[str, list[str]] = {k: [] for k in ("protocol", "dataset", "model", "augmentation")}
        for key in self.runs:
            for name in out:
                value = key.wildcards()[name]
                if value not in out[name]:
                    out[name].append(value)
        # the evaluation rules' recipe wildcards (a name that matches nothing when no study evaluates)
        for kind, wildcard in (("fgsm", "fgsm_recipe"), ("detection", "det_recipe")):
            out[wildcard] = list(dict.fromkeys(j.recipe for j in self.jobs_of(kind))) or ["__none__"]
        return out

    def method_of(self, augmentation: str) -> tuple[str, dict[str, Any]]:
        """The registered method behind an augmentation name and the parameters the studies give it."""
        return method_of(self.aliases, augmentation)

    def grid_entry(self, key: RunKey) -> dict[str, Any]:
        """A run's identity, epochs, folder and training log (what the partial report scans)."""
        run = self.resolved_run(key)
        return {
            "protocol": key.protocol,
            "dataset": key.dataset,
            "traditional": key.traditional,
            "model": key.model,
            "augmentation": key.augmentation,
            "method": run.method,
            "variant": run.variant,
            "seed": key.seed,
            "epochs": run.protocol.epochs,
            "run_dir": key.run_dir,
            "log": key.log,
        }

    def describe(self) -> dict[str, Any]:
        """The studies as the report shows them: the chosen ones, those skipped with why, and the others."""
        chosen = {s.name for s in self.studies}

        def entry(study: Study, status: str, reason: str = "") -> dict[str, Any]:
            fixed: dict[tuple, int] = {}
            for grid in study.fixed_grids or (() if study.adaptive else study.grids):
                for key in grid.runs([0]):
                    cell = key.cell
                    fixed[cell] = max(fixed.get(cell, 0), len(grid.seeds))
            return {
                "name": study.name,
                "title": study.title,
                "source": study.source,
                "published": list(study.published),
                "protocols": {p: self.protocols[p].get("title", p) for p in study.protocols},
                "reported": {p: resolve_protocol(self.protocols, p).get("reported", "best") for p in study.protocols},
                "not_runnable": dict(study.not_runnable),
                "notes": study.notes,
                "margin": [dict(rule) for rule in study.margin],
                "adaptive": dict(study.adaptive) if study.adaptive else None,
                # each augmentation name of the grid -> the registered method it runs (an alias's method)
                "methods": {a: self.method_of(a)[0] for g in study.grids for a in g.augmentations},
                "published_side": study.published_side.describe(),
                "layout": dict(study.layout),
                "claims": [dict(c) for c in study.claims],
                "runs": len(study.runs()),
                # (protocol, dataset key, model, augmentation) of every grid cell: what the report's section shows
                "grid": [list(c) for c in dict.fromkeys(k.cell for k in study.runs())],
                # the seed count of each grid cell in the study file (its seed lists'; None: adaptive in its file)
                "grid_seeds": [fixed.get(tuple(c)) for c in dict.fromkeys(k.cell for k in study.runs())],
                "status": status,
                "reason": reason,
            }

        out = [entry(s, "chosen", self.partial.get(s.name, "")) for s in self.studies]
        out += [entry(self.all_studies[n], "skipped", r) for n, r in self.skipped.items()]
        out += [
            entry(s, "not chosen", "not in the config's 'studies'")
            for n, s in self.all_studies.items()
            if n not in chosen and n not in self.skipped
        ]
        return {"studies": out}

    def dataset_names(self) -> list[str]:
        return list(dict.fromkeys(k.dataset for k in self.runs))

    def augmentations(self) -> list[str]:
        return list(dict.fromkeys(k.augmentation for k in self.runs))


# Files and folders the config names (config keys), by default in the repository.
CONFIG_PATHS = {
    "protocols": "config/protocols.yaml",
    "evaluations": "config/evaluations.yaml",
    "studies_dir": "config/studies",
    "published": "resources/published",
}


def config_paths(config: dict[str, Any], root: str | Path, workdir: str | Path | None = None) -> dict[str, Path]:
    """Where each of :data:`CONFIG_PATHS` is: an absolute path as given; a relative one in the working directory
    when it exists there (a deployed workflow's own config/, or .test/), else in the repository ``root``."""
    out = {}
    for key, default in CONFIG_PATHS.items():
        path = Path(config.get(key) or default)
        if not path.is_absolute():
            here = Path(workdir) / path if workdir is not None else None
            path = here if here is not None and here.exists() else Path(root) / path
        out[key] = path
    return out


def select_from_config(config: dict[str, Any], root: str | Path = ".", workdir: str | Path | None = None) -> Selection:
    """Load, check and select. ``root``: the repository (its config/ and resources/); ``workdir``: where the
    workflow runs, and results/ lives (default: ``root``); config paths: :func:`config_paths`. Given a ``workdir``
    (the workflow's), the methods' builds that passed are remembered in its ``.snakemake/augrepro/``
    (:mod:`augrepro.studies.builds`)."""
    root = Path(root)
    build_cache = None if workdir is None else Path(workdir) / BUILD_CACHE
    workdir = root if workdir is None else Path(workdir)
    paths = config_paths(config, root, workdir)
    protocols = load_protocols(paths["protocols"])
    evaluations = load_evaluations(paths["evaluations"])
    all_studies = load_studies(paths["studies_dir"])
    aliases = validate_studies(all_studies, protocols, paths["published"], evaluations, build_cache)
    check_checksums((config.get("data") or {}).get("checksums"))
    chosen = select(all_studies, config.get("studies", ["demo"]))
    adaptive = {**ADAPTIVE_DEFAULTS, **(config.get("adaptive") or {})}
    enabled = adaptive.pop("enabled", False)
    spec = parse_adaptive(adaptive, "config key adaptive")
    if enabled:  # every chosen study with a seed list gets adaptive seeds (but those whose verdicts need evaluations)
        chosen = [s if s.adaptive or s.evaluations else s.with_adaptive(spec) for s in chosen]
    runnable, skipped, partial = [], {}, {}
    for study in chosen:
        missing = {d: r for d in study.needed_datasets if (r := unavailable_reason(d, config.get("data"), workdir))}
        if not missing:
            runnable.append(study)
        elif set(missing) >= set(study.dataset_names) or not set(missing) <= set(study.dataset_names):
            skipped[study.name] = next(iter(missing.values()))  # no grid dataset left, or an evaluation's is missing
        else:  # the rest of the grid runs (SnapMix's CUB and Aircraft without Stanford Cars)
            runnable.append(study.without_datasets(missing))
            partial[study.name] = "; ".join(f"without {d}: {r}" for d, r in missing.items())
    if not runnable:
        raise ConfigError(
            "no chosen study can run here: " + "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        )
    return Selection(
        runnable,
        skipped,
        all_studies,
        protocols,
        aliases,
        workdir,
        evaluations,
        partial=partial,
        published_dir=paths["published"],
        adaptive_design=spec,
    )
