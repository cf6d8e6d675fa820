"""The plan before the bill: per study, runs in all, runs done, runs shared, the estimated GPU-hours and which price
they use, the seeds its cells run and need for 80 % power, its margins, and its expected GPU-hours with adaptive seeds.

The GPU-hours of a run or an evaluation job are estimated from counted FLOPs (:mod:`augrepro.studies.costs`, which
says how), or, where the pilot (``--config pilot=true``, ``augrepro pilot``) measured a run's shape on the user's own
GPUs, priced on that measurement (:func:`augrepro.studies.pilot.run_device_hours`); each study says which price it used
(the ``price`` column: ``pilot``, ``FLOPs``, or ``pilot+FLOPs`` for a study priced partly on each, with the GPUs
measured on). Evaluation jobs are always priced on the FLOP estimate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from augrepro.augment import method_cost
from augrepro.results.design import (
    DESIGN_NOTE,
    AdaptiveCost,
    DesignSummary,
    adaptive_cost,
    study_design,
    summarize_design,
)
from augrepro.results.published import load_published
from augrepro.results.sequential import SequentialDesign
from augrepro.runs import RunKey
from augrepro.studies.costs import estimate_hours, evaluation_hours, load_costs, reference_rate
from augrepro.studies.pilot import has_results, load_pilot, run_device_hours, shapes_of


@dataclass
class PlanRow:
    study: str
    runs: int
    done: int
    shared: int
    gpus: int
    gpu_hours: float | None
    gpu_hours_left: float | None
    skipped: str = ""
    evaluations: int = 0  # evaluation jobs (FGSM, detection fine-tuning), counted in the GPU-hours
    partial: str = ""  # the datasets the study runs without here, and why
    design: DesignSummary | None = None  # its margins and the seeds they need for 80 % power (augrepro.results.design)
    adaptive_hours: float | None = None  # expected GPU-hours with adaptive seeds (its own design, or the config's)
    adaptive: bool = False  # the study runs adaptive seeds here (gpu_hours: its file's seed lists)
    measured: int = 0  # runs priced on the pilot's measurements (the others and every evaluation job: FLOP estimate)
    measured_on: tuple[str, ...] = ()  # the devices those measurements ran on
    notes: tuple[str, ...] = ()  # the pilot's shapes that failed or went stale, on the total row

    @property
    def price(self) -> str:
        """Which price the GPU-hours use: ``pilot`` (every job measured), ``FLOPs`` (none) or ``pilot+FLOPs``."""
        if not self.measured:
            return "FLOPs"
        return "pilot" if self.measured == self.runs + self.evaluations else "pilot+FLOPs"


def _sum_known(values: Sequence[float | None]) -> float | None:
    """The sum of ``values``, or None when any is unknown (None)."""
    known = [v for v in values if v is not None]
    return None if len(known) < len(values) else sum(known)


def plan_rows(selection, costs: dict | None = None) -> list[PlanRow]:
    """One row per chosen study (skipped ones with their reason), then one for the union of the runs; "done"
    counts the runs whose outputs exist under the selection's project folder."""
    costs = load_costs() if costs is None else costs
    rate = reference_rate(costs)
    published = load_published(selection.published_dir)
    described = {entry["name"]: entry for entry in selection.describe()["studies"]}
    hours = {key: estimate_hours(selection.resolved_run(key), costs, rate) for key in selection.runs}
    hours.update({job: evaluation_hours(selection, job, costs, rate) for job in selection.evaluation_jobs})
    measured, notes = measured_prices(selection)
    hours.update({key: price for key, (price, _) in measured.items()})
    done = {key for key in selection.runs if key.is_done(selection.root)}
    done |= {job for job in selection.evaluation_jobs if job.is_done(selection.root)}
    owners: dict = {}
    for study in selection.studies:
        for key in study.runs():
            owners.setdefault(key, []).append(study.name)

    def total(keys) -> float | None:
        return _sum_known([hours[k] for k in keys])

    # a run's price does not depend on its seed: the pilot's price of a cell holds for its seeds not yet chosen
    # (an adaptive study's later looks)
    measured_cells = {key.cell: price for key, (price, _) in measured.items()}

    def run_hours(cell: tuple[str, str, str, str]) -> float | None:
        if cell in measured_cells:
            return measured_cells[cell]
        return estimate_hours(selection.resolved_run(RunKey(*cell, 0)), costs, rate)

    def seeds_hours(cells: dict[tuple[str, str, str, str], float]) -> float | None:
        return _sum_known([seeds * h if (h := run_hours(cell)) is not None else None for cell, seeds in cells.items()])

    def pilot(keys) -> dict:
        """How many of ``keys`` the pilot priced, and on which devices."""
        devices = dict.fromkeys(measured[k][1] for k in keys if k in measured)
        return {"measured": sum(k in measured for k in keys), "measured_on": tuple(devices)}

    rows = []
    union: dict[
        tuple, float
    ] = {}  # grid cell -> the most seeds any chosen study gives it, expected with adaptive seeds
    evaluations_total: float | None = 0.0
    for study in selection.studies:
        keys = study.runs()
        jobs = study.evaluation_jobs()
        fixed = study.fixed_runs()
        for key in fixed:
            if key not in hours:
                hours[key] = run_hours(key.cell)
        cost = adaptive_cells(described[study.name], published, study, selection)
        cells = cost.seeds if cost else {k.cell: float(len(g.seeds)) for g in study.grids for k in g.runs([0])}
        for cell, seeds in cells.items():
            union[cell] = max(union.get(cell, 0.0), seeds)
        jobs_hours = total(jobs)
        evaluations_total = None if evaluations_total is None or jobs_hours is None else evaluations_total + jobs_hours
        expected = seeds_hours(cost.seeds) if cost else None
        design = summarize_design(
            study_design(described[study.name], published), max(len(g.seeds) for g in study.grids)
        )
        if cost and not math.isnan(cost.decided_adaptive):
            design = dataclasses.replace(
                design,
                decided="cells decided, simulated with the published numbers as the truth: "
                + (f"{cost.decided_fixed:.0%} with its seed list, " if not math.isnan(cost.decided_fixed) else "")
                + f"{cost.decided_adaptive:.0%} with adaptive seeds",
            )
        rows.append(
            PlanRow(
                study=study.name,
                runs=len(keys),
                done=sum(k in done for k in keys),
                shared=sum(len(owners[k]) > 1 for k in keys),
                gpus=study.resources["gpus"],
                gpu_hours=total(fixed + jobs) if fixed else None,
                gpu_hours_left=total([k for k in (fixed or keys) + jobs if k not in done]),
                evaluations=len(jobs),
                partial=selection.partial.get(study.name, ""),
                adaptive_hours=expected,
                adaptive=bool(study.adaptive),
                design=design,
                **pilot(keys),
            )
        )
    for name, reason in selection.skipped.items():
        rows.append(PlanRow(name, 0, 0, 0, 0, None, None, skipped=reason))
    rows.append(
        PlanRow(
            study="all chosen studies (each run once)",
            runs=len(selection.runs),
            done=len(done),
            shared=sum(len(v) > 1 for v in owners.values()),
            gpus=max((s.resources["gpus"] for s in selection.studies), default=0),
            gpu_hours=total(selection.runs + selection.evaluation_jobs),
            gpu_hours_left=total([k for k in selection.runs + selection.evaluation_jobs if k not in done]),
            evaluations=len(selection.evaluation_jobs),
            adaptive_hours=None
            if evaluations_total is None or (union_hours := seeds_hours(union)) is None
            else union_hours + evaluations_total,
            notes=tuple(notes),
            **pilot(selection.runs),
        )
    )
    return rows


