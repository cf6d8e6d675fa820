"""The report's view model: what the page shows, as typed values that hold numbers, not text.

:func:`comparison_tables` turns a study's comparison (:func:`augrepro.results.compare.compare`) into paper-shaped
tables, laid out as the study's config says (``layout:``, :data:`augrepro.studies.study.LAYOUTS`): ``datasets``
(a row per model and method, a column per dataset and metric) or ``models`` (a row per method, a column per
model). Each cell holds the comparison's numbers (ours and published mean and std, n, diff, its interval, the
margin, the verdict); names are shown with the labels of their registries (a model's where it is registered,
a dataset's in its DatasetSpec, a metric's in :data:`augrepro.results.compare.METRICS`). Numbers become text only
in the template, through :mod:`augrepro.report.format`.

:func:`study_sections` builds one :class:`Section` per chosen study (its comparison, claims, runs without a
published cell and figures); nothing here reads or writes a file.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from augrepro.data.datasets import dataset_label
from augrepro.models.registry import model_label
from augrepro.report.figures import forest, hours_vs_published, learning_curves, ours_vs_published
from augrepro.results.claims import evaluate_claims
from augrepro.results.compare import COMPARE_COLUMNS, METRICS, REPORTED_LABELS, VERDICTS, compare, to_bool, unmatched
from augrepro.runs import dataset_key

# Verdicts of a cell without a test: the page says why instead of showing numbers.
UNTESTED = ("missing", "failed", "not runnable")
DEFAULT_LAYOUT = "datasets"
NAN = math.nan


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def _int_or_none(value) -> int | None:
    number = _num(value)
    return None if math.isnan(number) else int(number)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Estimate:
    """A mean and its sample std over runs (NaN: not known)."""

    mean: float
    std: float = NAN


@dataclass(frozen=True)
class Entry:
    """One comparison row (a published cell and one matching row of ours) with its numbers."""

    verdict: str
    metric: str
    compared: str  # what of ours is compared, as the page names it ("final epoch")
    published: Estimate
    published_as_constant: bool  # no std or no number of runs printed: taken as exact
    published_epochs: int | None
    ours: Estimate  # NaN when not run
    n: int
    n_failed: int
    ours_epochs: int | None
    ours_final: float  # top-1 only: the final epoch's error and the median of the last 10 epochs'
    ours_median10: float
    diff: float  # ours - published
    interval: tuple[float, float] | None  # the 90 % interval of diff
    delta: float  # the equivalence margin
    seeds_to_decide: int | None  # inconclusive: seeds that would decide it at the observed spread
    reason: str
    note: str  # not runnable: why
    variant: str
    numerics: str
    run_as: str  # our augmentation's name where it is not the published one (an alias)

    @property
    def tested(self) -> bool:
        return self.verdict not in UNTESTED

    @property
    def more_seeds(self) -> int | None:
        """Seeds beyond ours that would decide an inconclusive cell (None: no number of seeds does)."""
        return None if self.seeds_to_decide is None else self.seeds_to_decide - self.n

    @property
    def epochs_differ(self) -> bool:
        return None not in (self.ours_epochs, self.published_epochs) and self.ours_epochs != self.published_epochs

    @classmethod
    def of(cls, r: dict, method: str) -> Entry:
        """``r``: a row of the comparison; ``method``: its row's published method name."""
        low, high = _num(r["ci_low"]), _num(r["ci_high"])
        return cls(
            verdict=r["verdict"],
            metric=r["metric"],
            compared=REPORTED_LABELS.get(r["reported"], r["reported"]),
            published=Estimate(_num(r["published_mean"]), _num(r["published_std"])),
            published_as_constant=bool(r.get("published_as_constant")),
            published_epochs=_int_or_none(r["published_epochs"]),
            ours=Estimate(_num(r["ours_mean"]), _num(r["ours_std"])),
            n=_int_or_none(r["n"]) or 0,
            n_failed=_int_or_none(r["n_failed"]) or 0,
            ours_epochs=_int_or_none(r["ours_epochs"]),
            ours_final=_num(r["ours_final_mean"]),
            ours_median10=_num(r["ours_median10_mean"]),
            diff=_num(r["diff"]),
            interval=None if math.isnan(low) else (low, high),
            delta=_num(r["delta"]),
            seeds_to_decide=_int_or_none(r["seeds_to_decide"]),
            reason=_text(r.get("reason")),
            note=_text(r["note"]),
            variant=_text(r["variant"]),
            numerics=_text(r.get("numerics")),
            run_as=r["our_augmentation"]
            if isinstance(r["our_augmentation"], str) and r["our_augmentation"] != method
            else "",
        )


