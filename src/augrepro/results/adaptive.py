"""A study with adaptive seeds, look by look: which cells are decided, which need more seeds, and the verdicts.

:func:`sequential_verdicts` replays the design (:class:`augrepro.results.sequential.SequentialDesign`) on the runs
that exist: at look k every cell still running is compared with its published cells on its first ``n_k`` seeds
(:func:`augrepro.results.compare.compare`), each published cell's equivalence and minimum-effect p-values become
repeated p-values over the looks so far, the table's cells are adjusted together (Benjamini-Hochberg on the repeated
p-values), and a grid cell stops when each of its published cells is decided, when it is futile, or at ``max``
seeds. Everything is recomputed from the runs, so an interim look and the final verdicts agree by construction.
A grid cell without a published cell (an ablation's runs) has nothing to decide, and one that more looks cannot
decide (a single published run) is worth one look: each trains the first look's seeds, or its seed list's count where
that is smaller (:func:`one_look_cells`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from augrepro.io import atomic_write_text
from augrepro.results.aggregate import collect_runs, summarize
from augrepro.results.assumptions import Assumptions
from augrepro.results.compare import compare
from augrepro.results.metrics import HIGHER_IS_BETTER
from augrepro.results.published import load_published, to_bool
from augrepro.results.scope import cell_rows, compare_options, study_cells
from augrepro.results.sequential import DESIGN_POWER, SequentialDesign, futile, one_look, worth_more_looks
from augrepro.results.stats import DEFAULT_ALPHA, benjamini_hochberg
from augrepro.runs import dataset_key

# Why a grid cell stopped.
STOPS = ("decided", "futile", "max", "nothing to decide")
ROW_KEY = ("source", "protocol", "dataset", "traditional", "model", "augmentation", "metric", "our_augmentation")


def design_of(study: dict[str, Any]) -> SequentialDesign | None:
    """A study's sequential design (``Selection.describe()``'s ``adaptive``), None for fixed seeds."""
    spec = study.get("adaptive")
    return SequentialDesign(**spec) if spec else None


def _grid_cell(row: dict) -> tuple:
    return (
        row["protocol"],
        dataset_key(row["dataset"], to_bool(row["traditional"])),
        row["model"],
        row["our_augmentation"],
    )


@dataclass
class CellState:
    """A grid cell through the looks: the look it stopped at (None: still running), why, and its seeds."""

    seeds: int
    stopped_at: int | None = None
    stop: str = ""
    chance: float = math.nan  # futility: the chance to decide by max seeds


@dataclass
class Interim:
    """The design replayed up to a look."""

    design: SequentialDesign
    look: int  # 0-based: the last look replayed
    cells: dict[tuple, CellState]
    table: pd.DataFrame  # the verdict rows (VERDICT_COLUMNS plus the sequential ones), each at its cell's last look
    history: dict[tuple, list[tuple[float, float]]] = field(default_factory=dict)  # row -> (p_eq, p_diff) per look

    @property
    def finished(self) -> bool:
        return all(state.stopped_at is not None for state in self.cells.values())

    def runs(self) -> list[tuple]:
        """(protocol, dataset key, model, augmentation, seed) of every run the looks so far need, and the next look's
        when the design goes on."""
        out = []
        for cell, state in self.cells.items():
            following = self.design.looks[min(self.look + 1, len(self.design.looks) - 1)]
            seeds = state.seeds if state.stopped_at is not None else following
            out += [(*cell, seed) for seed in range(seeds)]
        return out


def runs_of_cells(runs: pd.DataFrame, cells: dict[tuple, int]) -> pd.DataFrame:
    """The rows of runs.csv of each grid cell's first ``cells[cell]`` seeds."""
    if runs.empty:
        return runs
    keys = zip(
        runs["protocol"].astype(str),
        [dataset_key(d, to_bool(t)) for d, t in zip(runs["dataset"], runs["traditional"])],
        runs["model"].astype(str),
        runs["augmentation"].astype(str),
        runs["seed"].astype(int),
    )
    mask = [(p, d, m, a) in cells and seed < cells[(p, d, m, a)] for p, d, m, a, seed in keys]
    return runs[pd.Series(mask, index=runs.index, dtype=bool)]


