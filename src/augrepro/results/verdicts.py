"""A study's verdicts as data: its published cells and its claims against our runs, written as CSV files.

``results/verdicts/{study}.csv`` has one row per published cell and matching row of ours
(:data:`augrepro.results.compare.VERDICT_COLUMNS`, with the study first): ours, published, the difference and
its interval, the margin and its reason, the published side's assumption, the p-values raw and adjusted, the
outcome, and the seeds that would decide it. ``{study}.claims.csv`` has one row per claim and
``{study}.claim_cells.csv`` one row per claim and cell (:mod:`augrepro.results.claims`). The report reads these
files and computes no statistic itself; a user can filter, plot or diff them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from augrepro.io import atomic_write_csv
from augrepro.results.adaptive import design_of, runs_of_cells, sequential_verdicts
from augrepro.results.claims import CLAIM_CELL_COLUMNS, CLAIM_COLUMNS, evaluate_claims
from augrepro.results.compare import VERDICT_COLUMNS, compare
from augrepro.results.published import load_published, to_bool
from augrepro.results.scope import compare_options, grid_mask, study_cells

# The rule, as the report opens with it: three lines, then the details folded under them.
VERDICT_RULE = (
    "Each published number is compared with the mean of our seeds: reproduced when the 90 % interval of "
    "ours − published lies inside the margin ±δ that the study declared before any run, better or worse when it "
    "lies entirely outside it, inconclusive otherwise (with the seeds that would decide it at 80 % power).",
    "δ is twice the run-to-run standard deviation of one run (the stds the table prints, else the binomial bound of "
    "its test set), and the published number keeps its own noise: a mean ± std over its runs, or a single draw "
    "whose spread comes from our seeds.",
    "A table's cells are adjusted together (Benjamini-Hochberg). A claim holds when every comparison it makes holds, "
    "and fails when one is significantly reversed (Holm); an improvement claim also tests whether our gain "
    "matches the published gain.",
)
VERDICT_DETAILS = (
    (
        "Ours",
        "The mean over seeds of the statistic the protocol's source reports: the best epoch's test error for the "
        "SaliencyMix, CutMix, SalfMix and RegNet code, the median of the last 10 epochs for PuzzleMix's, the final "
        "epoch for the cells quoted from Cutout's code; top-5 at the epoch of the best top-1; the wall hours of a "
        "run; a finished run's FGSM accuracy or detection mAP (higher is better there, so better means above). A "
        "cell is compared only with runs of its own protocol.",
    ),
    (
        "The test",
        "Welch's t: two one-sided tests at level 0.05 (the 90 % interval of the difference) for equivalence within "
        "±δ, and the one-sided minimum-effect test for a difference beyond δ (augrepro.results.stats, on "
        "scipy.stats).",
    ),
    (
        "Margins",
        "Each study declares its margins (margin: in its file, with the reason), before any run. The default rule is "
        "δ = 2σ, σ the run-to-run standard deviation of one run in the cell's column: the root mean square of the "
        "stds the column prints; where none is printed, the binomial bound sqrt(e(1-e)/N) of the independent-errors "
        "model (Jordan, ICLR 2024) at the column's published error e and N test images; for VOC detection mAP, "
        "MoCo's stated std. Hours: 25 % of the published time (the paper's GPU is not ours). Each cell shows δ in "
        "points and in units of σ (augrepro.results.margins).",
    ),
    (
        "The published side",
        "A mean ± std over n runs is a sample (Welch). A std printed without a run count is a sample of the count "
        "the study assumes (default 2, the most conservative), and the cell says whether its verdict changes under "
        "the other plausible counts. A mean without a std is n draws (one where the source does not say) whose "
        "spread is taken from our seeds: a prediction interval. A value is exact only where the study says so "
        "(augrepro.results.assumptions).",
    ),
    (
        "Several cells",
        "The p-values of a table's cells are adjusted together (Benjamini-Hochberg, false-discovery rate 0.05) "
        "before the outcome is read; a cell decided before the adjustment and not after it says so.",
    ),
    (
        "Seeds that would decide it",
        "For an undecided cell: the smallest number of seeds at which it is decided with 80 % probability if our "
        "true mean and spread are the observed ones (simulated; at the level the table's adjustment leaves it). "
        "The plan prints, per study, the seeds that give each cell 80 % power before any run "
        "(augrepro.results.power).",
    ),
    (
        "Claims",
        "Improvement claims: the direction (paired t over the seeds both methods share) and, separately, whether our "
        "gain is equivalent to the published gain within the claim's margin (default: half the published gain). "
        "Best-of claims: the method against each other one. Ranking claims: every adjacent pair of the published "
        "order keeps its direction (Kendall's tau is shown as a summary). A claim holds when every comparison in "
        "every cell holds (an intersection-union test, level 0.05 without adjustment); it fails when one is "
        "significantly reversed after Holm's adjustment over its comparisons and cells.",
    ),
    (
        "Other outcomes",
        "failed: every run of ours for the cell failed; missing: not run; not runnable: the study says why.",
    ),
)


def verdict_paths(study: str, folder: str | Path = "results/verdicts") -> dict[str, Path]:
    """The three verdict files of a study."""
    folder = Path(folder)
    return {
        "cells": folder / f"{study}.csv",
        "claims": folder / f"{study}.claims.csv",
        "claim_cells": folder / f"{study}.claim_cells.csv",
    }


@dataclass(frozen=True)
class Verdicts:
    """One study's verdict tables."""

    cells: pd.DataFrame  # study + VERDICT_COLUMNS
    claims: pd.DataFrame  # CLAIM_COLUMNS
    claim_cells: pd.DataFrame  # CLAIM_CELL_COLUMNS


