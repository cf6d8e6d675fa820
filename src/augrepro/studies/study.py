"""Studies: one published table or figure each (``config/studies/<name>.yaml``), expanded into runs.

A study names its published CSVs, a protocol, the grid that answers the table (datasets x models x
augmentations x seeds; a table whose rows follow two recipes, such as SalfMix Table 5's 300- and
1200-epoch rows, has one grid per recipe), the method aliases it needs, the resources of its jobs, and
the cells of its table that cannot be run, with the reason. The grid of a workflow is the union of the
chosen studies' runs: a run that two studies need is one job and one folder.

A study file's shape is its JSON schema's (workflow/schemas/study.schema.yaml); its names are checked against
the protocols, the registries and the published folder by :mod:`augrepro.studies.checks`. Every check runs
before any job starts, and each message names the file, the key and the valid values.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augrepro import schemas
from augrepro.data.datasets import get_spec
from augrepro.resolved import Protocol, ResolvedRun
from augrepro.results.assumptions import AssumptionError, Assumptions
from augrepro.results.claims import ClaimError, check_claim
from augrepro.results.margins import MarginError, check_rules
from augrepro.results.metrics import METRICS
from augrepro.results.sequential import SequentialDesign
from augrepro.runs import EvalKey, RunKey, parse_dataset_key
from augrepro.studies.protocols import ConfigError, protocol_values

# The report's table layouts (augrepro.report.tables): what its columns are (the study schema's layout enum).
LAYOUTS = ("datasets", "models")
GRID_KEYS = ("protocol", "datasets", "models", "augmentations", "seeds")

# What a training job and an evaluation job ask of the scheduler unless the study says otherwise: the study
# schema's defaults (workflow/schemas/study.schema.yaml, resources and evaluate.<kind>.resources).
RESOURCE_DEFAULTS = schemas.defaults("study", "resources")
EVALUATION_KINDS = ("fgsm", "detection")


def _evaluation_entry(kind: str) -> dict[str, Any]:
    """The study schema's ``evaluate.<kind>`` in its mapping form ({recipe, ...})."""
    return schemas.subschema("study", "evaluate", kind)["oneOf"][1]


EVALUATION_RESOURCES = {
    kind: _evaluation_entry(kind)["properties"]["resources"]["default"] for kind in EVALUATION_KINDS
}
DETECTION_SEEDS = tuple(_evaluation_entry("detection")["properties"]["seeds"]["default"])


@dataclass(frozen=True)
class Evaluation:
    """An evaluation a study asks of every run of its grid: FGSM or detection transfer, with its recipe
    (config/evaluations.yaml), detection seeds, and the resources of its jobs."""

    kind: str
    recipe: str
    seeds: tuple[int, ...] = ()
    resources: dict[str, int] = field(default_factory=dict)

    def jobs(self, runs: list[RunKey]) -> list[EvalKey]:
        if self.kind == "fgsm":
            return [EvalKey("fgsm", self.recipe, r) for r in runs]
        return [EvalKey("detection", self.recipe, r, s) for r in runs for s in self.seeds]


@dataclass(frozen=True)
class Grid:
    protocol: str
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    augmentations: tuple[str, ...]
    seeds: tuple[int, ...]

    def runs(self, seeds: Iterable[int] | None = None) -> list[RunKey]:
        return [
            RunKey(self.protocol, d, m, a, s)
            for d in self.datasets
            for m in self.models
            for a in self.augmentations
            for s in (self.seeds if seeds is None else seeds)
        ]


ADAPTIVE_KEYS = ("start", "step", "max", "boundary", "futility")
ADAPTIVE_STEP = schemas.subschema("study", "seeds")["oneOf"][1]["properties"]["step"]["default"]


