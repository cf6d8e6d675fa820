"""The report's view model: what the page shows, as typed values that hold numbers, not text.

:func:`study_sections` builds one :class:`Section` per chosen study: its verdicts as paper-shaped tables
(:mod:`augrepro.report.tables`), its claims (:mod:`augrepro.report.claims`), the names that cannot run, our runs
without a published cell and its figures; :class:`Page` is the whole report (the studies that did not run, the failed
runs, the gallery, provenance). Nothing here reads or writes a file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from augrepro.data.datasets import dataset_label
from augrepro.report.claims import Claim, claims_of
from augrepro.report.figures import forest, hours_vs_published, learning_curves, ours_vs_published
from augrepro.report.tables import DEFAULT_LAYOUT, Table, comparison_tables
from augrepro.report.values import Estimate, as_int, as_number, as_text
from augrepro.results.cells import unmatched
from augrepro.results.compare import VERDICTS
from augrepro.results.published import to_bool
from augrepro.results.scope import grid_mask, study_cells
from augrepro.results.verdicts import Verdicts


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
        return Estimate(as_number(r.get(f"{column}_mean")), as_number(r.get(f"{column}_std")))

    return [
        OwnRow(
            dataset=dataset_label(r["dataset"], to_bool(r["traditional"])),
            model=r["model"],
            augmentation=r["augmentation"],
            method=r.get("method", r["augmentation"]),
            variant=as_text(r.get("variant")),
            n=int(r["n"]),
            epochs=as_int(r.get("epochs")),
            best=estimate(r, "best_top1_error"),
            final=estimate(r, "final_top1_error"),
            median10=estimate(r, "median_last10_top1_error"),
            hours=as_number(r.get("hours_mean")),
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
            as_text(r["reason"]),
        )
        for _, r in failed.iterrows()
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
