"""The plan before the bill: per study, runs in all, runs done, runs shared, and the estimated GPU-hours.

How the GPU-hours are estimated (shown with the plan):

* A run's work is ``epochs x (3 x train images + test images) x forward MACs per image``: a training step
  costs about three forward passes (forward, backward to the activations, backward to the weights), a test
  image one. Forward MACs per image are counted by ``torch.utils.flop_counter.FlopCounterMode`` on the meta
  device, for each (model, architecture, input size, classes), and kept in ``resources/model_costs.csv``
  (``augrepro plan --write-costs`` regenerates it; a test checks it is current).
* The rate that turns work into hours is calibrated on the one published GPU time of this family: ResNet-18,
  CIFAR-10, 200 epochs, baseline, 0.83 h (SaliencyMix slides, training-time table; the authors' GPU).
* A method multiplies a step's cost by the cost declared with its registration (``cost`` in
  ``augrepro/augment/catalog.py``, each with its reason): the published table's ratios for Cutout, Mixup, CutMix
  and SaliencyMix, and for methods that probe the model being trained, the extra pass they make.

* Evaluation jobs (a study's ``evaluate:``) are counted the same way, at the same rate:
  an FGSM pass is ``test images x 4 x forward MACs`` (a clean forward, the attack's forward and its backward to
  the input, about two forwards, and the forward of the perturbed image); a detection fine-tuning is
  ``iterations x images per iteration x 3 x training MACs + VOC 2007 test images x test MACs``, where a Faster
  R-CNN's MACs per image are counted by the same FlopCounterMode on the meta device, part by part (the trunk
  on a 4:3 image at the recipe's mean shorter side, the RPN head, the box head on ``rois_per_image`` RoIs in
  training and ``proposals_test`` at test; proposal selection and NMS are not counted).

It is an estimate of the order of magnitude on a 2020 GPU: small models keep a GPU less busy than their
FLOPs suggest, and bf16 on a recent GPU is several times faster.

Where the pilot (``--config pilot=true``, ``augrepro pilot``) measured a run's shape on the user's own GPUs, the run
is priced on that measurement instead (:func:`augrepro.studies.pilot.run_device_hours`), and each study says which
price it used (the ``price`` column: ``pilot``, ``FLOPs``, or ``pilot+FLOPs`` for a study priced partly on each,
with the GPUs measured on). Evaluation jobs are always priced on the FLOP estimate.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

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
from augrepro.studies.evaluations import check_detection

DEFAULT_COSTS = Path(__file__).resolve().parents[3] / "resources" / "model_costs.csv"
COST_COLUMNS = ["model", "architecture", "image_size", "num_classes", "forward_gmacs", "parameters"]
# Faster R-CNN's forward GMACs per image (detection_gmacs) of each detection shape the studies fine-tune
DETECTION_COSTS = DEFAULT_COSTS.with_name("detection_costs.csv")
DETECTION_COST_COLUMNS = ["model", "head", "short_side", "rois", "forward_gmacs"]


class Reference(TypedDict):
    """The run whose published time converts work into hours: its shape (the first four :data:`COST_COLUMNS`),
    its length and its hours."""

    model: str
    architecture: str
    image_size: int
    num_classes: int
    epochs: int
    train_images: int
    test_images: int
    hours: float


# SaliencyMix slides, training-time table: ResNet-18, CIFAR-10, 200 epochs: 0.83 h (baseline).
REFERENCE: Reference = {
    "model": "resnet18",
    "architecture": "cifar",
    "image_size": 32,
    "num_classes": 10,
    "epochs": 200,
    "train_images": 50_000,
    "test_images": 10_000,
    "hours": 0.83,
}


def reference_shape() -> tuple[str, str, int, int]:
    """(model, architecture, input size, classes) of the :data:`REFERENCE` run."""
    return (REFERENCE["model"], REFERENCE["architecture"], REFERENCE["image_size"], REFERENCE["num_classes"])


def forward_gmacs(model: str, architecture: str, image_size: int, num_classes: int) -> tuple[float, int]:
    """(forward GMACs per image, parameters) of a model: its forward pass counted on the meta device (no compute).
    ``architecture`` is ``cifar`` or ``imagenet``, optionally followed by model options:
    ``cifar[final_bn=false;stem_stride=2]`` (values in JSON)."""
    arch, _, options = architecture.partition("[")
    kwargs = {k: json.loads(v) for k, v in (o.split("=", 1) for o in options.rstrip("]").split(";") if o)}
    return _count(model, arch, kwargs, image_size, num_classes)


def _count(model: str, architecture: str, options: dict, image_size: int, num_classes: int) -> tuple[float, int]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from augrepro.models import build_model

    net = build_model(model, num_classes, architecture, **options).to("meta")
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(1, 3, image_size, image_size, device="meta"))
    return counter.get_total_flops() / 2e9, sum(p.numel() for p in net.parameters())


def run_shape(resolved: dict[str, Any]) -> tuple[str, str, int, int]:
    """(model, architecture, input size, classes) of a resolved run."""
    from augrepro.data.datasets import get_spec

    spec = get_spec(resolved["dataset"])
    recipe = resolved["recipe"]
    pipeline = recipe.get("pipeline") or {}
    if spec.kind == "files":  # the size the file pipeline crops to (the SnapMix code's 448, ImageNet's 224)
        from augrepro.data.file_pipelines import file_pipeline_size

        size = file_pipeline_size(pipeline)
    else:
        size = int(pipeline.get("size") or spec.image_size)
    options = recipe.get("model_options") or {}
    arch = recipe["architecture"] + (
        "[" + ";".join(f"{k}={json.dumps(v)}" for k, v in sorted(options.items())) + "]" if options else ""
    )
    return resolved["model"], arch, size, spec.num_classes


def load_costs(path: str | Path = DEFAULT_COSTS) -> dict[tuple[str, str, int, int], float]:
    """The counted forward GMACs of the run shapes (:func:`run_shape`) in ``path``."""
    return _cost_table(path, COST_COLUMNS[:4])


def _cost_table(path: str | Path, key: list[str]) -> dict[tuple[str, str, int, int], float]:
    """A cost table: its ``key`` columns (two names, then two integers) -> its ``forward_gmacs``; empty when absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {
            (r[key[0]], r[key[1]], int(r[key[2]]), int(r[key[3]])): float(r["forward_gmacs"])
            for r in csv.DictReader(fh)
        }