def adaptive_cells(entry: dict, published, study, selection) -> AdaptiveCost | None:
    """A study under adaptive seeds (its own design, or the config's): None for a study whose verdicts need
    evaluations (it keeps its seed lists)."""
    if study.evaluations:
        return None
    design = SequentialDesign(**(study.adaptive or selection.adaptive_design))
    return adaptive_cost(entry, published, design)


def pilot_shapes(selection) -> dict:
    """The pilot's shapes of the selection's runs (augrepro.studies.pilot.shapes_of), each measured on its costliest
    method by its declared cost (:func:`augrepro.augment.method_cost`), so that its price is an upper bound for the
    shape's other methods."""
    return shapes_of(selection, method_cost)


def measured_prices(selection) -> tuple[dict, list[str]]:
    """The GPU-hours of every run whose shape the pilot measured (run -> (GPU-hours, device name)), and a line for
    each shape whose pilot failed or went stale (its runs keep the FLOP estimate). Nothing when no pilot ran."""
    if not has_results(selection.root):
        return {}, []
    shapes = pilot_shapes(selection)
    results = load_pilot(selection, shapes)
    prices, notes = {}, []
    for key, shape in shapes.items():
        result = results[key]
        if result.state == "measured":
            record = result.record
            if record is None:
                raise ValueError(f"the pilot of {key.label()} is measured but holds no result record")
            device = record["device_name"]
            for run in shape.runs:
                prices[run] = (run_device_hours(record, selection.resolved_run(run).protocol.epochs), device)
        elif result.state in ("failed", "stale"):
            notes.append(f"pilot {result.state}: {key.label()}: {result.reason} (its runs: FLOP estimate)")
    return prices, notes