def sequential_verdicts(
    study: dict[str, Any],
    cells: pd.DataFrame,
    runs: pd.DataFrame,
    design: SequentialDesign,
    up_to: int | None = None,
    compare_options: dict[str, Any] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> Interim:
    """Replay the design on ``runs`` (runs.csv rows) for the study's published ``cells``, up to look ``up_to``
    (0-based; default: until every grid cell has stopped). ``compare_options``: the study's margin rules,
    assumptions, test-image counts, reported statistics and not-runnable names, as :func:`compare` takes them."""
    options = dict(compare_options or {})
    grid = [tuple(c) for c in study["grid"]]
    last = len(design.looks) - 1
    up_to = last if up_to is None else min(up_to, last)
    single = one_look_cells(study, cells, design, options)
    state = {cell: CellState(single.get(cell, design.looks[0])) for cell in grid}
    history: dict[tuple, list[tuple[float, float]]] = {}
    rows: dict[tuple, dict] = {}
    for look, n in enumerate(design.looks[: up_to + 1]):
        running = {cell: single.get(cell, n) for cell, s in state.items() if s.stopped_at is None}
        here = runs_of_cells(runs, running)
        if not _complete(here, running):  # a look whose seeds have not all trained yet (the partial report)
            up_to = look - 1
            break
        for cell, seeds in running.items():
            state[cell].seeds = seeds
        table = compare(summarize(here), cells, more_seeds=False, alpha=alpha, **options) if not here.empty else None
        if table is not None:
            _record_look(table, running, history, rows)
        _decide(rows, history, single, design, alpha)
        for cell in running:
            mine = [row for row in rows.values() if _grid_cell(row) == cell]
            stop = _stop(mine, cell in single, look == last, design, n, options)
            if stop is not None:
                state[cell].stopped_at, state[cell].stop = look, stop[0]
                if stop[1] is not None:
                    state[cell].chance = stop[1]
        if all(s.stopped_at is not None for s in state.values()):
            up_to = look
            break
    used = {cell: state.seeds for cell, state in state.items()}
    final = compare(summarize(runs_of_cells(runs, used)), cells, more_seeds=False, alpha=alpha, **options)
    return Interim(design, up_to, state, _sequential_table(final, rows, history, state, design, alpha), history)


def _record_look(
    table: pd.DataFrame, running: dict, history: dict[tuple, list[tuple[float, float]]], rows: dict[tuple, dict]
) -> None:
    """Add one look's comparison of the running cells' tested rows to each row's ``history`` of (p equivalence,
    p differs), and keep the row as its latest in ``rows``."""
    for row in table.to_dict("records"):
        if row["verdict"] in ("missing", "failed", "not runnable") or _grid_cell(row) not in running:
            continue
        key = tuple(row[c] for c in ROW_KEY)
        history.setdefault(key, []).append((row["p_equivalence"], row["p_differs"]))
        rows[key] = row


def _decide(
    rows: dict[tuple, dict],
    history: dict[tuple, list[tuple[float, float]]],
    single: dict,
    design: SequentialDesign,
    alpha: float,
) -> None:
    """Every row's repeated p-values over its looks (its one p-value in a one-look cell), adjusted over all rows
    (Benjamini-Hochberg), and the verdict they give, written into the row."""
    keys = list(rows)

    def repeated(key: tuple, which: int) -> float:
        values = [pair[which] for pair in history[key]]
        return values[0] if _grid_cell(rows[key]) in single else design.repeated_p(values)

    repeated_eq = [repeated(k, 0) for k in keys]
    repeated_diff = [repeated(k, 1) for k in keys]
    adjusted_eq, adjusted_diff = benjamini_hochberg(repeated_eq), benjamini_hochberg(repeated_diff)
    for key, re_, rd, ae, ad in zip(keys, repeated_eq, repeated_diff, adjusted_eq, adjusted_diff):
        row = rows[key]
        if ae < alpha:
            verdict = "reproduced"
        elif ad < alpha:
            verdict = "better" if _sign(row) * row["diff"] < 0 else "worse"
        else:
            verdict = "inconclusive"
        row.update(
            repeated_p_equivalence=re_,
            repeated_p_differs=rd,
            p_equivalence_adjusted=ae,
            p_differs_adjusted=ad,
            verdict=verdict,
        )


def _stop(
    mine: list[dict], one_look: bool, last_look: bool, design: SequentialDesign, n: int, options: dict[str, Any]
) -> tuple[str, float | None] | None:
    """Why a running cell stops at this look (with its chance of a verdict when futile), or None if it goes on;
    ``mine``: the cell's rows at this look."""
    if not mine:
        return "nothing to decide", None
    if one_look:
        return "one look", None
    if all(r["verdict"] != "inconclusive" for r in mine):
        return "decided", None
    if last_look:
        return "max", None
    chances = [_chance(design, r, n, options) for r in mine if r["verdict"] == "inconclusive"]
    if chances and all(hopeless for hopeless, _ in chances):
        return "futile", max(c for _, c in chances)
    return None


def _sequential_table(final, rows, history, state, design: SequentialDesign, alpha: float) -> pd.DataFrame:
    """The verdict rows at each cell's last look: the comparison's numbers, the sequential p-values and outcome."""
    levels = ", ".join(f"{a:.3g}" for a in design.levels)
    m = len(rows)
    out = []
    for row in final.to_dict("records"):
        key = tuple(row[c] for c in ROW_KEY)
        if key not in rows:
            tested = row["verdict"] not in ("missing", "failed", "not runnable")
            out.append(
                row | ({"verdict": "inconclusive", "stop": "waiting for its first look's seeds"} if tested else {})
            )
            continue
        seq = rows[key]
        cell = state[_grid_cell(row)]
        looks = len(history[key])
        stop = {
            "decided": f"decided at look {looks} of {len(design.looks)}",
            "futile": f"stopped for futility at look {looks}: a {cell.chance:.0%} chance to decide it by "
            f"{design.max} seeds",
            "max": f"undecided at the last look ({design.max} seeds)",
            "one look": f"one look of {cell.seeds} seeds, at the fixed design's level: more looks could not decide "
            f"it (its power at {design.max} seeds is below {DESIGN_POWER:.0%})",
        }.get(cell.stop, "running: more seeds are on their way")
        unadjusted = (
            "reproduced"
            if seq["repeated_p_equivalence"] < alpha
            else (seq["verdict"] if seq["repeated_p_differs"] < alpha else "inconclusive")
        )
        reason = (
            f"{design.boundary.replace('_', '-')} design, look {looks}: repeated p(equivalent) = "
            f"{seq['repeated_p_equivalence']:.3g}, p(differs) = {seq['repeated_p_differs']:.3g}; Benjamini-Hochberg "
            f"over {m} cells: {seq['p_equivalence_adjusted']:.3g}, {seq['p_differs_adjusted']:.3g}; {row['reason']}"
        )
        out.append(
            row
            | {
                key_: seq[key_]
                for key_ in (
                    "verdict",
                    "p_equivalence_adjusted",
                    "p_differs_adjusted",
                    "repeated_p_equivalence",
                    "repeated_p_differs",
                )
            }
            | {
                "verdict_unadjusted": unadjusted if seq["verdict"] == "inconclusive" else seq["verdict"],
                "looks": looks,
                "look_levels": levels,
                "stop": stop,
                "power": "" if seq["verdict"] != "inconclusive" else stop,
                "seeds_to_decide": float(cell.seeds) if seq["verdict"] != "inconclusive" else math.nan,
                "more_seeds": 0.0 if seq["verdict"] != "inconclusive" else math.nan,
                "reason": reason,
            }
        )
    return pd.DataFrame(out)


def one_look_cells(
    study: dict[str, Any], cells: pd.DataFrame, design: SequentialDesign, options: dict[str, Any]
) -> dict[tuple, int]:
    """The grid cells that get one look, decided before any run: those without a published cell, and those for whose
    every published cell :func:`augrepro.results.sequential.worth_more_looks` is False (a single published run, or no
    spread known); with their seeds (:func:`augrepro.results.sequential.one_look`: the first look's, or the cell's
    seed-list count where that is smaller)."""
    plan = (
        compare(pd.DataFrame(), cells, more_seeds=False, **options).to_dict("records") if len(cells) else []
    )  # one row per cell, in order
    assumptions = options.get("assumptions") or Assumptions()

    def worth(row: dict) -> bool:
        sign = _sign(row)
        side = assumptions.side(
            sign * row["published_mean"], row["published_std"], row["published_runs"], row["metric"]
        )
        return worth_more_looks(design, row["sigma"], row["margin"], side)

    fixed_of = dict(zip((tuple(c) for c in study["grid"]), study.get("grid_seeds") or ()))
    return {
        cell: one_look(design, fixed_of.get(cell))
        for cell, positions in cell_rows(study, cells).items()
        if not any(worth(plan[p]) for p in positions if plan[p]["verdict"] != "not runnable")
    }


def _complete(runs: pd.DataFrame, cells: dict[tuple, int]) -> bool:
    """Whether every cell has its first ``cells[cell]`` seeds among ``runs``."""
    if not cells:
        return True
    if runs.empty:
        return False
    counts = runs.assign(
        key=[_grid_cell({**r, "our_augmentation": r["augmentation"]}) for r in runs.to_dict("records")]
    )
    have = counts["key"].value_counts()
    return all(have.get(cell, 0) >= n for cell, n in cells.items())


def _sign(row: dict) -> float:
    """-1 where higher is better: the statistics see lower-is-better numbers."""
    return -1.0 if row["metric"] in HIGHER_IS_BETTER else 1.0


def _chance(design: SequentialDesign, row: dict, n: int, options: dict) -> tuple[bool, float]:
    """Futility of one undecided published cell at ``n`` seeds."""
    sign = _sign(row)
    assumptions = options.get("assumptions") or Assumptions()
    side = assumptions.side(sign * row["published_mean"], row["published_std"], row["published_runs"], row["metric"])
    return futile(design, sign * row["diff"], row["ours_std"], n, side, row["margin"])


def write_look(
    study: dict[str, Any], run_dirs: list, published_dir: str | Path, look: int, out: str | Path
) -> dict[str, Any]:
    """Look ``look`` (0-based) of an adaptive study: replay its design on the runs of ``run_dirs`` and write, atomically,
    which cells stopped and why, and every run the study needs so far (the next look's seeds of the undecided
    cells included). Returns what it wrote."""
    design = design_of(study)
    if design is None:
        raise ValueError(f"study {study['name']!r} has fixed seeds: looks are for a study with an `adaptive:` design")
    runs, _ = collect_runs(run_dirs)
    cells = study_cells(study, load_published(published_dir))
    interim = sequential_verdicts(study, cells, runs, design, up_to=look, compare_options=compare_options(study))
    found = {
        "study": study["name"],
        "look": look,
        "looks": list(design.looks),
        "levels": list(design.levels),
        "finished": interim.finished,
        "cells": [
            {"cell": list(cell), "seeds": state.seeds, "stopped_at": state.stopped_at, "stop": state.stop}
            for cell, state in interim.cells.items()
        ],
        "runs": [list(run) for run in interim.runs()],
    }
    atomic_write_text(Path(out), json.dumps(found, indent=1) + "\n")
    return found