def _reference_rate(costs: dict) -> float:
    """Work per hour on the reference GPU, from the published time of the reference run."""
    ref = REFERENCE
    shape = reference_shape()
    gmacs = costs.get(shape) or forward_gmacs(*shape)[0]
    return ref["epochs"] * (3 * ref["train_images"] + ref["test_images"]) * gmacs / ref["hours"]


def estimate_hours(resolved: dict[str, Any], costs: dict, rate: float) -> float | None:
    """Estimated GPU-hours of one run on the reference GPU; None when its model's cost is not in the table."""
    from augrepro.data.datasets import get_spec

    gmacs = costs.get(run_shape(resolved))
    if gmacs is None:
        return None
    spec = get_spec(resolved["dataset"])
    recipe = resolved["recipe"]
    train = min(spec.train_images, recipe.get("max_train_images") or spec.train_images)
    test = min(spec.test_images, recipe.get("max_test_images") or spec.test_images)
    factor = method_cost(resolved["method"])
    return int(recipe["epochs"]) * (3 * train * factor + test) * gmacs / rate


# FGSM: clean forward + attack forward and backward to the input (about 2 forwards) + the adversarial forward.
FGSM_FORWARDS = 4


@functools.cache
def detection_gmacs(model: str, head: str, short_side: int, rois: int, num_classes: int = 21) -> float:
    """Forward GMACs of a Faster R-CNN per image (``augrepro.evaluate.detection_model``'s design): the trunk on a 4:3
    image with shorter side ``short_side``, the RPN head, and the box head on ``rois`` regions; counted on the
    meta device."""
    import torch
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    net = getattr(torchvision.models, model)(weights=None).to("meta")
    h, w = short_side, round(short_side * 4 / 3)
    stages = [net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3]
    with FlopCounterMode(display=False) as counter:
        x = torch.empty(1, 3, h, w, device="meta")
        for m in stages:
            x = m(x)
        c3 = x.shape[1]
        if head == "c4":
            rpn_in = x
            net.layer4(torch.empty(rois, c3, 14, 14, device="meta"))
        else:
            y = net.layer4(x)
            rpn_in = torch.empty(
                1, 256, *x.shape[-2:], device="meta"
            )  # the FPN levels: about 4/3 of the stride-16 level's
            torch.nn.functional.linear(
                torch.empty(rois, 256 * 7 * 7, device="meta"), torch.empty(1024, 256 * 7 * 7, device="meta")
            )
            torch.nn.functional.linear(torch.empty(rois, 1024, device="meta"), torch.empty(1024, 1024, device="meta"))
            del y
        channels = rpn_in.shape[1]
        torch.nn.functional.conv2d(rpn_in, torch.empty(channels, channels, 3, 3, device="meta"), padding=1)
    gmacs = counter.get_total_flops() / 2e9
    return gmacs


