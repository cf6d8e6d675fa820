"""Evaluation recipes (``config/evaluations.yaml``): named FGSM and detection settings, each value cited.

``fgsm:`` and ``detection:`` each map a recipe name to its values; every recipe is checked when the file is
loaded (:func:`check_fgsm`, :func:`check_detection`), so a bad one fails before any job starts, naming the file,
the recipe and the key. The compute that runs them (:mod:`augrepro.evaluate.fgsm`,
:mod:`augrepro.evaluate.detection_finetune`) reads the values these checks return; this module imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from augrepro.errors import ConfigError
from augrepro.runs import CHECKPOINTS
from augrepro.studies.protocols import NUMERICS

KINDS = ("fgsm", "detection")


def check_checkpoint(values: dict[str, Any], where: str) -> str:
    """A recipe's ``checkpoint`` (required: each recipe says which weights its source evaluated)."""
    choice = values.get("checkpoint")
    if choice not in CHECKPOINTS:
        raise ValueError(
            f"{where}: checkpoint is {choice!r}; expected one of {', '.join(CHECKPOINTS)} (best: the best epoch's "
            "weights, best.pt; final: the last epoch's, checkpoint.pt), citing the source's choice"
        )
    return choice


# --- FGSM (augrepro.evaluate.fgsm) ---------------------------------------------------------------------------

FGSM_DEFAULTS = {"epsilon": 8.0 / 255.0, "clip": True, "batch_size": 100, "checkpoint": None}  # None: required