@dataclass(frozen=True)
class Cell:
    """A cell of a table: one entry per matching row of ours (two variants of a method run side by side)."""

    entries: tuple[Entry, ...]

    @property
    def verdict(self) -> str:
        """The entries' verdict, or "mixed"."""
        verdicts = {e.verdict for e in self.entries}
        return verdicts.pop() if len(verdicts) == 1 else "mixed"


@dataclass(frozen=True)
class Row:
    model: str  # the model's label; "" in the models layout (the columns are the models)
    method: str  # the published method name
    epochs: int | None  # the published epochs, shown when the table has several
    cells: tuple[Cell | None, ...]  # one per column; None: the paper has no such cell


@dataclass(frozen=True)
class Table:
    """One published table (a source) beside ours, laid out as the paper prints it."""

    source: str
    layout: str  # one of augrepro.studies.study.LAYOUTS
    metrics: tuple[str, ...]  # the metrics' labels ("top-1 error (%)")
    epochs: tuple[int, ...]  # the published runs' epochs (sorted; empty: not stated)
    heading: str  # the models layout: the dataset and metric above the method column
    columns: tuple[str, ...]  # the columns' labels
    rows: tuple[Row, ...]
    notes: tuple[str, ...]


def _column_key(r: dict, layout: str) -> tuple:
    data = (r["dataset"], bool(r["traditional"]), r["metric"])
    return (r["model"], *data) if layout == "models" else data


def _row_key(r: dict, layout: str) -> tuple:
    method = (r["augmentation"], _int_or_none(r["published_epochs"]))
    return method if layout == "models" else (r["model"], *method)


def _data_label(dataset: str, traditional: bool, metric: str, with_metric: bool) -> str:
    label = dataset_label(dataset, traditional)
    return label + (f" {METRICS[metric].short if metric in METRICS else metric}" if with_metric else "")


def _metric_label(metric: str) -> str:
    return METRICS[metric].label if metric in METRICS else metric


def comparison_table(source: str, part: list[dict], layout: str = DEFAULT_LAYOUT) -> Table:
    """One source's rows of a comparison as a table in ``layout``."""
    if layout not in ("datasets", "models"):
        raise ValueError(f"unknown table layout {layout!r} for {source}; valid layouts: datasets, models")
    metrics = list(dict.fromkeys(r["metric"] for r in part))
    data_columns = list(dict.fromkeys((r["dataset"], bool(r["traditional"]), r["metric"]) for r in part))
    cells: dict[tuple, list[dict]] = {}
    for r in part:
        cells.setdefault((_row_key(r, layout), _column_key(r, layout)), []).append(r)
    columns = list(dict.fromkeys(_column_key(r, layout) for r in part))
    epochs = tuple(sorted({e for e in (_int_or_none(r["published_epochs"]) for r in part) if e is not None}))
    several_epochs = len({_int_or_none(r["published_epochs"]) for r in part}) > 1
    rows = []
    for key in dict.fromkeys(_row_key(r, layout) for r in part):
        method, row_epochs = key[-2], key[-1]
        row_cells = tuple(
            Cell(tuple(Entry.of(r, method) for r in cells[(key, column)])) if (key, column) in cells else None
            for column in columns
        )
        rows.append(
            Row(
                "" if layout == "models" else model_label(key[0]),
                method,
                row_epochs if several_epochs else None,
                row_cells,
            )
        )
    if layout == "models":
        one_data_column = len(data_columns) == 1
        heading = (
            f"{dataset_label(*data_columns[0][:2])}, {_metric_label(data_columns[0][2])}"
            if one_data_column
            else "Method"
        )
        labels = tuple(
            model_label(model) + ("" if one_data_column else f" {_data_label(d, t, m, len(metrics) > 1)}")
            for model, d, t, m in columns
        )
    else:
        heading = ""
        labels = tuple(_data_label(d, t, m, metrics != ["top1_error"]) for d, t, m in columns)
    return Table(
        source=source,
        layout=layout,
        metrics=tuple(_metric_label(m) for m in metrics),
        epochs=epochs,
        heading=heading,
        columns=labels,
        rows=tuple(rows),
        notes=tuple(dict.fromkeys(r["note"] for r in part if r["note"])),
    )


