"""The detection fine-tuning and test (its recipe: :mod:`augrepro.studies.evaluations`): the detector
(:mod:`augrepro.evaluate.detection_model`) fine-tuned on VOC's training images (:mod:`augrepro.evaluate.detection_data`)
and tested on its test images, the result written to ``detection.json``.

* SGD with momentum 0.9 in two parameter groups (:func:`parameter_groups`): the weights with ``weight_decay``;
  the biases with ``bias_lr_factor`` x the lr and, unless ``bias_decay`` is false, the same weight decay
  (faster-rcnn.pytorch trainval_net.py: no decay on biases, TRAIN.BIAS_DECAY False; Detectron2:
  WEIGHT_DECAY_BIAS = WEIGHT_DECAY); the lr warms up linearly from ``warmup_factor x lr`` over ``warmup_iters``
  iterations, then is multiplied by ``gamma`` at each step in ``milestones`` (Detectron2's WarmupMultiStepLR).
* The backbone's weights are the recipe's ``checkpoint`` of the run: ``best`` (best.pt) or ``final``.
* The loop is resumable (:mod:`augrepro.train.resumable`): ``resume.pt`` is written every ``checkpoint_every``
  iterations and at SIGTERM, and a job started where it exists continues from it (the same data stream: a function
  of the detection seed and the iteration); a NaN or infinite loss stops the job before it writes any output.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from augrepro.data.datasets import get_spec
from augrepro.data.normalization import Normalization
from augrepro.data.voc import load_voc_index
from augrepro.evaluate.checkpoint import execution_setup, load_checkpoint
from augrepro.evaluate.detection_data import IterationSampler, VocImages, collate
from augrepro.evaluate.detection_model import build_detector
from augrepro.evaluate.voc_map import VocResult, evaluate_voc
from augrepro.io import atomic_write_text
from augrepro.provenance import describe_environment, device_name
from augrepro.runs import RESUME_FILE
from augrepro.studies.evaluations import check_detection
from augrepro.train.numerics import Numerics
from augrepro.train.resumable import Preempted, ResumeFile, StopFlag, check_finite
from augrepro.train.streams import restore_torch_global, torch_global_state

# The detection resume file's kind and layout version (augrepro.train.resumable.ResumeFile).
RESUME_KIND, RESUME_VERSION = "detection", 1


def parameter_groups(model: torch.nn.Module, recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The trainable parameters in two SGD groups: the weights (the recipe's weight decay) and the biases (every
    parameter whose name ends in ``bias``: ``bias_lr_factor`` x the lr, no weight decay unless ``bias_decay``), as
    faster-rcnn.pytorch's trainval_net.py builds its groups ('bias' in the name: lr x (DOUBLE_BIAS + 1), weight
    decay BIAS_DECAY and WEIGHT_DECAY or 0) and Detectron2's solver (BIAS_LR_FACTOR, WEIGHT_DECAY_BIAS). Each
    group's ``lr_factor`` scales the schedule's lr (:func:`lr_at`)."""
    weights: list[torch.nn.Parameter] = []
    biases: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (biases if name.endswith("bias") else weights).append(param)
    decay = float(recipe["weight_decay"])
    return [
        {"params": weights, "weight_decay": decay, "lr_factor": 1.0},
        {
            "params": biases,
            "weight_decay": decay if recipe["bias_decay"] else 0.0,
            "lr_factor": float(recipe["bias_lr_factor"]),
        },
    ]


def lr_at(recipe: dict[str, Any], iteration: int) -> float:
    """The lr of a 0-based iteration: linear warm-up, then x gamma at each milestone reached."""
    lr = recipe["lr"] * recipe["gamma"] ** sum(iteration >= m for m in recipe["milestones"])
    if iteration < recipe["warmup_iters"]:
        alpha = iteration / recipe["warmup_iters"]
        lr *= recipe["warmup_factor"] * (1 - alpha) + alpha
    return lr


