"""The report's view model: what the page shows, as typed values that hold numbers, not text.

:func:`comparison_tables` turns a study's verdict table (``results/verdicts/{study}.csv``, written by
:mod:`augrepro.results.verdicts`; the report computes no statistic itself) into paper-shaped
tables, laid out as the study's config says (``layout:``, :data:`augrepro.studies.study.LAYOUTS`): ``datasets``
(a row per model and method, a column per dataset and metric) or ``models`` (a row per method, a column per
model). Each cell holds the comparison's numbers (ours and published mean and std, n, diff, its interval, the
margin, the verdict, the seeds that would decide it); names are shown with the labels of their registries (a model's where it is registered,
a dataset's in its DatasetSpec, a metric's in :data:`augrepro.results.metrics.METRICS`). Numbers become text only
in the template, through :mod:`augrepro.report.format`.

:func:`study_sections` builds one :class:`Section` per chosen study (its verdicts, claims, runs without a
published cell and figures); nothing here reads or writes a file.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from augrepro.data.datasets import dataset_label
from augrepro.models.registry import model_label
from augrepro.report.figures import forest, hours_vs_published, learning_curves, ours_vs_published
from augrepro.results.cells import unmatched
from augrepro.results.compare import VERDICTS
from augrepro.results.metrics import METRICS, REPORTED_LABELS
from augrepro.results.published import to_bool
from augrepro.results.scope import grid_mask, study_cells
from augrepro.results.verdicts import Verdicts

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


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Estimate:
    """A mean and its sample std over runs (NaN: not known)."""

    mean: float
    std: float = NAN


@dataclass(frozen=True)
class Entry:
    """One verdict row (a published cell and one matching row of ours) with its numbers."""

    verdict: str
    verdict_unadjusted: str  # before the table's adjustment
    metric: str
    compared: str  # what of ours is compared, as the page names it ("final epoch")
    published: Estimate
    published_side: str  # sample, draws, exact ("" untested)
    published_runs: int | None  # runs behind the published mean: printed or assumed
    published_runs_assumed: bool
    published_epochs: int | None
    ours: Estimate  # NaN when not run
    n: int
    n_failed: int
    ours_epochs: int | None
    ours_final: float  # top-1 only: the final epoch's error and the median of the last 10 epochs'
    ours_median10: float
    diff: float  # ours - published
    interval: tuple[float, float] | None  # the 90 % interval of diff
    margin: float  # the equivalence margin
    margin_in_sd: float  # in units of the column's run-to-run std
    margin_reason: str
    more_seeds: int | None  # inconclusive: seeds beyond ours that would decide it with 80 % power
    power: str  # how that number was found, or why there is none
    sensitivity: str  # the verdict under other plausible published run counts
    looks: int | None  # adaptive seeds: the looks the cell took, why it stopped, each look's nominal level
    stop: str
    look_levels: str
    reason: str
    note: str  # not runnable: why
    variant: str
    numerics: str
    run_as: str  # our augmentation's name where it is not the published one (an alias)

    @property
    def tested(self) -> bool:
        return self.verdict not in UNTESTED

    @property
    def demoted(self) -> bool:
        """Decided before the table's adjustment, inconclusive after it."""
        return self.verdict == "inconclusive" and self.verdict_unadjusted not in ("", "inconclusive")

    @property
    def epochs_differ(self) -> bool:
        return None not in (self.ours_epochs, self.published_epochs) and self.ours_epochs != self.published_epochs

    @classmethod
    def of(cls, r: dict, method: str) -> Entry:
        """``r``: a row of the verdict table; ``method``: its row's published method name."""
        low, high = _num(r["ci_low"]), _num(r["ci_high"])
        return cls(
            verdict=r["verdict"],
            verdict_unadjusted=_text(r.get("verdict_unadjusted")),
            metric=r["metric"],
            compared=REPORTED_LABELS.get(r["reported"], r["reported"]),
            published=Estimate(_num(r["published_mean"]), _num(r["published_std"])),
            published_side=_text(r.get("published_side")),
            published_runs=_int_or_none(r.get("published_runs_used")),
            published_runs_assumed=_flag(r.get("published_runs_assumed")),
            published_epochs=_int_or_none(r["published_epochs"]),
            ours=Estimate(_num(r["ours_mean"]), _num(r["ours_std"])),
            n=_int_or_none(r["n"]) or 0,
            n_failed=_int_or_none(r["n_failed"]) or 0,
            ours_epochs=_int_or_none(r["ours_epochs"]),
            ours_final=_num(r["ours_final_mean"]),
            ours_median10=_num(r["ours_median10_mean"]),
            diff=_num(r["diff"]),
            interval=None if math.isnan(low) else (low, high),
            margin=_num(r["margin"]),
            margin_in_sd=_num(r.get("margin_in_sd")),
            margin_reason=_text(r.get("margin_reason")),
            more_seeds=_int_or_none(r.get("more_seeds")),
            power=_text(r.get("power")),
            sensitivity=_text(r.get("sensitivity")),
            looks=_int_or_none(r.get("looks")),
            stop=_text(r.get("stop")),
            look_levels=_text(r.get("look_levels")),
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


def _values(text) -> tuple[tuple[str, float], ...]:
    """A claim cell's {method: value} (JSON in the claims file) as (method, value) pairs (NaN: none)."""
    if not isinstance(text, str) or not text:
        return ()
    return tuple((m, _num(v)) for m, v in json.loads(text).items())


def _bounds(low, high) -> tuple[float, float] | None:
    low, high = _num(low), _num(high)
    return None if math.isnan(low) or math.isnan(high) else (low, high)


@dataclass(frozen=True)
class ClaimCell:
    """A column of the study's table where a claim was tested (a row of ``{study}.claim_cells.csv``)."""

    cell: str
    verdict: str
    reason: str
    published: tuple[tuple[str, float], ...]  # (method, published value)
    ours: tuple[tuple[str, float], ...]  # (method, our mean)
    n_pairs: int
    interval: tuple[float, float] | None  # lower claims: the 90 % interval of A - B
    gain_verdict: str
    gain_ours: float
    gain_published: float
    gain_interval: tuple[float, float] | None
    gain_margin: float
    tau: float
    tau_interval: tuple[float, float] | None
    comparisons: str

    @classmethod
    def of(cls, r: dict) -> ClaimCell:
        return cls(
            cell=_text(r["cell"]),
            verdict=_text(r["verdict"]),
            reason=_text(r["reason"]),
            published=_values(r["published"]),
            ours=_values(r["ours"]),
            n_pairs=_int_or_none(r["n_pairs"]) or 0,
            interval=_bounds(r["ci_low"], r["ci_high"]),
            gain_verdict=_text(r.get("gain_verdict")),
            gain_ours=_num(r.get("gain_ours")),
            gain_published=_num(r.get("gain_published")),
            gain_interval=_bounds(r.get("gain_ci_low"), r.get("gain_ci_high")),
            gain_margin=_num(r.get("gain_margin")),
            tau=_num(r.get("tau")),
            tau_interval=_bounds(r.get("tau_low"), r.get("tau_high")),
            comparisons=_text(r.get("comparisons")),
        )


@dataclass(frozen=True)
class Claim:
    claim: str
    source: str
    kind: str
    verdict: str
    gain_verdict: str  # lower claims: whether our gain matches the published gain
    gain_margin_rule: str
    reason: str
    cells: tuple[ClaimCell, ...]
    cells_total: int


def claims_of(verdicts: Verdicts) -> list[Claim]:
    """The claims of a study's verdict files, each with its cells."""
    cells: dict[int, list[ClaimCell]] = {}
    for r in verdicts.claim_cells.to_dict("records"):
        cells.setdefault(int(r["claim_id"]), []).append(ClaimCell.of(r))
    return [
        Claim(
            _text(r["claim"]),
            _text(r["source"]),
            _text(r["kind"]),
            _text(r["verdict"]),
            _text(r.get("gain_verdict")),
            _text(r.get("gain_margin_rule")),
            _text(r.get("reason")),
            tuple(cells.get(int(r["claim_id"]), ())),
            int(r["cells_total"]),
        )
        for r in verdicts.claims.to_dict("records")
    ]


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
    margins: tuple[str, ...]  # the study's margin rules with their reasons (its section states them)
    published_side: str  # what the study assumes of its published numbers
    cells: int
    tables: tuple[Table, ...]
    not_runnable: tuple[NotRunnable, ...]  # not runnable names without a published cell that says so
    extra_rows: tuple[OwnRow, ...]
    forest: list[tuple[str, str]] = field(default_factory=list)  # figures: (title, PNG data URI)
    scatter: list[tuple[str, str]] = field(default_factory=list)
    hours: list[tuple[str, str]] = field(default_factory=list)
    curves: list[tuple[str, str]] = field(default_factory=list)


def source_layouts(study: dict, cells: pd.DataFrame) -> dict[str, str]:
    """Source -> layout of a study's tables: its ``layout`` (published file -> layout) through the published cells'
    files."""
    layout = study.get("layout") or {}
    return {source: layout.get(file, DEFAULT_LAYOUT) for source, file in zip(cells["source"], cells["file"])}


def margin_rules(study: dict) -> tuple[str, ...]:
    """A study's margin rules (its ``margin:``) as its section states them."""
    out = []
    for rule in study.get("margin") or ():
        where = ", ".join(
            f"{key} {', '.join(rule[key]) if isinstance(rule[key], list) else rule[key]}"
            for key in ("metric", "files", "datasets", "models")
            if key in rule
        )
        if "sd" in rule:
            what = f"{rule['sd']:g} x the run-to-run std of one run in the cell's column"
        elif "relative" in rule:
            what = f"{rule['relative']:g} x the published value"
        else:
            what = f"±{rule['value']:g}"
        out.append(f"{what}{f' ({where})' if where else ''}: {rule['reason']}")
    return tuple(out)


def published_side_text(study: dict) -> str:
    side = study.get("published_side") or {}
    if not side:
        return ""
    text = (
        f"a std printed without a run count is taken over {side['runs']} runs ({side['runs_reason']})"
        if len(side.get("plausible", [])) > 1 or side.get("runs") != 2
        else ""
    )
    if side.get("exact_metrics"):
        text += ("; " if text else "") + f"exact: {', '.join(side['exact_metrics'])} ({side['exact_reason']})"
    return text


def study_sections(
    studies: dict,
    verdicts: dict[str, Verdicts],
    published: pd.DataFrame,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    published_curves: pd.DataFrame | None = None,
) -> list[Section]:
    """One section per chosen study: its verdicts (``verdicts``: study name -> its verdict files), claims, the cells
    that cannot run, its runs without a published cell, its figures. ``studies``: ``Selection.describe()``."""
    sections = []
    for study in (s for s in studies.get("studies", []) if s["status"] == "chosen"):
        found = verdicts[study["name"]]
        comparison = found.cells
        ours = summary[grid_mask(summary, study["grid"])]
        cells = study_cells(study, published)
        claims = claims_of(found)
        covered = set(cells["augmentation"]) | set(cells["model"])
        counts = Counter(comparison["verdict"])
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
                counts=tuple(counts.get(v, 0) for v in VERDICTS),
                claims=tuple(claims),
                claim_counts=dict(Counter(c.verdict for c in claims)),
                margins=margin_rules(study),
                published_side=published_side_text(study),
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
    return sections


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
    verdict_rule: tuple[str, ...]  # three lines a reader takes in at once
    verdict_details: tuple[tuple[str, str], ...]  # folded under them: (heading, text)
    verdicts: tuple[str, ...]
    sections: tuple[Section, ...]
    others: tuple[OtherStudy, ...]
    failed_runs: tuple[FailedRun, ...]
    gallery: tuple[GalleryItem, ...]
    provenance: tuple[tuple[str, str], ...]
