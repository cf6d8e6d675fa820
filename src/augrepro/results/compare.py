"""Compare our summary with published numbers, cell by cell.

Published cells live in ``resources/published/*.csv`` (required columns: source, protocol, dataset,
traditional, model, augmentation, epochs, metric, mean, std; optional: runs, note). A published cell is
matched to our summary rows of *its protocol only* (the recipe its source trained with: a run of another
protocol never fills it, even with equal epochs), on (dataset, traditional, model), and on our ``method``
equal to the published ``augmentation`` (or our augmentation name, where an alias is named like a published
cell). Usually one summary row matches; when several do (two variants of one method run side by side), the
comparison has one row per match. Ours is the statistic the protocol's source reports (``reported``: the
best epoch, the final epoch or the median of the last 10), and for top-5 the error at the best top-1 epoch.

The verdict of a cell (:func:`compare`; the rule in words: ``augrepro.results.verdicts.VERDICT_RULE``): an
equivalence test against the margin the study declares (:mod:`augrepro.results.margins`), with the published side's
own noise (:mod:`augrepro.results.assumptions`), the cells of a table adjusted together for the false-discovery
rate (Benjamini-Hochberg); three outcomes: reproduced, differs (better or worse), inconclusive (with the seeds that
would decide it at 80 % power, :mod:`augrepro.results.power`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from augrepro.results.assumptions import Assumptions
from augrepro.results.margins import CellMargin, resolve_margins
from augrepro.results.power import seeds_to_decide
from augrepro.results.stats import (
    DEFAULT_ALPHA,
    AdjustedCell,
    CellEquivalence,
    PublishedSide,
    adjust_cells,
    cell_equivalence,
)
from augrepro.runs import REPORTED, REPORTED_TOP5

PUBLISHED_COLUMNS = [
    "source",
    "protocol",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "epochs",
    "metric",
    "mean",
    "std",
]
# runs: published runs behind a mean; reported: how this cell's source summarized a run (best, final,
# median_last10), where it differs from its protocol's (the SaliencyMix table quotes Cutout's final-epoch
# numbers); note: what a reader of the cell should know.
OPTIONAL_COLUMNS = ["runs", "reported", "note"]


@dataclass(frozen=True)
class Metric:
    """A published metric: how the report names it, and its direction."""

    label: str  # in a table's caption: "top-1 error (%)"
    short: str  # in a column heading beside the dataset: "CIFAR-10 top-5"
    higher_is_better: bool = False


# Metrics where a larger number is better (accuracy under FGSM; detection mAP over IoU 0.50:0.95, at 0.5 and at
# 0.75, in percent): ``better`` means ours above the published value. Every other metric is an error or a cost.
# Each of those is one value per run from its evaluation (augrepro.evaluate); its summary column is its name.
METRICS: dict[str, Metric] = {
    "top1_error": Metric("top-1 error (%)", "top-1"),
    "top5_error": Metric("top-5 error (%)", "top-5"),
    "hours": Metric("hours", "hours"),
    "fgsm_top1_accuracy": Metric("top-1 accuracy under FGSM (%)", "FGSM top-1 acc.", higher_is_better=True),
    "map": Metric("mAP 0.5:0.95 (%)", "mAP", higher_is_better=True),
    "map50": Metric("mAP50 (%)", "mAP50", higher_is_better=True),
    "map75": Metric("mAP75 (%)", "mAP75", higher_is_better=True),
}
HIGHER_IS_BETTER = frozenset(name for name, m in METRICS.items() if m.higher_is_better)
VERDICTS = ("reproduced", "better", "worse", "inconclusive", "failed", "missing", "not runnable")

# How a source summarized a run (``reported``), as the report names it; "wall hours" and "per run" are what the
# comparison records for the hours and the evaluations, which have one value per run.
REPORTED_LABELS = {
    "best": "best epoch",
    "final": "final epoch",
    "median_last10": "median of the last 10 epochs",
    "wall hours": "wall hours",
    "per run": "one value per run",
}


def metric_column(metric: str, reported: str = "best") -> str:
    """The column of ours (runs.csv; in summary.csv with _mean / _std) that answers a published metric, by the
    protocol's ``reported``."""
    if metric == "top1_error":
        return REPORTED[reported]
    if metric == "top5_error":
        return REPORTED_TOP5[reported]
    if metric == "hours":
        return "hours"
    if metric in HIGHER_IS_BETTER:  # one value per run, whatever the protocol reports over epochs
        return metric
    raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")


