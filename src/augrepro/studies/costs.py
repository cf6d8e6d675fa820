"""What a run and an evaluation job cost, estimated before any run: GPU-hours on the reference GPU.

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
  training and ``proposals_test`` at test; proposal selection and NMS are not counted), kept in
  ``resources/detection_costs.csv`` (regenerated with the model table; counted when a shape is missing).

It is an estimate of the order of magnitude on a 2020 GPU: small models keep a GPU less busy than their
FLOPs suggest, and bf16 on a recent GPU is several times faster.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from augrepro.augment import method_cost
from augrepro.data.datasets import get_spec
from augrepro.data.file_pipelines import file_pipeline_size
from augrepro.io import atomic_write_text
from augrepro.models import build_model
from augrepro.resolved import ResolvedRun
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

    net = build_model(model, num_classes, architecture, **options).to("meta")
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(1, 3, image_size, image_size, device="meta"))
    return counter.get_total_flops() / 2e9, sum(p.numel() for p in net.parameters())


def run_shape(run: ResolvedRun) -> tuple[str, str, int, int]:
    """(model, architecture, input size, classes) of a resolved run."""
    spec, protocol = get_spec(run.key.dataset), run.protocol
    pipeline = protocol.pipeline or {}
    if spec.kind == "files":  # the size the file pipeline crops to (the SnapMix code's 448, ImageNet's 224)
        size = file_pipeline_size(pipeline)
    else:
        size = int(pipeline.get("size") or spec.image_size)
    options = protocol.model_options or {}
    arch = run.architecture + (
        "[" + ";".join(f"{k}={json.dumps(v)}" for k, v in sorted(options.items())) + "]" if options else ""
    )
    return run.key.model, arch, size, spec.num_classes


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


def reference_rate(costs: dict) -> float:
    """Work per hour on the reference GPU, from the published time of the reference run."""
    ref = REFERENCE
    shape = reference_shape()
    gmacs = costs.get(shape) or forward_gmacs(*shape)[0]
    return ref["epochs"] * (3 * ref["train_images"] + ref["test_images"]) * gmacs / ref["hours"]


def estimate_hours(run: ResolvedRun, costs: dict, rate: float) -> float | None:
    """Estimated GPU-hours of one run on the reference GPU; None when its model's cost is not in the table."""
    gmacs = costs.get(run_shape(run))
    if gmacs is None:
        return None
    spec, protocol = get_spec(run.key.dataset), run.protocol
    train = min(spec.train_images, protocol.max_train_images or spec.train_images)
    test = min(spec.test_images, protocol.max_test_images or spec.test_images)
    return protocol.epochs * (3 * train * method_cost(run.method) + test) * gmacs / rate


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
    run = selection.resolved_run(job.run)
    recipe = selection.evaluation_recipe(job.kind, job.recipe)
    if job.kind == "fgsm":
        gmacs = costs.get(run_shape(run))
        if gmacs is None:
            return None
        spec = get_spec(run.key.dataset)
        test = min(spec.test_images, run.protocol.max_test_images or spec.test_images)
        return test * FGSM_FORWARDS * gmacs / rate
    values = check_detection(recipe)
    voc = get_spec("voc")
    train, test = (detection_cost(*shape) for shape in detection_shapes(run.key.model, values))
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


def cost_entries(selection) -> list[tuple[str, str, int, int]]:
    """Every (model, architecture, size, classes) that the selection's runs need."""
    return sorted({run_shape(selection.resolved_run(k)) for k in selection.runs})


def detection_entries(selection) -> list[tuple[str, str, int, int]]:
    """Every detection shape (:func:`detection_shapes`) that the selection's evaluation jobs need."""
    entries: set[tuple[str, str, int, int]] = set()
    for job in selection.jobs_of("detection"):
        recipe = check_detection(selection.evaluation_recipe(job.kind, job.recipe))
        entries.update(detection_shapes(job.run.model, recipe))
    return sorted(entries)


def write_costs(selections, path: str | Path = DEFAULT_COSTS, detection_path: str | Path = DETECTION_COSTS) -> None:
    """Count the forward MACs of every run shape of ``selections`` (and of the reference run) into ``path``, and
    those of every detection shape of their evaluation jobs into ``detection_path``."""
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
