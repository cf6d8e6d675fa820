"""The report's paper-shaped tables: a study's verdict table (``results/verdicts/{study}.csv``, written by
:mod:`augrepro.results.verdicts`; the report computes no statistic itself) laid out as the study's config says
(``layout:``, :data:`augrepro.studies.study.LAYOUTS`): ``datasets`` (a row per model and method, a column per dataset
and metric) or ``models`` (a row per method, a column per model).

Each cell holds the comparison's numbers (ours and published mean and std, n, diff, its interval, the margin, the
verdict, the seeds that would decide it); names are shown with the labels of their registries (a model's where it is
registered, a dataset's in its DatasetSpec, a metric's in :data:`augrepro.results.metrics.METRICS`). Numbers become
text only in the template, through :mod:`augrepro.report.format`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from augrepro.data.datasets import dataset_label
from augrepro.models.registry import model_label
from augrepro.report.values import Estimate, as_flag, as_int, as_number, as_text
from augrepro.results.metrics import METRICS, REPORTED_LABELS

# Verdicts of a cell without a test: the page says why instead of showing numbers.
UNTESTED = ("missing", "failed", "not runnable")
DEFAULT_LAYOUT = "datasets"


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
        low, high = as_number(r["ci_low"]), as_number(r["ci_high"])
        return cls(
            verdict=r["verdict"],
            verdict_unadjusted=as_text(r.get("verdict_unadjusted")),
            metric=r["metric"],
            compared=REPORTED_LABELS.get(r["reported"], r["reported"]),
            published=Estimate(as_number(r["published_mean"]), as_number(r["published_std"])),
            published_side=as_text(r.get("published_side")),
            published_runs=as_int(r.get("published_runs_used")),
            published_runs_assumed=as_flag(r.get("published_runs_assumed")),
            published_epochs=as_int(r["published_epochs"]),
            ours=Estimate(as_number(r["ours_mean"]), as_number(r["ours_std"])),
            n=as_int(r["n"]) or 0,
            n_failed=as_int(r["n_failed"]) or 0,
            ours_epochs=as_int(r["ours_epochs"]),
            ours_final=as_number(r["ours_final_mean"]),
            ours_median10=as_number(r["ours_median10_mean"]),
            diff=as_number(r["diff"]),
            interval=None if math.isnan(low) else (low, high),
            margin=as_number(r["margin"]),
            margin_in_sd=as_number(r.get("margin_in_sd")),
            margin_reason=as_text(r.get("margin_reason")),
            more_seeds=as_int(r.get("more_seeds")),
            power=as_text(r.get("power")),
            sensitivity=as_text(r.get("sensitivity")),
            looks=as_int(r.get("looks")),
            stop=as_text(r.get("stop")),
            look_levels=as_text(r.get("look_levels")),
            reason=as_text(r.get("reason")),
            note=as_text(r["note"]),
            variant=as_text(r["variant"]),
            numerics=as_text(r.get("numerics")),
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
    method = (r["augmentation"], as_int(r["published_epochs"]))
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
    epochs = tuple(sorted({e for e in (as_int(r["published_epochs"]) for r in part) if e is not None}))
    several_epochs = len({as_int(r["published_epochs"]) for r in part}) > 1
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