def parse_adaptive(raw: Any, where: str) -> dict[str, Any]:
    """Adaptive seeds, ``{start, step, max, boundary, futility}`` (step default 1, boundary obrien_fleming, futility
    0.1), checked by building the design."""
    if not isinstance(raw, dict) or "start" not in raw or "max" not in raw or set(raw) - set(ADAPTIVE_KEYS):
        raise ConfigError(
            f"{where}: adaptive seeds are {{start, max}} and optionally step, boundary, futility (got {raw!r}); e.g. "
            "seeds: {start: 3, step: 2, max: 9}"
        )
    spec = {"step": ADAPTIVE_STEP, **raw}
    try:
        SequentialDesign(**spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return spec


@dataclass(frozen=True)
class Study:
    name: str
    path: str
    title: str
    source: str
    published: tuple[str, ...]
    grids: tuple[Grid, ...]
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=lambda: dict(RESOURCE_DEFAULTS))
    not_runnable: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    margin: tuple[dict[str, Any], ...] = ()  # the margin rules (augrepro.results.margins)
    adaptive: dict[str, Any] | None = (
        None  # adaptive seeds (augrepro.results.sequential); the grids hold the first look
    )
    fixed_grids: tuple[Grid, ...] = ()  # made adaptive by the config: its grids with the study file's seed lists
    published_side: Assumptions = field(default_factory=Assumptions)
    layout: dict[str, str] = field(default_factory=dict)  # published file -> one of LAYOUTS (default: datasets)
    claims: tuple[dict[str, Any], ...] = ()
    evaluations: tuple[Evaluation, ...] = ()

    def runs(self) -> list[RunKey]:
        """The study's runs, each once, in grid order (with adaptive seeds: the first look's)."""
        return list(dict.fromkeys(r for g in self.grids for r in g.runs()))

    def potential_runs(self) -> list[RunKey]:
        """Every run the study may train: its runs, and with adaptive seeds every seed up to ``max``."""
        if not self.adaptive:
            return self.runs()
        return list(dict.fromkeys(r for g in self.grids for r in g.runs(range(self.adaptive["max"]))))

    def with_adaptive(self, spec: dict[str, Any]) -> Study:
        """The study with adaptive seeds (``config.adaptive``): its grids start at seed 0 with ``start`` seeds."""
        first = tuple(range(spec["start"]))
        return dataclasses.replace(
            self,
            adaptive=dict(spec),
            grids=tuple(dataclasses.replace(g, seeds=first) for g in self.grids),
            fixed_grids=self.grids,
        )

    def fixed_runs(self) -> list[RunKey]:
        """The runs of the study's seed lists (its file's), None-like empty for a study adaptive in its file."""
        if not self.adaptive:
            return self.runs()
        return list(dict.fromkeys(r for g in self.fixed_grids for r in g.runs()))

    def evaluation_jobs(self) -> list[EvalKey]:
        """Every evaluation job of the study (its runs x its evaluations, x the detection seeds)."""
        runs = self.runs()
        return [job for e in self.evaluations for job in e.jobs(runs)]

    @property
    def needed_datasets(self) -> list[str]:
        """The datasets of the grid, and Pascal VOC where the study fine-tunes detectors."""
        extra = ["voc"] if any(e.kind == "detection" for e in self.evaluations) else []
        return list(dict.fromkeys(self.dataset_names + extra))

    @property
    def protocols(self) -> list[str]:
        return list(dict.fromkeys(g.protocol for g in self.grids))

    @property
    def dataset_names(self) -> list[str]:
        return list(dict.fromkeys(parse_dataset_key(d)[0] for g in self.grids for d in g.datasets))

    def without_datasets(self, reasons: dict[str, str]) -> Study:
        """The study with the grids' cells of these datasets (name -> why they cannot be used here) left out:
        their published cells become not runnable, with the reason. Grids left empty are dropped."""
        grids = []
        for grid in self.grids:
            kept = tuple(d for d in grid.datasets if parse_dataset_key(d)[0] not in reasons)
            if kept:
                grids.append(dataclasses.replace(grid, datasets=kept))
        return dataclasses.replace(self, grids=tuple(grids), not_runnable={**self.not_runnable, **reasons})


def parse_evaluations(raw: dict[str, Any] | None) -> tuple[Evaluation, ...]:
    """The study's ``evaluate:`` (its shape checked by the study schema): ``fgsm: <recipe>`` (or ``{recipe,
    resources}``) and/or ``detection: {recipe, seeds, resources}`` (or ``<recipe>``), with the schema's defaults."""
    out = []
    for kind, entry in (raw or {}).items():
        entry = {"recipe": entry} if isinstance(entry, str) else entry
        seeds = tuple(entry.get("seeds") or (DETECTION_SEEDS if kind == "detection" else ()))
        resources = {**EVALUATION_RESOURCES[kind], **(entry.get("resources") or {})}
        out.append(Evaluation(kind, entry["recipe"], seeds, resources))
    return tuple(out)