@dataclass(frozen=True)
class MetricColumns:
    """The columns of ours compared with a published metric under a source's ``reported`` statistic."""

    metric: str
    reported: str  # what is compared, as the comparison records it (a key of REPORTED_LABELS)
    run: str  # the per-run column (runs.csv); summary.csv has its mean and std

    @classmethod
    def of(cls, metric: str, reported: str) -> MetricColumns:
        shown = "wall hours" if metric == "hours" else ("per run" if metric in HIGHER_IS_BETTER else reported)
        return cls(metric, shown, metric_column(metric, reported))

    @property
    def mean(self) -> str:
        return f"{self.run}_mean"

    @property
    def std(self) -> str:
        return f"{self.run}_std"


# One row per published cell and matching row of ours (results/verdicts/{study}.csv, without the study column).
VERDICT_COLUMNS = [
    "file",
    "source",
    "protocol",
    "reported",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "our_augmentation",
    "metric",
    "variant",
    "numerics",
    "published_epochs",
    "published_mean",
    "published_std",
    "published_runs",
    "published_side",
    "published_runs_used",
    "published_runs_assumed",
    "n",
    "n_failed",
    "ours_mean",
    "ours_std",
    "ours_epochs",
    "ours_final_mean",
    "ours_median10_mean",
    "diff",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "margin",
    "margin_in_sd",
    "sigma",
    "margin_rule",
    "margin_reason",
    "p_equivalence",
    "p_differs",
    "p_equivalence_adjusted",
    "p_differs_adjusted",
    "verdict_unadjusted",
    "verdict",
    "seeds_to_decide",
    "more_seeds",
    "power",
    "sensitivity",
    "reason",
    "note",
    # adaptive seeds only (augrepro.results.adaptive): the looks the cell took, each look's nominal level, why it
    # stopped, and its repeated p-values (adjusted above, by Benjamini-Hochberg over the table)
    "looks",
    "look_levels",
    "stop",
    "repeated_p_equivalence",
    "repeated_p_differs",
]


def to_bool(value) -> bool:
    """Parse a ``traditional`` flag written as bool, 0/1 or true/false text."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "1", "yes", "+"}:
            return True
        if text in {"false", "0", "no", ""}:
            return False
        raise ValueError(f"not a boolean: {value!r} (write true or false)")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _check_published_row(row: Any, where: str) -> None:
    """One row of a published table (a named tuple of its columns): names, metric, numbers and ``traditional``."""
    for col in ("source", "protocol", "dataset", "model", "augmentation"):
        value = getattr(row, col)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: column '{col}' is empty; every cell needs a {col}")
    if row.metric not in METRICS:
        raise ValueError(f"{where}: unknown metric {row.metric!r}; valid metrics: {', '.join(METRICS)}")
    for col, allow_empty in (("mean", False), ("std", True), ("epochs", True), ("runs", True)):
        value = getattr(row, col)
        if isinstance(value, str) and value.strip() == "":
            value = float("nan")
        number = _num(value)
        if math.isnan(number) and not (allow_empty and (value is None or pd.isna(value))):
            raise ValueError(
                f"{where}: column '{col}' is {value!r}, not a number" + ("" if allow_empty else " (required)")
            )
        if not math.isnan(number) and number < 0:
            raise ValueError(f"{where}: column '{col}' is negative ({number})")
    try:
        to_bool(row.traditional)
    except ValueError as exc:
        raise ValueError(f"{where}: column 'traditional': {exc}") from None


def _check_published(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Types and values of one published table; errors name the file, the row and the fix."""
    for col in PUBLISHED_COLUMNS:
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}' (required: {', '.join(PUBLISHED_COLUMNS)})")
    keep = PUBLISHED_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in df.columns]
    df = df[keep].copy()
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = float("nan") if col == "runs" else ""
    bad = [v for v in df["reported"] if v not in ("", *REPORTED)]
    if bad:
        raise ValueError(
            f"{path}: column 'reported' is {bad[0]!r}; valid: {', '.join(REPORTED)} (or empty: the protocol's)"
        )
    for i, row in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        _check_published_row(row, f"{path}, line {i}")
    df["traditional"] = [to_bool(v) for v in df["traditional"]]
    for col in ("mean", "std", "epochs", "runs"):
        df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="coerce").astype(float)
    df["note"] = df["note"].fillna("").astype(str)
    df["reported"] = df["reported"].fillna("").astype(str)
    key = ["source", "protocol", "dataset", "traditional", "model", "augmentation", "metric"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise ValueError(
            f"{path}: cell given twice: {', '.join(f'{k}={first[k]}' for k in key)}; keep one row per cell"
        )
    return df


def load_published(published_dir: str | Path) -> pd.DataFrame:
    """Read, check and concatenate every ``*.csv`` in ``published_dir`` (sorted by file name)."""
    published_dir = Path(published_dir)
    if not published_dir.is_dir():
        raise ValueError(f"{published_dir}: published-tables folder not found (config key 'published')")
    # natural order, so that table10 follows table9
    files = sorted(
        published_dir.glob("*.csv"), key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]
    )
    if not files:
        raise ValueError(f"{published_dir}: no published *.csv files")
    frames = []
    for path in files:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        checked = _check_published(df, path)
        checked["file"] = path.name  # the study that answers a table names its file
        frames.append(checked)
    published = pd.concat(frames, ignore_index=True)
    for col in ("source", "protocol", "dataset", "model", "augmentation", "metric"):
        published[col] = published[col].astype(str).str.strip()
    return published