def evaluation_hours(selection, job, costs: dict, rate: float) -> float | None:
    """Estimated GPU-hours of one evaluation job on the reference GPU (None: no cost for its model)."""
    from augrepro.data.datasets import get_spec

    run = selection.resolved(job.run)
    recipe = selection.evaluation_recipe(job.kind, job.recipe)
    if job.kind == "fgsm":
        gmacs = costs.get(run_shape(run))
        if gmacs is None:
            return None
        spec = get_spec(run["dataset"])
        test = min(spec.test_images, run["recipe"].get("max_test_images") or spec.test_images)
        return test * FGSM_FORWARDS * gmacs / rate
    values = check_detection(recipe)
    voc = get_spec("voc")
    train, test = (detection_cost(*shape) for shape in detection_shapes(run["model"], values))
    return (values["iterations"] * values["batch_size"] * 3 * train + voc.test_images * test) / rate


def detection_shapes(model: str, values: dict[str, Any]) -> tuple[tuple[str, str, int, int], tuple[str, str, int, int]]:
    """(model, head, shorter side, regions) of a detection recipe's training step (the mean of its shorter sides,
    ``rois_per_image`` regions) and of its test pass (``test_min_size``, ``proposals_test``)."""
    train_side = round(sum(values["min_size"]) / len(values["min_size"]))
    return (
        (model, values["head"], train_side, values["rois_per_image"]),
        (model, values["head"], values["test_min_size"], values["proposals_test"]),
    )


@functools.cache
def load_detection_costs(path: str | Path = DETECTION_COSTS) -> dict[tuple[str, str, int, int], float]:
    """The counted forward GMACs of the detection shapes (:func:`detection_shapes`) in ``path``."""
    return _cost_table(path, DETECTION_COST_COLUMNS[:4])


def detection_cost(model: str, head: str, short_side: int, rois: int) -> float:
    """Forward GMACs of a Faster R-CNN shape: from resources/detection_costs.csv (no torch), counted
    (:func:`detection_gmacs`) when the table lacks it."""
    known = load_detection_costs().get((model, head, short_side, rois))
    return known if known is not None else detection_gmacs(model, head, short_side, rois)


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
    rate = _reference_rate(costs)
    published = load_published(selection.published_dir)
    described = {entry["name"]: entry for entry in selection.describe()["studies"]}
    hours = {key: estimate_hours(selection.resolved(key), costs, rate) for key in selection.runs}
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
        return estimate_hours(selection.resolved(RunKey(*cell, 0)), costs, rate)

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
    from augrepro.studies.pilot import shapes_of

    return shapes_of(selection, method_cost)


def measured_prices(selection) -> tuple[dict, list[str]]:
    """The GPU-hours of every run whose shape the pilot measured (run -> (GPU-hours, device name)), and a line for
    each shape whose pilot failed or went stale (its runs keep the FLOP estimate). Nothing when no pilot ran."""
    from augrepro.studies.pilot import has_results, load_pilot, run_device_hours

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
                prices[run] = (
                    run_device_hours(record, int(selection.resolved(run)["recipe"]["epochs"])),
                    device,
                )
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
        "model's counted FLOPs, calibrated on the published 0.83 h of ResNet-18 on CIFAR-10 (augrepro.studies.plan); "
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


def cost_entries(selection) -> list[tuple[str, str, int, int]]:
    """Every (model, architecture, size, classes) that the selection's runs need."""
    return sorted({run_shape(selection.resolved(k)) for k in selection.runs})


def detection_entries(selection) -> list[tuple[str, str, int, int]]:
    """Every detection shape (:func:`detection_shapes`) that the selection's evaluation jobs need."""
    entries: set[tuple[str, str, int, int]] = set()
    for job in selection.jobs_of("detection"):
        recipe = check_detection(selection.evaluation_recipe(job.kind, job.recipe))
        entries.update(detection_shapes(selection.resolved(job.run)["model"], recipe))
    return sorted(entries)


def write_costs(selections, path: str | Path = DEFAULT_COSTS, detection_path: str | Path = DETECTION_COSTS) -> None:
    """Count the forward MACs of every run shape of ``selections`` (and of the reference run) into ``path``, and
    those of every detection shape of their evaluation jobs into ``detection_path``."""
    from augrepro.io import atomic_write_text

    entries = {reference_shape()}
    detection = set()
    for selection in selections:
        entries.update(cost_entries(selection))
        detection.update(detection_entries(selection))
    rows: list[Sequence[object]] = [COST_COLUMNS]
    for shape in sorted(entries):
        gmacs, params = forward_gmacs(*shape)
        rows.append([*shape, f"{gmacs:.9g}", params])
    atomic_write_text(Path(path), "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    rows = [DETECTION_COST_COLUMNS]
    rows += [[*shape, repr(detection_gmacs(*shape))] for shape in sorted(detection)]  # exact: the plan reads it back
    atomic_write_text(Path(detection_path), "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    load_detection_costs.cache_clear()