def study_verdicts(
    study: dict[str, Any],
    published: pd.DataFrame,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    status: pd.DataFrame | None = None,
) -> Verdicts:
    """The verdicts of one study (an entry of ``Selection.describe()``): its published cells against its own runs
    (:func:`augrepro.results.compare.compare`) and its claims (:func:`augrepro.results.claims.evaluate_claims`).

    A study with fixed seeds compares every seed of its cells that exists (``summary``); a study with adaptive
    seeds replays its design on ``runs`` (:func:`augrepro.results.adaptive.sequential_verdicts`): each cell uses
    exactly the seeds of its looks, on which the design's error rates rest."""
    grid = study["grid"]
    cells = study_cells(study, published)
    options = compare_options(study)
    study_runs = runs[grid_mask(runs, grid)] if len(runs) else runs
    design = design_of(study)
    if design is not None:
        interim = sequential_verdicts(study, cells, study_runs, design, compare_options=options)
        verdicts = interim.table
        used = {cell: state.seeds for cell, state in interim.cells.items()}
        study_runs = runs_of_cells(study_runs, used)
    else:
        ours = summary[grid_mask(summary, grid)] if len(summary) else summary
        st = status[grid_mask(status, grid)] if status is not None and len(status) else None
        verdicts = compare(ours, cells, status=st, **options)
    verdicts = verdicts.reindex(columns=VERDICT_COLUMNS)
    verdicts.insert(0, "study", study["name"])
    claims, claim_cells = evaluate_claims(
        study.get("claims", []),
        study_runs,
        cells,
        study["reported"],
        grid,
        options["assumptions"],
        study=study["name"],
    )
    return Verdicts(verdicts, claims, claim_cells)


def read_table(path: str | Path | None) -> pd.DataFrame:
    """A CSV the workflow wrote (an empty frame for None or an empty file); a missing file is an error."""
    if path is None:
        return pd.DataFrame()
    if not Path(path).is_file():
        raise ValueError(f"{path}: file not found (run the aggregation first)")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def write_verdicts(
    study: dict[str, Any],
    summary_csv: str | Path,
    runs_csv: str | Path,
    published_dir: str | Path,
    out: Mapping[str, str | Path],
    status_csv: str | Path | None = None,
) -> Verdicts:
    """Compute a study's verdicts from the aggregated CSVs and write its three files (``out``: cells, claims,
    claim_cells, as :func:`verdict_paths` names them), each atomically."""
    verdicts = study_verdicts(
        study,
        load_published(published_dir),
        read_table(summary_csv),
        read_table(runs_csv),
        read_table(status_csv) if status_csv is not None else None,
    )
    atomic_write_csv(Path(out["cells"]), verdicts.cells)
    atomic_write_csv(Path(out["claims"]), verdicts.claims)
    atomic_write_csv(Path(out["claim_cells"]), verdicts.claim_cells)
    return verdicts


def write_chosen_verdicts(
    studies: dict[str, Any],
    summary_csv: str | Path,
    runs_csv: str | Path,
    published_dir: str | Path,
    folder: str | Path,
    status_csv: str | Path | None = None,
) -> dict[str, Verdicts]:
    """:func:`write_verdicts` for every chosen study of ``Selection.describe()`` into ``folder`` (the partial
    report's, which also marks the cells whose runs failed from ``status_csv``)."""
    return {
        study["name"]: write_verdicts(
            study, summary_csv, runs_csv, published_dir, verdict_paths(study["name"], folder), status_csv
        )
        for study in studies.get("studies", [])
        if study["status"] == "chosen"
    }


def read_verdicts(paths: Mapping[str, str | Path]) -> Verdicts:
    """A study's verdict files, as written by :func:`write_verdicts`."""
    cells = read_table(paths["cells"]).reindex(columns=["study", *VERDICT_COLUMNS])
    if len(cells):
        cells["traditional"] = [to_bool(v) for v in cells["traditional"]]
    return Verdicts(
        cells,
        read_table(paths["claims"]).reindex(columns=CLAIM_COLUMNS),
        read_table(paths["claim_cells"]).reindex(columns=CLAIM_CELL_COLUMNS),
    )