def check_fgsm(recipe: dict[str, Any], where: str = "fgsm recipe") -> dict[str, Any]:
    """An FGSM recipe with its defaults; a bad value names the key."""
    values = {**FGSM_DEFAULTS, **{k: v for k, v in recipe.items() if k not in ("title", "name")}}
    unknown = sorted(set(values) - set(FGSM_DEFAULTS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(FGSM_DEFAULTS)}")
    eps = values["epsilon"]
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 <= eps <= 1:
        raise ValueError(
            f"{where}: epsilon is {eps!r}; expected a number in [0, 1] (pixels in [0, 1]: 8/255 = 0.0313725)"
        )
    if not isinstance(values["clip"], bool):
        raise ValueError(f"{where}: clip is {values['clip']!r}; expected true or false")
    bs = values["batch_size"]
    if not isinstance(bs, int) or isinstance(bs, bool) or bs < 1:
        raise ValueError(f"{where}: batch_size is {bs!r}; expected an integer >= 1")
    check_checkpoint(values, where)
    return values


# --- detection transfer (augrepro.evaluate.detection_finetune) -------------------------------------------------------

DETECTION_HEADS = ("c4", "fpn")
DETECTION_METRICS = ("voc07", "all_point")
ROI_POOLS = ("align", "align_v2", "crop")  # augrepro.evaluate.detection_model.RoIPooler
# What a detection recipe holds; None: required.
DETECTION_DEFAULTS: dict[str, Any] = {
    "head": "c4",
    "batch_size": None,
    "lr": None,
    "momentum": 0.9,
    "weight_decay": 1.0e-4,
    "iterations": None,
    "milestones": None,
    "gamma": 0.1,
    "warmup_iters": 0,
    "warmup_factor": 0.001,
    "min_size": None,
    "max_size": None,
    "test_min_size": None,
    "test_max_size": None,
    "anchor_sizes": [32, 64, 128, 256, 512],
    "rois_per_image": 512,
    "proposals_train": 2000,
    "proposals_test": 1000,
    "metric": "voc07",
    "iou_thresholds": [0.5],
    "numerics": "fp32",
    "checkpoint_every": 1000,
    "test_batch_size": 8,
    "checkpoint": None,  # best | final: which weights of the run (augrepro.evaluate.checkpoint)
    "roi_pool": "align_v2",  # Detectron2's ROIAlignV2 (torchvision's C4 models have none)
    "roi_size": 14,  # Detectron2 ROI_BOX_HEAD.POOLER_RESOLUTION
    "test_score_thresh": 0.05,  # Detectron2 ROI_HEADS.SCORE_THRESH_TEST, torchvision's box_score_thresh
    "test_nms": 0.5,  # Detectron2 ROI_HEADS.NMS_THRESH_TEST, torchvision's box_nms_thresh
    "detections_per_image": 100,  # Detectron2 TEST.DETECTIONS_PER_IMAGE, torchvision's box_detections_per_img
    "bias_decay": True,  # Detectron2 SOLVER.WEIGHT_DECAY_BIAS None: the weights' decay
    "bias_lr_factor": 1.0,  # Detectron2 SOLVER.BIAS_LR_FACTOR
}


def check_detection(recipe: dict[str, Any], where: str = "detection recipe") -> dict[str, Any]:
    """A detection recipe with its defaults filled in; each bad value names its key and what is expected."""
    values = {k: v for k, v in recipe.items() if k not in ("title", "name")}
    unknown = sorted(set(values) - set(DETECTION_DEFAULTS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(DETECTION_DEFAULTS)}")
    check_checkpoint(values, where)  # first: its message says what to choose
    missing = [k for k, v in DETECTION_DEFAULTS.items() if v is None and k not in values]
    if missing:
        raise ValueError(f"{where}: lacks {', '.join(missing)}")
    values = {**DETECTION_DEFAULTS, **values}

    def positive_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def expect(key, ok, what) -> None:
        if not ok:
            raise ValueError(f"{where}: {key} is {values[key]!r}; expected {what}")

    expect("head", values["head"] in DETECTION_HEADS, f"one of {', '.join(DETECTION_HEADS)}")
    for key in (
        "batch_size",
        "iterations",
        "max_size",
        "test_min_size",
        "test_max_size",
        "checkpoint_every",
        "test_batch_size",
        "rois_per_image",
        "proposals_train",
        "proposals_test",
        "roi_size",
        "detections_per_image",
    ):
        expect(key, positive_int(values[key]), "an integer >= 1")
    expect("roi_pool", values["roi_pool"] in ROI_POOLS, f"one of {', '.join(ROI_POOLS)}")
    expect(
        "test_score_thresh",
        number(values["test_score_thresh"]) and 0 <= values["test_score_thresh"] < 1,
        "a number in [0, 1)",
    )
    expect("test_nms", number(values["test_nms"]) and 0 < values["test_nms"] <= 1, "an IoU in (0, 1]")
    expect("bias_decay", isinstance(values["bias_decay"], bool), "true or false")
    expect("bias_lr_factor", number(values["bias_lr_factor"]) and values["bias_lr_factor"] > 0, "a number > 0")
    expect("lr", number(values["lr"]) and values["lr"] > 0, "a number > 0")
    expect("momentum", number(values["momentum"]) and 0 <= values["momentum"] < 1, "a number in [0, 1)")
    expect("weight_decay", number(values["weight_decay"]) and values["weight_decay"] >= 0, "a number >= 0")
    expect("gamma", number(values["gamma"]) and 0 < values["gamma"] <= 1, "a number in (0, 1]")
    milestones = values["milestones"]
    expect(
        "milestones",
        isinstance(milestones, list)
        and all(positive_int(m) for m in milestones)
        and milestones == sorted(milestones)
        and all(m < values["iterations"] for m in milestones),
        "an increasing list of iterations below 'iterations'",
    )
    expect("warmup_iters", isinstance(values["warmup_iters"], int) and values["warmup_iters"] >= 0, "an integer >= 0")
    expect("warmup_factor", number(values["warmup_factor"]) and 0 < values["warmup_factor"] <= 1, "a number in (0, 1]")
    sizes = values["min_size"]
    expect(
        "min_size",
        isinstance(sizes, list) and sizes and all(positive_int(s) for s in sizes),
        "a list of shorter-side lengths (one is picked at random per image in training)",
    )
    anchors = values["anchor_sizes"]
    expect(
        "anchor_sizes",
        isinstance(anchors, list) and anchors and all(positive_int(a) for a in anchors),
        "a list of anchor sides",
    )
    if values["head"] == "fpn":  # one size per pyramid level: layer1-layer4 and the max-pooled level
        expect("anchor_sizes", len(anchors) == 5, "five sizes with head fpn, one per pyramid level")
    expect("metric", values["metric"] in DETECTION_METRICS, f"one of {', '.join(DETECTION_METRICS)}")
    thresholds = values["iou_thresholds"]
    expect(
        "iou_thresholds",
        isinstance(thresholds, list) and thresholds and all(number(t) and 0 < t < 1 for t in thresholds),
        "a list of IoUs in (0, 1)",
    )
    expect("numerics", values["numerics"] in NUMERICS, f"one of {', '.join(NUMERICS)}")
    return values


def load_evaluations(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"fgsm": {name: values}, "detection": {name: values}}`` with each recipe's ``name`` set."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config key 'evaluations': {path} not found; point it at config/evaluations.yaml")
    with open(path, encoding="utf-8") as fh:
        try:
            raw = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or set(raw) - set(KINDS):
        raise ConfigError(f"{path}: expected sections {', '.join(KINDS)} (recipe name -> values), got {sorted(raw)}")
    checks = {"fgsm": check_fgsm, "detection": check_detection}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in KINDS:
        recipes = raw.get(kind) or {}
        if not isinstance(recipes, dict):
            raise ConfigError(f"{path}: '{kind}' must map a recipe name to its values")
        out[kind] = {}
        for name, values in recipes.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: {kind} recipe {name!r} must be a mapping of values")
            try:
                checks[kind](values, f"{path}: {kind} recipe {name!r}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            out[kind][str(name)] = {**values, "name": str(name)}
    return out