class FineTuning:
    """The detector's fine-tuning: its optimizer, where it is (iteration, logged losses, training seconds), its
    resume file (read at the start, written every ``checkpoint_every`` iterations and at SIGTERM)."""

    def __init__(self, model, values: dict[str, Any], resume: ResumeFile, device, accel: Numerics, log) -> None:
        self.model, self.values, self.resume, self.device, self.accel, self.log = (
            model,
            values,
            resume,
            device,
            accel,
            log,
        )
        self.optimizer = torch.optim.SGD(parameter_groups(model, values), lr=values["lr"], momentum=values["momentum"])
        self.losses: list[list[float]] = []  # per iteration: [iteration, loss, each part]
        self.iteration, self.train_seconds = 0, 0.0
        self.rng: dict[str, Any] | None = None  # the global generators of the resume file, restored by train()

    def load(self) -> None:
        """Continue from the resume file when there is one (of this very recipe, seed and backbone run)."""
        state = self.resume.load(self.device)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration, self.losses = int(state["iteration"]), list(state["losses"])
        self.train_seconds = float(state["train_seconds"])
        self.rng = state.get("rng")  # absent in a file written before the global generators were saved
        self.log(f"resuming from {self.resume.path} at iteration {self.iteration}")

    def save(self) -> None:
        self.resume.save(
            {
                "iteration": self.iteration,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "losses": self.losses,
                "train_seconds": self.train_seconds,
                # torch's global generators: the RPN's and the RoI head's samplers draw from them (torchvision's
                # BalancedPositiveNegativeSampler, torch.randperm), so a resumed fine-tuning draws what it would have
                "rng": torch_global_state(),
            },
        )

    def step(self, images, targets) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One SGD step at the schedule's lr of this iteration; returns the loss and its parts."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.values, self.iteration) * group["lr_factor"]
        images = [im.to(self.device, non_blocking=True).float().div_(255.0) for im in images]
        targets = [{k: v.to(self.device, non_blocking=True) for k, v in t.items()} for t in targets]
        with self.accel.autocast():
            loss_dict = self.model(images, targets)
        loss = sum(v.float() for v in loss_dict.values())
        at = self.iteration + 1

        def where(_: int) -> str:
            return f"at iteration {at} ({ {k: round(float(v.detach()), 4) for k, v in loss_dict.items()} })"

        check_finite(
            loss.detach().reshape(1),
            where,
            "lower the detection recipe's lr or warm it up longer (warmup_iters)",
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss, loss_dict

    def train(self, index, seed: int, workers: int) -> None:
        """Fine-tune from the current iteration to the recipe's last on the index's training images."""
        values, iterations = self.values, self.values["iterations"]
        data = VocImages(index, index.train)
        sampler = IterationSampler(len(data), values["batch_size"], seed, self.iteration, iterations)
        loader = torch.utils.data.DataLoader(
            data, batch_sampler=sampler, num_workers=workers, collate_fn=collate, pin_memory=self.device.type == "cuda"
        )
        self.model.train()
        batches = iter(loader)  # creating it draws the loader's base seed from the global generator
        if self.rng is not None:  # then the generators as they were at the save, as if never interrupted
            restore_torch_global(self.rng)
        bar = tqdm(
            total=iterations,
            initial=self.iteration,
            desc="VOC fine-tuning",
            unit="it",
            file=sys.stderr,
            mininterval=10.0,
        )
        segment = time.perf_counter()
        with StopFlag() as stop:
            for images, targets, _ids in batches:
                loss, loss_dict = self.step(images, targets)
                self.iteration += 1
                bar.update(1)
                if self.iteration % 20 == 0 or self.iteration == iterations:
                    self._log_losses(loss, loss_dict)
                if stop.anywhere() and self.iteration < iterations:
                    self.train_seconds += time.perf_counter() - segment
                    self.save()
                    raise Preempted.saved(f"at iteration {self.iteration}", self.resume.path)
                if self.iteration % values["checkpoint_every"] == 0 and self.iteration < iterations:
                    self.train_seconds += time.perf_counter() - segment
                    segment = time.perf_counter()
                    self.save()
        bar.close()
        self.train_seconds += time.perf_counter() - segment
        if self.iteration != iterations:
            raise RuntimeError(f"training stopped at iteration {self.iteration} of {iterations}")

    def _log_losses(self, loss: torch.Tensor, loss_dict: dict[str, torch.Tensor]) -> None:
        parts = {k: v.item() for k, v in loss_dict.items()}
        self.losses.append([self.iteration, loss.item(), *parts.values()])
        self.log(
            f"iteration {self.iteration}/{self.values['iterations']} lr {lr_at(self.values, self.iteration - 1):.3g} "
            f"loss {loss.item():.4f} " + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
        )


@torch.no_grad()
def detect(model, index, indices, batch_size: int, device, workers: int, accel, log) -> list[dict]:
    """The detector's output on ``indices`` of the index: per image boxes (original coordinates), scores and
    0-based labels."""
    model.eval()
    data = VocImages(index, indices)
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate
    )
    out: list[dict] = []
    bar = tqdm(total=len(data), desc="VOC test", unit="img", file=sys.stderr, mininterval=10.0)
    for images, _targets, _ids in loader:
        images = [im.to(device, non_blocking=True).float().div_(255.0) for im in images]
        with accel.autocast():
            results = model(images)
        for r in results:
            out.append(
                {
                    "boxes": r["boxes"].float().cpu().numpy(),
                    "scores": r["scores"].float().cpu().numpy(),
                    "labels": r["labels"].cpu().numpy() - 1,
                }
            )
        bar.update(len(images))
    bar.close()
    return out


