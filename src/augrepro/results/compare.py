"""The verdict of each published cell against the rows of ours that match it (:func:`compare`).

The rule in words: ``augrepro.results.verdicts.VERDICT_RULE``. An equivalence test against the margin the study
declares (:mod:`augrepro.results.margins`), with the published side's own noise (:mod:`augrepro.results.assumptions`),
the cells of a table adjusted together for the false-discovery rate (Benjamini-Hochberg); three outcomes: reproduced,
differs (better or worse), inconclusive (with the seeds that would decide it at 80 % power,
:mod:`augrepro.results.power`). The published tables are read by :mod:`augrepro.results.published`, a cell is matched
to ours by :mod:`augrepro.results.cells`, and its metric's column of ours is :mod:`augrepro.results.metrics`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from augrepro.results.assumptions import Assumptions
from augrepro.results.cells import MATCH_KEY, OurCell, PublishedCell, normalize_ours, rows_by_key
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

# The verdicts a cell can get, in the order the report counts them.
VERDICTS = ("reproduced", "better", "worse", "inconclusive", "failed", "missing", "not runnable")

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
        normalize_ours(summary, published)
        if len(summary)
        else pd.DataFrame(columns=[*MATCH_KEY, "augmentation", "epochs"])
    )
    ours_index = rows_by_key(ours)
    failed_count: dict[tuple, int] = {}
    if status is not None and len(status):
        st = normalize_ours(status, published)
        for key in zip(*(st.loc[st["status"] == "failed", c] for c in MATCH_KEY)):
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
