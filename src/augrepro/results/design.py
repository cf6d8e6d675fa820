"""What a study's verdicts can decide, known before any run: each published cell's margin, its published side, and
the seeds that give its equivalence test 80 % power (:func:`augrepro.results.power.seeds_for_power`, when our runs
reproduce the published number exactly with the column's run-to-run spread). The plan prints it per study beside
the seeds the study runs.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import pandas as pd

from augrepro.results.assumptions import Assumptions
from augrepro.results.margins import CellMargin, resolve_margins
from augrepro.results.power import TARGET_POWER, seeds_for_power
from augrepro.results.published import to_bool
from augrepro.results.scope import cell_rows, dataset_test_images, study_cells
from augrepro.results.sequential import SequentialDesign, expected_seeds, one_look


@dataclass(frozen=True)
class CellDesign:
    """One published cell before any run."""

    file: str
    column: str  # "cifar10+ / resnet18 / top1_error"
    augmentation: str
    margin: CellMargin
    published_side: str  # sample, draws or exact
    seeds_for_power: int | None  # None: no number of seeds up to the limit, or no spread known before any run

    @property
    def spread_known(self) -> bool:
        return self.margin.sigma > 0


def study_design(study: dict[str, Any], published: pd.DataFrame) -> list[CellDesign]:
    """Every published cell of a study (an entry of ``Selection.describe()``) with its margin and power."""
    cells = study_cells(study, published)
    if cells.empty or not study.get("margin"):
        return []
    assumptions = Assumptions.from_description(study.get("published_side"))
    margins = resolve_margins(study["margin"], cells, dataset_test_images, f"study {study['name']}")
    skipped = set(study.get("not_runnable") or {})
    out = []
    for record, margin in zip(cells.to_dict("records"), margins):
        if {record["augmentation"], record["model"], record["dataset"]} & skipped:
            continue  # not runnable here: no seeds are spent on it
        side = assumptions.side(float(record["mean"]), float(record["std"]), float(record["runs"]), record["metric"])
        seeds = seeds_for_power(margin.sigma, margin.value, side) if margin.sigma > 0 else None
        key = f"{record['dataset']}{'+' if to_bool(record['traditional']) else ''}"
        out.append(
            CellDesign(
                str(record["file"]),
                f"{key} / {record['model']} / {record['metric']} ({record['protocol']})",
                str(record["augmentation"]),
                margin,
                side.kind,
                seeds,
            )
        )
    return out


@dataclass(frozen=True)
class AdaptiveCost:
    """A study's cells under adaptive seeds against its seed list, if our runs reproduce the published numbers exactly
    (our seeds drawn around each published mean with the column's run-to-run spread;
    :func:`augrepro.results.sequential.expected_seeds`)."""

    seeds: dict[tuple, float]  # grid cell -> expected seeds with adaptive seeds
    decided_adaptive: float  # the share of its published cells decided with adaptive seeds
    decided_fixed: float  # with its seed list (NaN: no seed list)


def adaptive_cost(study: dict[str, Any], published: pd.DataFrame, design: SequentialDesign) -> AdaptiveCost:
    """A grid cell goes on while one of its published cells is undecided: it takes the largest of their expected seeds
    (a lower bound of the expected largest). A cell without a published cell has one look, and so has one whose spread
    is not known before any run (hours, FGSM accuracy) or that more looks cannot decide (:func:`augrepro.results
    .sequential.worth_more_looks`): the first look's seeds, or its seed list's count where that is smaller."""
    cells = study_cells(study, published)
    fixed_of = dict(zip((tuple(c) for c in study["grid"]), study.get("grid_seeds") or ()))
    info: dict[int, tuple] = {}
    skipped = set(study.get("not_runnable") or {})
    if not cells.empty and study.get("margin"):
        assumptions = Assumptions.from_description(study.get("published_side"))
        margins = resolve_margins(study["margin"], cells, dataset_test_images, f"study {study['name']}")
        for pos, (record, margin) in enumerate(zip(cells.to_dict("records"), margins)):
            if {record["augmentation"], record["model"], record["dataset"]} & skipped or not margin.sigma > 0:
                continue
            side = assumptions.side(
                float(record["mean"]), float(record["std"]), float(record["runs"]), record["metric"]
            )
            info[pos] = (margin, side)
    seeds: dict[tuple, float] = {}
    decided: list[tuple[float, float]] = []
    for cell, positions in cell_rows(study, cells).items():
        fixed = fixed_of.get(cell)
        expected: list[float] = [one_look(design, fixed)]
        for pos in (p for p in positions if p in info):
            margin, side = info[pos]
            run = expected_seeds(design, margin.sigma, margin.value, side, fixed_seeds=fixed)
            expected.append(run.expected_seeds)
            share = math.nan
            if fixed and fixed >= 2:
                once = expected_seeds(SequentialDesign(fixed, 1, fixed, futility=0.0), margin.sigma, margin.value, side)
                share = once.reproduced + once.differs
            decided.append((run.reproduced + run.differs, share))
        seeds[cell] = max(expected[1:], default=expected[0])
    return AdaptiveCost(seeds, _mean([a for a, _ in decided]), _mean([f for _, f in decided]))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class DesignSummary:
    """A study's design in one line of the plan."""

    seeds_run: int  # the most seeds a cell of the study runs
    seeds_median: int | None  # the median over its cells of the seeds each needs for 80 % power
    seeds_needed: int | None  # the most seeds any of its cells needs for 80 % power (None: none could be computed)
    cells: int
    never: int  # cells that no number of seeds shows reproduced with 80 % power
    unknown: int  # cells whose run-to-run spread is not known before any run (no power to compute)
    margins: str  # the margins in one phrase
    decided: str = ""  # the share of its cells decided with its seed list and with adaptive seeds (simulated)

    @property
    def power_text(self) -> str:
        if not self.cells:
            return "-"
        if self.seeds_needed is None:
            return "never" if self.never else "?"
        text = (
            str(self.seeds_needed)
            if self.seeds_median == self.seeds_needed
            else f"{self.seeds_median} / {self.seeds_needed}"
        )
        return text + (f" ({self.never} never)" if self.never else "")