def comparison_tables(comparison: pd.DataFrame, layouts: dict[str, str] | None = None) -> list[Table]:
    """The comparison's tables, one per source in order of appearance; ``layouts``: source -> layout (default
    ``datasets``)."""
    by_source: dict[str, list[dict]] = {}
    for r in comparison.to_dict("records"):
        by_source.setdefault(r["source"], []).append(r)
    return [
        comparison_table(source, part, (layouts or {}).get(source, DEFAULT_LAYOUT))
        for source, part in by_source.items()
    ]


@dataclass(frozen=True)
class OwnRow:
    """A summary row of ours that matches no published cell."""

    dataset: str  # the dataset's label
    model: str
    augmentation: str
    method: str
    variant: str
    n: int
    epochs: int | None
    best: Estimate  # top-1 error
    final: Estimate
    median10: Estimate
    hours: float


def own_rows(extra: pd.DataFrame) -> list[OwnRow]:
    def estimate(r, column: str) -> Estimate:
        return Estimate(_num(r.get(f"{column}_mean")), _num(r.get(f"{column}_std")))

    return [
        OwnRow(
            dataset=dataset_label(r["dataset"], to_bool(r["traditional"])),
            model=r["model"],
            augmentation=r["augmentation"],
            method=r.get("method", r["augmentation"]),
            variant=_text(r.get("variant")),
            n=int(r["n"]),
            epochs=_int_or_none(r.get("epochs")),
            best=estimate(r, "best_top1_error"),
            final=estimate(r, "final_top1_error"),
            median10=estimate(r, "median_last10_top1_error"),
            hours=_num(r.get("hours_mean")),
        )
        for _, r in extra.iterrows()
    ]


@dataclass(frozen=True)
class FailedRun:
    dataset: str  # the dataset's label
    model: str
    augmentation: str
    seed: int
    reason: str


def failed_runs(status: pd.DataFrame | None) -> list[FailedRun]:
    """The runs that failed (status.csv of partial aggregation)."""
    if status is None or status.empty:
        return []
    failed = status[status["status"] == "failed"]
    return [
        FailedRun(
            dataset_label(r["dataset"], to_bool(r["traditional"])),
            r["model"],
            r["augmentation"],
            r["seed"],
            _text(r["reason"]),
        )
        for _, r in failed.iterrows()
    ]


@dataclass(frozen=True)
class ClaimCell:
    """A column of the study's table where a claim was tested (texts as augrepro.results.claims gives them)."""

    cell: str
    verdict: str
    reason: str
    published: str
    ours: str
    interval: str


@dataclass(frozen=True)
class Claim:
    claim: str
    source: str
    kind: str
    verdict: str
    cells: tuple[ClaimCell, ...]
    cells_total: int

    @classmethod
    def of(cls, result: dict) -> Claim:
        """One result of :func:`augrepro.results.claims.evaluate_claims`."""
        cells = tuple(
            ClaimCell(c["cell"], c["verdict"], c["reason"], c["published"], c["ours"], c["interval"])
            for c in result["cells"]
        )
        return cls(result["claim"], result["source"], result["kind"], result["verdict"], cells, result["cells_total"])


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    reported: str  # how its source summarizes a run: best, final, median_last10


@dataclass(frozen=True)
class NotRunnable:
    name: str
    reason: str


@dataclass(frozen=True)
class Section:
    """One chosen study: its claims, its tables, our runs without a published cell, its figures."""

    name: str
    title: str
    source: str
    notes: str
    protocols: tuple[Protocol, ...]
    runs: int  # of its grid
    done: int  # finished (rows of runs.csv)
    counts: tuple[int, ...]  # cells per verdict, in the order of augrepro.results.compare.VERDICTS
    claims: tuple[Claim, ...]
    claim_counts: dict[str, int]  # claims per verdict
    margin: dict  # the study's margin setting (its section states it)
    cells: int
    tables: tuple[Table, ...]
    not_runnable: tuple[NotRunnable, ...]  # not runnable names without a published cell that says so
    extra_rows: tuple[OwnRow, ...]
    forest: list[tuple[str, str]] = field(default_factory=list)  # figures: (title, PNG data URI)
    scatter: list[tuple[str, str]] = field(default_factory=list)
    hours: list[tuple[str, str]] = field(default_factory=list)
    curves: list[tuple[str, str]] = field(default_factory=list)