def format_plan(rows: list[PlanRow]) -> str:
    def hours(value) -> str:
        return "?" if value is None else f"{value:,.1f}"

    width = max(len(r.study) for r in rows)
    lines = [
        f"{'study':<{width}}  {'runs':>5}  {'done':>5}  {'shared':>6}  {'evals':>5}  {'GPU-h':>9}  {'GPU-h left':>10}  "
        f"{'adaptive':>9}  {'seeds':>5}  {'power 80%':>16}  price"
    ]
    for r in rows:
        if r.skipped:
            lines.append(f"{r.study:<{width}}  skipped: {r.skipped}")
            continue
        seeds = (("~" if r.adaptive else "") + str(r.design.seeds_run)) if r.design else ""
        power = r.design.power_text if r.design else ""
        adaptive = "-" if r.adaptive_hours is None else hours(r.adaptive_hours)
        lines.append(
            f"{r.study:<{width}}  {r.runs:>5}  {r.done:>5}  {r.shared:>6}  {r.evaluations:>5}  {hours(r.gpu_hours):>9}  "
            f"{hours(r.gpu_hours_left):>10}  {adaptive:>9}  {seeds:>5}  {power:>16}  {r.price}"
        )
        if r.design and r.design.margins:
            lines.append(f"{'':<{width}}  margins: {r.design.margins}")
        if r.design and r.design.decided:
            lines.append(f"{'':<{width}}  {r.design.decided}")
        if r.partial:
            lines.append(f"{'':<{width}}  {r.partial}")
        if r.measured:
            rest = r.runs + r.evaluations - r.measured
            lines.append(
                f"{'':<{width}}  price: {r.measured} runs measured on {', '.join(r.measured_on)}"
                + (f"; {rest} jobs on the FLOP estimate" if rest else "")
            )
    lines.append(
        "GPU-h: per study, as its price says: 'pilot': measured by the pilot on your GPUs (--config pilot=true; "
        "results/pilot/summary.csv), each run's start-up plus its epochs of training, evaluation and checkpoint at the "
        "measured rates, times its GPUs; 'FLOPs': estimated hours on one GPU of the SaliencyMix authors' kind, from each "
        "model's counted FLOPs, calibrated on the published 0.83 h of ResNet-18 on CIFAR-10 (augrepro.studies.costs); "
        "evaluation jobs (evals: FGSM passes, detection fine-tunings) included, on the FLOP estimate; '?': a model "
        "without a cost in resources/model_costs.csv"
    )
    lines.append(
        "adaptive: the expected GPU-hours with adaptive seeds (the study's design, or the config's adaptive: start, "
        "step, max, boundary), by simulation with the published means and run-to-run stds as the truth, at the same "
        "error rates (augrepro.results.sequential); '-': a study whose verdicts need evaluations keeps its seed lists"
    )
    lines.append(
        f"seeds: the seeds each cell of the study runs ('~': adaptive: the first look; GPU-h, its file's seed lists); "
        f"{DESIGN_NOTE}"
    )
    lines.extend(note for r in rows for note in r.notes)
    return "\n".join(lines)


def format_margins(selection) -> str:
    """Every published cell's margin, in points and in units of its column's run-to-run std, with the seeds it needs
    for 80 % power (``augrepro plan --margins``)."""
    published = load_published(selection.published_dir)
    lines = []
    for entry in selection.describe()["studies"]:
        if entry["status"] != "chosen":
            continue
        cells = study_design(entry, published)
        if not cells:
            continue
        lines.append(f"{entry['name']}:")
        columns: dict[tuple[str, str], list] = {}
        for cell in cells:
            columns.setdefault((cell.file, cell.column), []).append(cell)
        for (file, column), group in columns.items():
            m = group[0].margin
            in_sd = "" if math.isnan(m.in_sd) else f" = {m.in_sd:.2g} σ"
            values = sorted({round(c.margin.value, 3) for c in group})
            value = f"±{values[0]:g}" if len(values) == 1 else f"±{values[0]:g} to ±{values[-1]:g}"
            needed = [c.seeds_for_power for c in group]
            power = "never" if all(n is None for n in needed) else str(max(n for n in needed if n is not None))
            sigma = "" if math.isnan(m.sigma) else f"σ {m.sigma:.3g} ({m.sigma_source})"
            lines.append(f"  {file}: {column}: {value}{in_sd}; seeds for 80 % power: {power}; {sigma}")
        reasons = dict.fromkeys(c.margin.reason for c in cells)
        lines.extend(f"  reason: {reason}" for reason in reasons)
    return "\n".join(lines)