def normalize_ours(frame: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of ours (summary, runs or status) with clean types; ``method`` becomes the name under which a row
    matches published cells: the registered method (so an alias such as ``saliencymix_paper`` is compared with
    SaliencyMix's cells), unless the config's augmentation name is itself a published name (Table 9's
    ``salfmix_nosaliency``, an alias of ``salfmix`` with ``saliency: false``)."""
    ours = frame.copy()
    ours["traditional"] = [to_bool(v) for v in ours["traditional"]]
    if "method" not in ours.columns:
        ours["method"] = ours["augmentation"]
    ours["method"] = ours["method"].where(ours["method"].notna(), ours["augmentation"])
    for col in ("protocol", "dataset", "model", "method", "augmentation"):
        ours[col] = ours[col].astype(str)
    if published is not None and len(published):
        names = set(published["augmentation"].astype(str))
        ours["method"] = ours["augmentation"].where(ours["augmentation"].isin(names), ours["method"])
    if "epochs" not in ours.columns:
        ours["epochs"] = float("nan")
    ours["epochs"] = pd.to_numeric(ours["epochs"], errors="coerce")
    return ours


_KEY = ("protocol", "dataset", "traditional", "model", "method")


def _index(frame: pd.DataFrame) -> dict[tuple, list[int]]:
    index: dict[tuple, list[int]] = {}
    for pos, key in enumerate(zip(*(frame[c] for c in _KEY))):
        index.setdefault(key, []).append(pos)
    return index


def _clean_text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


@dataclass(frozen=True)
class PublishedCell:
    """One published cell (a row of resources/published/*.csv) and the columns of ours it is compared with."""

    file: str
    source: str
    protocol: str
    dataset: str
    traditional: bool
    model: str
    augmentation: str
    metric: str
    epochs: float
    mean: float
    std: float  # NaN: not printed
    runs: float  # NaN: not stated
    note: str
    columns: MetricColumns

    @classmethod
    def of(cls, row, reported: dict[str, str]) -> PublishedCell:
        """``row``: a published row (a mapping); ``reported``: protocol -> how its source summarizes a run, unless
        the cell names its own."""
        how = str(row.get("reported", "") or "") or reported.get(row["protocol"], "best")
        return cls(
            str(row.get("file", "")),
            row["source"],
            row["protocol"],
            row["dataset"],
            to_bool(row["traditional"]),
            row["model"],
            row["augmentation"],
            row["metric"],
            _num(row["epochs"]),
            _num(row["mean"]),
            _num(row["std"]),
            _num(row.get("runs", math.nan)),
            str(row.get("note", "") or ""),
            MetricColumns.of(row["metric"], how),
        )

    @property
    def key(self) -> tuple:
        """What a row of ours matches on (``_KEY``)."""
        return (self.protocol, self.dataset, self.traditional, self.model, self.augmentation)

    @property
    def sign(self) -> float:
        """-1 where higher is better: the statistics see lower-is-better numbers."""
        return -1.0 if self.metric in HIGHER_IS_BETTER else 1.0

    def record(self) -> dict:
        return {
            "file": self.file,
            "source": self.source,
            "protocol": self.protocol,
            "reported": self.columns.reported,
            "dataset": self.dataset,
            "traditional": self.traditional,
            "model": self.model,
            "augmentation": self.augmentation,
            "metric": self.metric,
            "published_epochs": self.epochs,
            "published_mean": self.mean,
            "published_std": self.std,
            "published_runs": self.runs,
            "note": self.note,
        }


@dataclass(frozen=True)
class OurCell:
    """One summary row of ours matching a published cell: the compared statistic and what is shown beside it."""

    mean: float
    std: float  # NaN: one value, or not recorded
    n: int  # values behind the mean (runs with this metric)
    epochs: float
    final_mean: float  # top-1 only: the final epoch's and the median of the last 10 epochs' error
    median10_mean: float
    variant: str | None
    numerics: str | None
    augmentation: str  # the config's name (an alias, or the method)

    @classmethod
    def of(cls, row, columns: MetricColumns) -> OurCell:
        top1 = columns.metric == "top1_error"
        count = row.get(f"{columns.run}_n")  # the values of this metric (summary.csv); older files: the runs
        n = _num(count) if count is not None and not pd.isna(count) else _num(row.get("n", 0))
        return cls(
            _num(row.get(columns.mean)),
            _num(row.get(columns.std)),
            int(n if not math.isnan(n) else 0),
            _num(row.get("epochs")),
            _num(row.get("final_top1_error_mean")) if top1 else math.nan,
            _num(row.get("median_last10_top1_error_mean")) if top1 else math.nan,
            _clean_text(row.get("variant")),
            _clean_text(row.get("numerics")),
            str(row["augmentation"]),
        )

    def record(self) -> dict:
        return {
            "ours_mean": self.mean,
            "ours_std": self.std,
            "n": self.n,
            "ours_epochs": self.epochs,
            "ours_final_mean": self.final_mean,
            "ours_median10_mean": self.median10_mean,
            "variant": self.variant,
            "numerics": self.numerics,
            "our_augmentation": self.augmentation,
        }


def _untested(cell: PublishedCell, n_failed: int, not_runnable: dict[str, str], margin: CellMargin | None) -> dict:
    """A cell without a row of ours: not runnable (the study says why), failed (every run did) or missing."""
    reason = not_runnable.get(cell.augmentation) or not_runnable.get(cell.model) or not_runnable.get(cell.dataset)
    note = f"not runnable: {reason}" + (f"; {cell.note}" if cell.note else "") if reason else cell.note
    verdict = "not runnable" if reason else ("failed" if n_failed else "missing")
    return cell.record() | _margin_fields(margin) | {"n": 0, "n_failed": n_failed, "note": note, "verdict": verdict}


def _margin_fields(margin: CellMargin | None) -> dict:
    if margin is None:
        return {}
    return {
        "margin": margin.value,
        "margin_in_sd": margin.in_sd,
        "sigma": margin.sigma,
        "margin_rule": margin.rule,
        "margin_reason": margin.text,
    }


@dataclass
class _Tested:
    """A tested comparison row while a table's cells are adjusted together."""

    row: dict
    cell: PublishedCell
    ours: OurCell
    margin: CellMargin
    side: PublishedSide
    equivalence: CellEquivalence


def _test(cell: PublishedCell, ours: OurCell, margin: CellMargin, side: PublishedSide, alpha: float):
    """:func:`augrepro.results.stats.cell_equivalence` on the cell, signs turned so that lower is better."""
    spread_known = not math.isnan(ours.std) and ours.n >= 2  # no std of ours (one value): as one seed
    return cell_equivalence(
        cell.sign * ours.mean,
        ours.std if spread_known else None,
        ours.n if spread_known else 1,
        side,
        margin.value,
        alpha,
    )


def _outcome(adjusted: AdjustedCell) -> str:
    if adjusted.outcome != "differs":
        return adjusted.outcome
    if adjusted.direction is None:
        raise ValueError(f"a cell that differs has no direction (better or worse): {adjusted!r}")
    return adjusted.direction


def _adjusted_outcomes(entries: list[_Tested], sides: list[PublishedSide], alpha: float) -> list[str]:
    tests = [_test(e.cell, e.ours, e.margin, side, alpha) for e, side in zip(entries, sides)]
    return [_outcome(a) for a in adjust_cells(tests, alpha)]


def _sensitivity(entries: list[_Tested], assumptions: Assumptions, alpha: float) -> dict[int, str]:
    """Where the study assumes a run count for printed stds: each such cell's verdict under every plausible count
    (the table re-adjusted under each), as text, keyed by the entry's position."""
    assumed = [i for i, e in enumerate(entries) if e.side.runs_assumed]
    if not assumed or len(assumptions.plausible) < 2:
        return {}
    by_count = {}
    for count in assumptions.plausible:
        sides = [
            assumptions.side(e.cell.sign * e.cell.mean, e.cell.std, e.cell.runs, e.cell.metric, count)
            if e.side.runs_assumed
            else e.side
            for e in entries
        ]
        by_count[count] = _adjusted_outcomes(entries, sides, alpha)
    out = {}
    for i in assumed:
        outcomes = {count: by_count[count][i] for count in assumptions.plausible}
        if len(set(outcomes.values())) == 1:
            counts = ", ".join(str(c) for c in assumptions.plausible)
            out[i] = f"the same with {counts} published runs"
        else:
            out[i] = "changes with the assumed run count: " + "; ".join(
                f"{count} runs: {outcome}" for count, outcome in outcomes.items()
            )
    return out


def _decided(entries: list[_Tested], assumptions: Assumptions, alpha: float, more_seeds: bool = True) -> None:
    """Adjust a table's tested rows together and fill their outcome, p-values, seeds and sensitivity."""
    adjusted = adjust_cells([e.equivalence for e in entries], alpha)
    sensitivity = _sensitivity(entries, assumptions, alpha)
    for i, (entry, adj) in enumerate(zip(entries, adjusted)):
        eq, ours = entry.equivalence, entry.ours
        outcome = _outcome(adj)
        row = entry.row
        row.update(
            verdict=outcome,
            verdict_unadjusted=eq.direction if eq.outcome == "differs" else eq.outcome,
            p_equivalence_adjusted=adj.p_equivalence_adjusted,
            p_differs_adjusted=adj.p_differs_adjusted,
            reason=adj.reason,
            sensitivity=sensitivity.get(i, ""),
        )
        if outcome != "inconclusive":
            row.update(seeds_to_decide=float(ours.n), more_seeds=0.0, power="")
            continue
        if not more_seeds:
            continue
        if eq.decision is None or math.isnan(eq.spread):
            row.update(power="no run-to-run spread is known: at least 2 seeds of ours are needed")
            continue
        more = seeds_to_decide(
            entry.cell.sign * ours.mean,
            eq.spread,
            eq.n_ours,
            entry.side,
            entry.margin.value,
            adj.level_equivalence,
            adj.level_differs,
        )
        row.update(
            seeds_to_decide=math.nan if more.seeds is None else float(more.seeds),
            more_seeds=math.nan if more.seeds is None else float(more.seeds - ours.n),
            power=more.text,
        )


def compare(
    summary: pd.DataFrame,
    published: pd.DataFrame,
    rules=(),
    assumptions: Assumptions | None = None,
    test_images: Callable[[str], int | None] | None = None,
    status: pd.DataFrame | None = None,
    reported: dict[str, str] | None = None,
    not_runnable: dict[str, str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    where: str = "study",
    more_seeds: bool = True,
) -> pd.DataFrame:
    """One row per published cell and matching summary row (:data:`VERDICT_COLUMNS`), with its verdict.

    Each cell's margin comes from the study's ``rules`` (:func:`augrepro.results.margins.resolve_margins`), its
    published side from the study's ``assumptions`` (:mod:`augrepro.results.assumptions`); the test is
    :func:`augrepro.results.stats.cell_equivalence`, the p-values of each table's tested cells are adjusted together
    (Benjamini-Hochberg) before the outcome is read, and an undecided cell gets the seeds that would decide it with
    80 % power (:func:`augrepro.results.power.seeds_to_decide`).

    ``reported`` maps a protocol to how its source summarizes a run (``best``, ``final``, ``median_last10``;
    default ``best``). ``status`` (optional, from partial aggregation) has one row per configured run with a
    ``status`` of ok / failed / missing; it turns cells whose runs all failed into ``failed`` and fills
    ``n_failed``. ``not_runnable`` maps a published augmentation, model or dataset name to the reason it cannot
    run here: such cells get the verdict ``not runnable`` and the reason in ``note``. ``more_seeds=False`` skips the
    seeds that would decide an undecided cell (a simulation; the sequential design's interim looks do not need it).
    """
    reported, not_runnable = reported or {}, not_runnable or {}
    assumptions = assumptions or Assumptions()
    ours = (
        normalize_ours(summary, published) if len(summary) else pd.DataFrame(columns=[*_KEY, "augmentation", "epochs"])
    )
    ours_index = _index(ours)
    failed_count: dict[tuple, int] = {}
    if status is not None and len(status):
        st = normalize_ours(status, published)
        for key in zip(*(st.loc[st["status"] == "failed", c] for c in _KEY)):
            failed_count[key] = failed_count.get(key, 0) + 1
    records = published.to_dict("records")
    margins = resolve_margins(rules, published, test_images or _no_test_images, where) if records else []
    rows: list[dict] = []
    tables: dict[str, list[_Tested]] = {}
    for record, margin in zip(records, margins):
        cell = PublishedCell.of(record, reported)
        n_failed = failed_count.get(cell.key, 0)
        matches = [OurCell.of(ours.iloc[pos], cell.columns) for pos in ours_index.get(cell.key, [])]
        matches = [m for m in matches if not math.isnan(m.mean)]
        if not matches:
            rows.append(_untested(cell, n_failed, not_runnable, margin))
            continue
        side = assumptions.side(cell.sign * cell.mean, cell.std, cell.runs, cell.metric)
        for match in matches:
            eq = _test(cell, match, margin, side, alpha)
            low, high = sorted((cell.sign * eq.ci_low, cell.sign * eq.ci_high))
            row = (
                cell.record()
                | match.record()
                | _margin_fields(margin)
                | {
                    "n_failed": n_failed,
                    "published_side": side.kind,
                    "published_runs_used": side.runs,
                    "published_runs_assumed": side.runs_assumed,
                    "diff": match.mean - cell.mean,
                    "se": eq.se,
                    "df": eq.df,
                    "ci_low": low,
                    "ci_high": high,
                    "p_equivalence": eq.p_equivalence,
                    "p_differs": eq.p_differs,
                }
            )
            rows.append(row)
            tables.setdefault(cell.source, []).append(_Tested(row, cell, match, margin, side, eq))
    for entries in tables.values():
        _decided(entries, assumptions, alpha, more_seeds)
    return pd.DataFrame(rows).reindex(columns=VERDICT_COLUMNS)


def _no_test_images(dataset: str) -> None:
    return None


def unmatched(summary: pd.DataFrame, published: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Our summary rows that match no published cell (of ``metric``, or of any metric)."""
    if summary.empty:
        return summary.copy()
    ours = normalize_ours(summary, published)
    cells = published if metric is None else published[published["metric"] == metric]
    keys = {
        (str(c.protocol), str(c.dataset), to_bool(c.traditional), str(c.model), str(c.augmentation))
        for c in cells.itertuples(index=False)
    }
    mask = [key not in keys for key in zip(*(ours[c] for c in _KEY))]
    return summary.loc[pd.Series(mask, index=summary.index, dtype=bool)].reset_index(drop=True)