def _margin_phrase(cells: list[CellDesign]) -> str:
    parts = []
    for rule in ("sd", "value", "relative"):
        mine = [c.margin for c in cells if c.margin.rule == rule]
        if not mine:
            continue
        values = sorted(m.value for m in mine)
        span = f"±{values[0]:.2g}" if values[0] == values[-1] else f"±{values[0]:.2g} to ±{values[-1]:.2g}"
        if rule == "sd":
            multiples = sorted({round(m.in_sd, 2) for m in mine})
            parts.append(f"{'/'.join(f'{k:g}' for k in multiples)} σ = {span} (median {statistics.median(values):.2g})")
        elif rule == "value":
            in_sd = [m.in_sd for m in mine if not math.isnan(m.in_sd)]
            parts.append(span + (f" ({min(in_sd):.2g}-{max(in_sd):.2g} σ)" if in_sd else ""))
        else:
            parts.append(f"{span} (relative)")
    return "; ".join(parts)


def summarize_design(cells: list[CellDesign], seeds_run: int) -> DesignSummary:
    needed = [c.seeds_for_power for c in cells if c.seeds_for_power is not None]
    return DesignSummary(
        seeds_run,
        int(statistics.median_high(needed)) if needed else None,
        max(needed) if needed else None,
        len(cells),
        sum(c.seeds_for_power is None and c.spread_known for c in cells),
        sum(not c.spread_known for c in cells),
        _margin_phrase(cells),
    )


DESIGN_NOTE = (
    f"power {TARGET_POWER:.0%}: the seeds per cell that give a published cell's equivalence test {TARGET_POWER:.0%} "
    "power when our runs reproduce it exactly with the column's run-to-run spread (median / largest over the study's "
    "runnable cells); 'never': cells that no number of seeds up to 100 shows reproduced, the published number's own "
    "noise being too large for the margin (a single published run; such a cell can still be found to differ); '?': "
    "no run-to-run spread is known before any run (hours, FGSM); margins: declared in each study file with their "
    "reason (σ: the column's run-to-run std; augrepro plan --margins lists every column)"
)