def parse_study(name: str, raw: Any, path: str | Path) -> Study:
    """A study from its YAML mapping, validated by the study schema (workflow/schemas/study.schema.yaml); what the
    schema cannot say (grids inherit the study's protocol and seeds; a layout names a published file) is checked
    here, and names by :func:`augrepro.studies.checks.validate_studies`, which needs the registries and protocols."""
    where = f"{path}"
    schemas.validate(raw, "study", where)
    adaptive = parse_adaptive(raw["seeds"], f"{where}: seeds") if isinstance(raw.get("seeds"), dict) else None
    grids = _parse_grids(raw, where, adaptive)
    published = tuple(raw.get("published") or ())
    layout = _check_layout(raw.get("layout"), published, where)
    try:
        margin = check_rules(raw.get("margin"), where)
        published_side = Assumptions.parse(raw.get("published_side"), where, tuple(METRICS))
        claims = [check_claim(c, f"{where}, claim {i + 1}") for i, c in enumerate(raw.get("claims") or [])]
    except (MarginError, AssumptionError, ClaimError) as exc:
        raise ConfigError(str(exc)) from None
    study = Study(
        name=name,
        path=str(path),
        title=raw["title"].strip(),
        source=raw["source"].strip(),
        published=published,
        grids=tuple(grids),
        methods={k: dict(v or {}) for k, v in (raw.get("methods") or {}).items()},
        resources={**RESOURCE_DEFAULTS, **(raw.get("resources") or {})},
        not_runnable=dict(raw.get("not_runnable") or {}),
        notes=str(raw.get("notes") or "").strip(),
        margin=margin,
        adaptive=adaptive,
        published_side=published_side,
        layout=layout,
        claims=tuple(claims),
        evaluations=parse_evaluations(raw.get("evaluate")),
    )
    if adaptive and study.evaluations:
        raise ConfigError(
            f"{where}: adaptive seeds decide each look from the runs themselves, but this study's verdicts need "
            "evaluations of the runs (evaluate:); give it a seed list"
        )
    return study


def _parse_grids(raw: dict[str, Any], where: str, adaptive: dict[str, Any] | None) -> list[Grid]:
    """A study's grids: its ``grids:`` list, after the top-level grid when the study gives one (or that alone)."""
    top_seeds = tuple(range(adaptive["start"])) if adaptive else tuple(raw.get("seeds") or ())
    top = [{k: raw[k] for k in GRID_KEYS if k != "seeds" and raw.get(k) is not None}]
    grids_raw = raw.get("grids")
    if grids_raw is None:
        grids_raw = top
    elif any(raw.get(k) is not None for k in ("datasets", "models", "augmentations")):
        grids_raw = top + grids_raw  # the top-level grid first, then the further ones
    return [
        _parse_grid(grid_raw, f"{where}, grid {i + 1}" if len(grids_raw) > 1 else where, raw, adaptive, top_seeds)
        for i, grid_raw in enumerate(grids_raw)
    ]


def _parse_grid(
    grid: dict[str, Any], grid_where: str, raw: dict[str, Any], adaptive: dict[str, Any] | None, top_seeds: tuple
) -> Grid:
    """One grid (its keys' shapes checked by the schema); its protocol and seeds default to the study's."""
    protocol = grid.get("protocol") or raw.get("protocol")
    if not protocol:
        raise ConfigError(f"{grid_where}: 'protocol' is required: {_description('protocol')}")
    if adaptive and grid.get("seeds") is not None:
        raise ConfigError(f"{grid_where}: a study with adaptive seeds gives no seeds per grid")
    seeds = tuple(grid.get("seeds") or top_seeds)
    if not seeds:
        raise ConfigError(f"{grid_where}: no seeds; set 'seeds: [0, 1, 2, 3, 4]' (a study without seeds runs nothing)")
    for key in ("datasets", "models", "augmentations"):
        if not grid.get(key):  # the top-level grid of a study with further grids may lack one
            raise ConfigError(f"{grid_where}: '{key}' is required: {_description(key)}")
    return Grid(protocol, tuple(grid["datasets"]), tuple(grid["models"]), tuple(grid["augmentations"]), seeds)


def _description(key: str) -> str:
    """A study key's description in the study schema, on one line."""
    return " ".join(schemas.subschema("study", key)["description"].split())


def _check_layout(layout: str | dict[str, str] | None, published: tuple[str, ...], where: str) -> dict[str, str]:
    """``layout:`` as published file -> layout (a single layout applies to every published file); each file named
    is one of the study's published files."""
    if layout is None:
        return {}
    if isinstance(layout, str):
        layout = {file: layout for file in published}
    for file in layout:
        if file not in published:
            raise ConfigError(
                f"{where}: 'layout' names {file!r}, not one of the study's published files "
                f"({', '.join(published) or 'none'})"
            )
    return dict(layout)