def test_detector(model, index, values: dict[str, Any], device, workers: int, accel: Numerics, log) -> VocResult:
    """The fine-tuned detector's AP on the index's test images, at the recipe's test resolution and metric."""
    # the test resolution: torchvision's transform takes min_size[-1] in eval mode
    model.transform.min_size = (values["test_min_size"],)
    model.transform.max_size = values["test_max_size"]
    detections = detect(model, index, index.test, values["test_batch_size"], device, workers, accel, log)
    ground_truth = []
    for image in index.test:
        boxes, labels, difficult = index.objects(int(image))
        ground_truth.append({"boxes": boxes, "labels": labels, "difficult": difficult})
    return evaluate_voc(
        detections, ground_truth, len(index.classes), tuple(values["iou_thresholds"]), values["metric"] == "voc07"
    )


def run_detection(
    checkpoint: str | Path,
    voc_index: str | Path,
    out_json: str | Path,
    recipe: dict[str, Any],
    seed: int,
    execution: dict[str, Any] | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune a Faster R-CNN on the backbone of ``checkpoint`` (the run's weights file the recipe's
    ``checkpoint`` names; VOC train split), test it (VOC test split) and write ``out_json`` (mAP, mAP50, mAP75 in
    percent, AP per class). ``seed`` is the detection seed."""
    values = check_detection(recipe)
    log, device, workers = execution_setup(execution, threads, log)
    accel = Numerics(device, values["numerics"]).apply()
    wall = time.perf_counter()
    out_json = Path(out_json)

    torch.manual_seed(seed)
    loaded = load_checkpoint(checkpoint, torch.device("cpu"))
    key, protocol = loaded.resolved.key, loaded.resolved.protocol
    norm = Normalization.of(protocol.normalize, get_spec(key.dataset))
    model = build_detector(loaded.model, values, norm.mean, norm.std).to(device)
    index = load_voc_index(voc_index)
    resume = ResumeFile(
        out_json.parent / RESUME_FILE, RESUME_KIND, RESUME_VERSION, {"recipe": values, "seed": seed, "run": key.label()}
    )
    tuning = FineTuning(model, values, resume, device, accel, log)
    tuning.load()
    log(
        f"detection: backbone {key.label()} ({key.model}, {protocol.architecture}; {values['checkpoint']} "
        f"weights, epoch {loaded.epoch}), head {values['head']} ({values['roi_pool']} {values['roi_size']}), "
        f"{len(index.train)} training / {len(index.test)} test images, {values['iterations']} iterations of "
        f"{values['batch_size']} images, lr {values['lr']} (x{values['gamma']} at {values['milestones']}), "
        f"seed {seed}, on {device} ({device_name(device)}), numerics {accel.setting} (bf16 {accel.bf16}, tf32 {accel.tf32})"
    )
    tuning.train(index, seed, workers)
    test_start = time.perf_counter()
    result = test_detector(model, index, values, device, workers, accel, log)
    out = {
        "run": loaded.identity(),
        "recipe": recipe.get("name"),
        "checkpoint": loaded.record(values["checkpoint"]),
        "detection_seed": seed,
        **_result_record(result, values, index.classes),
        "train_images": int(len(index.train)),
        "test_images": int(len(index.test)),
        "iterations": values["iterations"],
        "losses": tuning.losses,
        "recipe_values": values,
        "train_seconds": tuning.train_seconds,
        "test_seconds": time.perf_counter() - test_start,
        "wall_seconds": time.perf_counter() - wall,
        "device": device.type,
        "device_name": device_name(device),
        "bf16": accel.bf16,
        "numerics": accel.describe(),
        **describe_environment(),
    }
    atomic_write_text(out_json, json.dumps(out, indent=2, default=str) + "\n")
    resume.remove()
    log("detection: " + ", ".join(f"{k} {v:.2f}" for k, v in result.summary().items()))
    return out


def _result_record(result: VocResult, values: dict[str, Any], classes) -> dict[str, Any]:
    """The detection result's metrics: mAP, mAP50, mAP75 (percent), what they are, and the AP per class."""
    thresholds = tuple(values["iou_thresholds"])
    return {
        **result.summary(),
        "metric": ("VOC07 11-point AP" if values["metric"] == "voc07" else "all-point AP")
        + f" per class, mean over classes; IoU thresholds {list(thresholds)}; difficult objects ignored",
        "ap_per_class": {
            f"{threshold:.2f}": {
                cls: (None if math.isnan(ap) else 100.0 * ap) for cls, ap in zip(classes, result.ap[row])
            }
            for row, threshold in enumerate(thresholds)
        },
    }