def grid_mask(frame: pd.DataFrame, grid: list) -> pd.Series:
    """Rows of ``frame`` (runs, summary, curves or status) that belong to a study's grid cells."""
    if frame.empty or "protocol" not in frame.columns:
        return pd.Series(False, index=frame.index, dtype=bool)
    cells = {(p, d, m, a) for p, d, m, a in grid}
    keys = zip(
        frame["protocol"].astype(str),
        [dataset_key(d, to_bool(t)) for d, t in zip(frame["dataset"], frame["traditional"])],
        frame["model"].astype(str),
        frame["augmentation"].astype(str),
    )
    return pd.Series([k in cells for k in keys], index=frame.index, dtype=bool)


def source_layouts(study: dict, cells: pd.DataFrame) -> dict[str, str]:
    """Source -> layout of a study's tables: its ``layout`` (published file -> layout) through the published cells'
    files."""
    layout = study.get("layout") or {}
    return {source: layout.get(file, DEFAULT_LAYOUT) for source, file in zip(cells["source"], cells["file"])}


def study_sections(
    studies: dict,
    published: pd.DataFrame,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    status: pd.DataFrame | None,
    published_curves: pd.DataFrame | None = None,
) -> tuple[list[Section], pd.DataFrame]:
    """One section per chosen study: its published cells against its own runs (its protocols only), the cells that
    cannot run, its runs without a published cell, its figures. ``studies``: ``Selection.describe()``. Returns the
    sections and the comparison of every chosen study (one frame)."""
    sections, comparisons = [], []
    for study in (s for s in studies.get("studies", []) if s["status"] == "chosen"):
        ours = summary[grid_mask(summary, study["grid"])]
        st = status[grid_mask(status, study["grid"])] if status is not None and len(status) else None
        cells = published[published["file"].isin(study["published"]) & published["protocol"].isin(study["protocols"])]
        comparison = compare(
            ours,
            cells,
            status=st,
            reported=study["reported"],
            not_runnable=study["not_runnable"],
            margin=study.get("margin"),
        )
        claims = evaluate_claims(
            study.get("claims", []), runs[grid_mask(runs, study["grid"])], cells, study["reported"], study["grid"]
        )
        comparison.insert(0, "study", study["name"])
        comparisons.append(comparison)
        covered = set(cells["augmentation"]) | set(cells["model"])
        verdicts = Counter(comparison["verdict"])
        sections.append(
            Section(
                name=study["name"],
                title=study["title"],
                source=study["source"],
                notes=study["notes"],
                protocols=tuple(
                    Protocol(p, t, study["reported"].get(p, "best")) for p, t in study["protocols"].items()
                ),
                runs=study["runs"],
                done=int(grid_mask(runs, study["grid"]).sum()),
                counts=tuple(verdicts.get(v, 0) for v in VERDICTS),
                claims=tuple(Claim.of(c) for c in claims),
                claim_counts=dict(Counter(c["verdict"] for c in claims)),
                margin=dict(study.get("margin") or {}),
                cells=len(comparison),
                tables=tuple(comparison_tables(comparison, source_layouts(study, cells))),
                not_runnable=tuple(NotRunnable(n, r) for n, r in study["not_runnable"].items() if n not in covered),
                extra_rows=tuple(own_rows(unmatched(ours, cells))),
                forest=forest(comparison),
                scatter=ours_vs_published(comparison),
                hours=hours_vs_published(comparison),
                curves=learning_curves(curves[grid_mask(curves, study["grid"])], published_curves)
                if not curves.empty
                else [],
            )
        )
    frame = (
        pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame(columns=["study", *COMPARE_COLUMNS])
    )
    return sections, frame


@dataclass(frozen=True)
class OtherStudy:
    """A study that did not run here: not chosen, or skipped (why)."""

    name: str
    title: str
    runs: int
    status: str
    reason: str


def other_studies(studies: dict) -> list[OtherStudy]:
    return [
        OtherStudy(s["name"], s["title"], s["runs"], s["status"], s["reason"])
        for s in studies.get("studies", [])
        if s["status"] != "chosen"
    ]


@dataclass(frozen=True)
class GalleryItem:
    title: str
    uri: str  # a PNG data URI


@dataclass(frozen=True)
class Page:
    """The whole report."""

    title: str
    verdict_rule: str
    verdicts: tuple[str, ...]
    sections: tuple[Section, ...]
    others: tuple[OtherStudy, ...]
    failed_runs: tuple[FailedRun, ...]
    gallery: tuple[GalleryItem, ...]
    provenance: tuple[tuple[str, str], ...]