def load_studies(studies_dir: str | Path) -> dict[str, Study]:
    """Every ``<name>.yaml`` in ``studies_dir``, by name."""
    studies_dir = Path(studies_dir)
    if not studies_dir.is_dir():
        raise ConfigError(f"config key 'studies_dir': {studies_dir} is not a folder of study files")
    studies = {}
    for path in sorted(studies_dir.glob("*.yaml")):
        studies[path.stem] = parse_study(path.stem, schemas.read_yaml(path), path)
    if not studies:
        raise ConfigError(f"{studies_dir}: no study files (<name>.yaml)")
    return studies


def select(studies: dict[str, Study], chosen: str | Iterable[str]) -> list[Study]:
    """The studies named by the config's ``studies`` (a list of names, or ``all``)."""
    if chosen == "all":
        return [s for name, s in studies.items() if name != "demo"]
    if isinstance(chosen, str):
        chosen = [chosen]
    chosen = list(chosen)
    if not chosen:
        raise ConfigError("config key 'studies' is empty; name at least one study, e.g. studies: [demo]")
    unknown = [c for c in chosen if c not in studies]
    if unknown:
        raise ConfigError(
            f"config key 'studies': unknown study {unknown[0]!r}; valid studies: {', '.join(sorted(studies))} "
            "(or 'all'; one file per study in the studies folder)"
        )
    return [studies[c] for c in dict.fromkeys(chosen)]


# --- what an augmentation name means: aliases, their parameters, and the checks -------------------------


def alias_table(studies: Iterable[Study]) -> dict[str, tuple[dict[str, Any], str]]:
    """Every augmentation name that a study gives parameters: name -> (entry, study file). Two studies that
    give one name different parameters are refused: the name is one folder of results."""
    table: dict[str, tuple[dict[str, Any], str]] = {}
    for study in studies:
        for name, entry in study.methods.items():
            if name in table and table[name][0] != entry:
                raise ConfigError(
                    f"{study.path}: methods.{name} is {entry}, but {table[name][1]} gives it {table[name][0]}; "
                    "one augmentation name is one folder of results: use the same parameters, or another alias name"
                )
            table.setdefault(name, (entry, study.path))
    return table


def method_of(aliases: dict[str, tuple[dict[str, Any], str]], augmentation: str) -> tuple[str, dict[str, Any]]:
    """The registered method behind an augmentation name and the parameters the studies give it."""
    entry = copy.deepcopy(aliases.get(augmentation, ({}, ""))[0])
    method = entry.pop("method", augmentation)
    return method, entry


def method_params(protocol: dict[str, Any], method: str, alias_params: dict[str, Any]) -> dict[str, Any]:
    """A run's method parameters: the protocol's defaults for the method (its source's), then the alias's."""
    return {**copy.deepcopy((protocol.get("methods") or {}).get(method) or {}), **copy.deepcopy(alias_params)}


def architecture(protocol: dict[str, Any], spec) -> str:
    """The model family's input stem: ImageNet-style (7x7 stem, max-pool; torchvision) or CIFAR-style."""
    return protocol.get("architecture") or ("imagenet" if spec.kind == "files" else "cifar")


def resolve(
    key: RunKey,
    protocols: dict[str, dict[str, Any]],
    aliases: dict[str, tuple[dict[str, Any], str]],
) -> ResolvedRun:
    """Everything one training run depends on, and nothing else: its key, its method and parameters, and its
    protocol's values on its dataset (its report title and method defaults aside). Execution-only settings are not
    here."""
    values = protocol_values(protocols, key.protocol, key.dataset)
    method, alias_params = method_of(aliases, key.augmentation)
    values["architecture"] = architecture(values, get_spec(key.dataset))
    return ResolvedRun(key, method, method_params(values, method, alias_params), Protocol.of_values(values))


def resolve_run(
    key: RunKey,
    protocols: dict[str, dict[str, Any]],
    aliases: dict[str, tuple[dict[str, Any], str]],
) -> dict[str, Any]:
    """The resolved run (:func:`resolve`) as the train rule's params: its identity, ``method_params`` and
    ``recipe`` (:meth:`augrepro.resolved.ResolvedRun.to_params`)."""
    return resolve(key, protocols, aliases).to_params()
