"""Transfer to object detection: torchvision's Faster R-CNN with a finished run's ResNet as its backbone,
fine-tuned on Pascal VOC 2007+2012 trainval and tested on VOC 2007 test (CutMix paper section 4.3 and App. C;
SaliencyMix paper section 4.2; SalfMix section 5.4).

The backbone's weights are the classification run's checkpoint (never retrained from scratch); the rest of
the detector is new. What the recipe (``config/evaluations.yaml``, ``detection:``) fixes, each value cited
there: the schedule (images per iteration, lr, iterations, lr steps, warm-up), the input scales, the anchor
sizes, the head and the metric. What is fixed here, for both recipes, with its source:

* ``head: c4`` (default): the ResNet's stem to ``layer3`` is the trunk (stride 16), the RPN runs on its
  output, the recipe's ``roi_pool`` pools ``roi_size`` x ``roi_size`` regions (:class:`RoIPooler`: RoIAlign,
  Detectron2's ROIAlignV2, or faster-rcnn.pytorch's crop-and-resize) and ``layer4`` plus global average pooling
  is the box head, the design of the Faster R-CNN ResNet in He et al. (2016), of faster-rcnn.pytorch's
  ``resnet.py`` (the CutMix paper's detection code) and of Detectron2's ``R50-C4`` VOC configuration (its VOC
  baseline in MODEL_ZOO.md); ``head: fpn``: torchvision's ``fasterrcnn_resnet50_fpn`` design (FPN over
  ``layer1``-``layer4``, torchvision's MultiScaleRoIAlign).
* The stem and ``layer1`` are frozen and every BatchNorm is frozen with the checkpoint's statistics
  (faster-rcnn.pytorch: ``RESNET.FIXED_BLOCKS = 1``, ``TRAIN.BN_TRAIN = False``; Detectron2: ``FREEZE_AT: 2``,
  ``NORM: FrozenBN``; torchvision's default ``trainable_backbone_layers = 3``).
* Input normalization: the backbone run's own mean and std (what its weights were trained with).
* RoI sampling: ``rois_per_image`` RoIs per image (the recipe's), a quarter positive (faster-rcnn.pytorch
  ``FG_FRACTION``, Detectron2 ``POSITIVE_FRACTION``); RPN 256 anchors per image, half positive. At test time the
  recipe's ``test_score_thresh``, per-class ``test_nms`` and ``detections_per_image`` (faster-rcnn.pytorch
  test_net.py: thresh 0.0, TEST.NMS 0.3, max_per_image 100; Detectron2: 0.05, 0.5, 100).
* Horizontal flip with probability 0.5 during training (faster-rcnn.pytorch ``TRAIN.USE_FLIPPED``,
  Detectron2 ``RandomFlip``); difficult objects are used in training and ignored by the metric (both codes).
* SGD with momentum 0.9 in two parameter groups (:func:`parameter_groups`): the weights with ``weight_decay``;
  the biases with ``bias_lr_factor`` x the lr and, unless ``bias_decay`` is false, the same weight decay
  (faster-rcnn.pytorch trainval_net.py: no decay on biases, TRAIN.BIAS_DECAY False; Detectron2:
  WEIGHT_DECAY_BIAS = WEIGHT_DECAY); the lr warms up linearly from ``warmup_factor x lr`` over ``warmup_iters``
  iterations, then is multiplied by ``gamma`` at each step in ``milestones`` (Detectron2's WarmupMultiStepLR).
* The backbone's weights are the recipe's ``checkpoint`` of the run: ``best`` (best.pt) or ``final``.

The data order is a function of (detection seed, iteration) alone: a resumed job (``resume.pt``, written
every ``checkpoint_every`` iterations and at SIGTERM) continues the same stream.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import MultiScaleRoIAlign

HEADS = ("c4", "fpn")
METRICS = ("voc07", "all_point")
ROI_POOLS = ("align", "align_v2", "crop")  # RoIPooler
# What a detection recipe holds; None: required.
RECIPE_DEFAULTS: dict[str, Any] = {
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


def check_recipe(recipe: dict[str, Any], where: str = "detection recipe") -> dict[str, Any]:
    """A detection recipe with its defaults filled in; each bad value names its key and what is expected."""
    values = {k: v for k, v in recipe.items() if k not in ("title", "name")}
    unknown = sorted(set(values) - set(RECIPE_DEFAULTS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(RECIPE_DEFAULTS)}")
    from augrepro.evaluate.checkpoint import check_checkpoint

    check_checkpoint(values, where)  # first: its message says what to choose
    missing = [k for k, v in RECIPE_DEFAULTS.items() if v is None and k not in values]
    if missing:
        raise ValueError(f"{where}: lacks {', '.join(missing)}")
    values = {**RECIPE_DEFAULTS, **values}

    def positive_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def expect(key, ok, what) -> None:
        if not ok:
            raise ValueError(f"{where}: {key} is {values[key]!r}; expected {what}")

    expect("head", values["head"] in HEADS, f"one of {', '.join(HEADS)}")
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
    expect("metric", values["metric"] in METRICS, f"one of {', '.join(METRICS)}")
    thresholds = values["iou_thresholds"]
    expect(
        "iou_thresholds",
        isinstance(thresholds, list) and thresholds and all(number(t) and 0 < t < 1 for t in thresholds),
        "a list of IoUs in (0, 1)",
    )
    from augrepro.studies.protocols import NUMERICS

    expect("numerics", values["numerics"] in NUMERICS, f"one of {', '.join(NUMERICS)}")
    return values


# --- the detector --------------------------------------------------------------------------------------


def _freeze_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Every BatchNorm2d replaced by a FrozenBatchNorm2d holding its statistics and affine parameters."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            _freeze_batchnorm(child)
    return module


def _channels(layer: torch.nn.Sequential) -> int:
    """Output channels of a torchvision ResNet stage (its last block's last BatchNorm)."""
    block = layer[-1]
    bn = getattr(block, "bn3", None) or block.bn2
    return int(bn.weight.shape[0])


class _Trunk(torch.nn.Module):
    """C4 trunk: the ResNet's stem, layer1, layer2 and layer3 (stride 16)."""

    def __init__(self, resnet) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1, resnet.layer2, resnet.layer3
        )
        self.out_channels = _channels(resnet.layer3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Res5Head(torch.nn.Module):
    """C4 box head: layer4 on the pooled 14 x 14 regions, then global average pooling."""

    def __init__(self, resnet) -> None:
        super().__init__()
        self.layer4 = resnet.layer4
        self.out_channels = _channels(resnet.layer4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.layer4(x), 1), 1)


class RoIPooler(MultiScaleRoIAlign):
    """The C4 head's RoI pooling of the trunk's one feature map (stride 16), as torchvision's ``box_roi_pool``
    (a MultiScaleRoIAlign, which FasterRCNN requires, on the level ``"0"``; given the proposals of each image in its
    resized coordinates):

    * ``align``: RoIAlign with ``size`` x ``size`` bins and adaptive sampling (sampling ratio 0), without the
      half-pixel shift: faster-rcnn.pytorch's ``ROIAlign((POOLING_SIZE, POOLING_SIZE), 1/16, 0)`` (branch
      pytorch-1.0, lib/model/roi_layers/roi_align.py) and torchvision's MultiScaleRoIAlign (``aligned=False``);
    * ``align_v2``: the same with the half-pixel shift (``aligned=True``): Detectron2's ``ROIAlignV2``
      (detectron2/modeling/poolers.py), its C4 default (config/defaults.py ROI_BOX_HEAD.POOLER_TYPE);
    * ``crop``: faster-rcnn.pytorch master's crop-and-resize (lib/model/faster_rcnn/faster_rcnn.py, POOLING_MODE
      crop): a ``2 size`` x ``2 size`` grid of bilinear samples from the box's first corner to its last
      (lib/model/utils/net_utils.py _affine_grid_gen: affine_grid, corners aligned; zero outside the map), then
      2 x 2 max-pooling (config.py CROP_RESIZE_WITH_MAX_POOL True)."""

    STRIDE = 16  # the C4 trunk's (faster-rcnn.pytorch: rois / 16.0)

    def __init__(self, mode: str, size: int) -> None:
        super().__init__(["0"], int(size), sampling_ratio=0)
        if mode not in ROI_POOLS:
            raise ValueError(f"roi_pool {mode!r}; valid: {', '.join(ROI_POOLS)}")
        self.mode, self.size = mode, int(size)

    def forward(self, features, proposals: list[torch.Tensor], image_shapes=None) -> torch.Tensor:
        x = features["0"] if isinstance(features, dict) else features
        if self.mode != "crop":
            from torchvision.ops import roi_align

            return roi_align(
                x, proposals, self.size, 1.0 / self.STRIDE, sampling_ratio=0, aligned=self.mode == "align_v2"
            )
        return torch.nn.functional.max_pool2d(self._crop(x, proposals, 2 * self.size), 2, 2)

    def _crop(self, x: torch.Tensor, proposals: list[torch.Tensor], grid: int) -> torch.Tensor:
        """grid x grid bilinear samples spanning each box corner to corner (align_corners: -1 and 1 are the centres
        of the first and last feature cells), one grid_sample call per image."""
        channels, height, width = x.shape[1:]
        steps = torch.linspace(0.0, 1.0, grid, device=x.device, dtype=x.dtype)
        out = []
        for image, boxes in enumerate(proposals):
            b = boxes.to(x.dtype) / self.STRIDE
            xs = b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * steps  # R x grid, in feature cells
            ys = b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * steps
            gx = xs * (2.0 / max(width - 1, 1)) - 1.0
            gy = ys * (2.0 / max(height - 1, 1)) - 1.0
            n = len(b)
            points = torch.stack([gx[:, None, :].expand(n, grid, grid), gy[:, :, None].expand(n, grid, grid)], -1)
            sampled = torch.nn.functional.grid_sample(
                x[image : image + 1],
                points.reshape(1, n * grid, grid, 2),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=True,
            )  # 1 x C x (n grid) x grid
            out.append(sampled.reshape(channels, n, grid, grid).permute(1, 0, 2, 3))
        return torch.cat(out) if out else x.new_zeros(0, channels, grid, grid)


def parameter_groups(model: torch.nn.Module, recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The trainable parameters in two SGD groups: the weights (the recipe's weight decay) and the biases (every
    parameter whose name ends in ``bias``: ``bias_lr_factor`` x the lr, no weight decay unless ``bias_decay``), as
    faster-rcnn.pytorch's trainval_net.py builds its groups ('bias' in the name: lr x (DOUBLE_BIAS + 1), weight
    decay BIAS_DECAY and WEIGHT_DECAY or 0) and Detectron2's solver (BIAS_LR_FACTOR, WEIGHT_DECAY_BIAS). Each
    group's ``lr_factor`` scales the schedule's lr (:func:`lr_at`)."""
    weights, biases = [], []
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


def build_detector(
    resnet: torch.nn.Module, recipe: dict[str, Any], mean, std, num_classes: int = 21
) -> torch.nn.Module:
    """Faster R-CNN (torchvision) around a torchvision ResNet whose weights it takes over; ``num_classes``
    includes the background."""
    import torchvision
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    if not isinstance(resnet, torchvision.models.ResNet):
        raise ValueError(
            f"the detection backbone must be a torchvision (ImageNet-style) ResNet, not {type(resnet).__name__}: "
            "train the backbone runs with a protocol of architecture: imagenet"
        )
    resnet = _freeze_batchnorm(resnet)
    for module in (resnet.conv1, resnet.layer1):  # stem and layer1 frozen; bn1 is frozen above
        for param in module.parameters():
            param.requires_grad_(False)
    common = dict(
        num_classes=None,
        min_size=tuple(recipe["min_size"]),
        max_size=recipe["max_size"],
        image_mean=list(mean),
        image_std=list(std),
        box_score_thresh=recipe["test_score_thresh"],
        box_nms_thresh=recipe["test_nms"],
        box_detections_per_img=recipe["detections_per_image"],
        box_batch_size_per_image=recipe["rois_per_image"],
        box_positive_fraction=0.25,
        rpn_batch_size_per_image=256,
    )
    ratios = (0.5, 1.0, 2.0)
    if recipe["head"] == "c4":
        trunk = _Trunk(resnet)
        head = _Res5Head(resnet)
        anchors = AnchorGenerator(sizes=(tuple(recipe["anchor_sizes"]),), aspect_ratios=(ratios,))
        model = FasterRCNN(
            trunk,
            rpn_anchor_generator=anchors,
            box_roi_pool=RoIPooler(recipe["roi_pool"], recipe["roi_size"]),
            box_head=head,
            box_predictor=FastRCNNPredictor(head.out_channels, num_classes),
            # 12000 / 6000 proposals before NMS (train / test): faster-rcnn.pytorch and Detectron2 Base-RCNN-C4;
            # after NMS: the recipe's proposals_train / proposals_test
            rpn_pre_nms_top_n_train=12000,
            rpn_pre_nms_top_n_test=6000,
            rpn_post_nms_top_n_train=recipe["proposals_train"],
            rpn_post_nms_top_n_test=recipe["proposals_test"],
            **common,
        )
    else:
        from torchvision.models.detection.backbone_utils import BackboneWithFPN

        stages = [_channels(getattr(resnet, f"layer{i}")) for i in range(1, 5)]
        fpn = BackboneWithFPN(
            resnet,
            return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
            in_channels_list=stages,
            out_channels=256,
            extra_blocks=torchvision.ops.feature_pyramid_network.LastLevelMaxPool(),
        )
        sizes = tuple((s,) for s in recipe["anchor_sizes"])
        anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(ratios,) * len(sizes))
        model = FasterRCNN(
            fpn,
            rpn_anchor_generator=anchors,
            rpn_post_nms_top_n_train=recipe["proposals_train"],
            rpn_post_nms_top_n_test=recipe["proposals_test"],
            box_predictor=FastRCNNPredictor(1024, num_classes),  # torchvision's TwoMLPHead: 1024 features
            **common,
        )
    return model


# --- the data ------------------------------------------------------------------------------------------


class VocImages(torch.utils.data.Dataset):
    """Images of the VOC index (uint8 decoded by torchvision) with their targets (labels + 1: 0 is the
    background); ``flips[i]`` mirrors image i horizontally (boxes too)."""

    def __init__(self, index, indices) -> None:
        self.index = index
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item):
        k, flip = item if isinstance(item, tuple) else (item, False)
        from torchvision.io import ImageReadMode, decode_image, read_file

        i = int(self.indices[k])
        image = decode_image(read_file(self.index.path(i)), mode=ImageReadMode.RGB)
        boxes, labels, _ = self.index.objects(i)
        boxes = torch.as_tensor(np.array(boxes), dtype=torch.float32).reshape(-1, 4)
        if flip:
            image = image.flip(-1)
            width = image.shape[-1]
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
        return image, {"boxes": boxes, "labels": torch.as_tensor(np.array(labels), dtype=torch.int64) + 1}, i


def iteration_batch(n: int, batch_size: int, seed: int, iteration: int) -> list[tuple[int, bool]]:
    """The (image, flip) pairs of one training iteration: a function of (seed, iteration) alone. Images come
    in a fresh random order each pass over the training set (seeded by the pass), flips from the iteration's
    own generator."""
    out = []
    first = iteration * batch_size
    flips = torch.rand(batch_size, generator=torch.Generator().manual_seed(seed * 1_000_003 + iteration + 7)) < 0.5
    for j in range(batch_size):
        epoch, pos = divmod(first + j, n)
        perm = torch.randperm(
            n, generator=torch.Generator().manual_seed(seed * 1_000_003 + 1_000_000_007 * (epoch + 1))
        )
        out.append((int(perm[pos]), bool(flips[j])))
    return out


def _collate(items):
    return [it[0] for it in items], [it[1] for it in items], [it[2] for it in items]


class _BatchSampler(torch.utils.data.Sampler):
    def __init__(self, n, batch_size, seed, start, stop) -> None:
        self.n, self.batch_size, self.seed, self.start, self.stop = n, batch_size, seed, start, stop

    def __iter__(self):
        for it in range(self.start, self.stop):
            yield iteration_batch(self.n, self.batch_size, self.seed, it)

    def __len__(self) -> int:
        return self.stop - self.start


def lr_at(recipe: dict[str, Any], iteration: int) -> float:
    """The lr of a 0-based iteration: linear warm-up, then x gamma at each milestone reached."""
    lr = recipe["lr"] * recipe["gamma"] ** sum(iteration >= m for m in recipe["milestones"])
    if iteration < recipe["warmup_iters"]:
        alpha = iteration / recipe["warmup_iters"]
        lr *= recipe["warmup_factor"] * (1 - alpha) + alpha
    return lr


# --- fine-tuning and testing -----------------------------------------------------------------------------


@torch.no_grad()
def detect(model, index, indices, batch_size: int, device, workers: int, accel, log) -> list[dict]:
    """The detector's output on ``indices`` of the index: per image boxes (original coordinates), scores and
    0-based labels."""
    from tqdm import tqdm

    model.eval()
    data = VocImages(index, indices)
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate
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


# The detection resume file's kind and layout version (augrepro.train.resumable.ResumeFile).
RESUME_KIND, RESUME_VERSION = "detection", 1


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
    from augrepro.data.datasets import get_spec
    from augrepro.data.normalization import Normalization
    from augrepro.data.voc import load_voc_index
    from augrepro.evaluate.checkpoint import execution_setup, load_checkpoint
    from augrepro.evaluate.voc_map import evaluate_voc
    from augrepro.io import atomic_write_text
    from augrepro.provenance import describe_environment, device_name
    from augrepro.runs import RESUME_FILE, RunKey, identity_record
    from augrepro.train.numerics import Numerics
    from augrepro.train.resumable import Preempted, ResumeFile, StopFlag, check_finite

    values = check_recipe(recipe)
    log, device, workers = execution_setup(execution, threads, log)
    accel = Numerics(device, values["numerics"]).apply()
    wall = time.perf_counter()
    out_json = Path(out_json)

    torch.manual_seed(seed)
    loaded = load_checkpoint(checkpoint, torch.device("cpu"))
    run, backbone = loaded.run, loaded.model
    key = RunKey(run["protocol"], run["dataset_key"], run["model"], run["augmentation"], int(run["seed"]))
    norm = Normalization.of(run["recipe"], get_spec(run["dataset"]))
    model = build_detector(backbone, values, norm.mean, norm.std).to(device)
    index = load_voc_index(voc_index)
    optimizer = torch.optim.SGD(parameter_groups(model, values), lr=values["lr"], momentum=values["momentum"])
    resume = ResumeFile(
        out_json.parent / RESUME_FILE, RESUME_KIND, RESUME_VERSION, {"recipe": values, "seed": seed, "run": key.label()}
    )
    start, losses_log, train_seconds = 0, [], 0.0
    state = resume.load(device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses_log, train_seconds = int(state["iteration"]), list(state["losses"]), float(state["train_seconds"])
        log(f"resuming from {resume.path} at iteration {start}")

    def save(iteration: int) -> None:
        resume.save(
            {
                "iteration": iteration,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "losses": losses_log,
                "train_seconds": train_seconds,
            },
        )

    log(
        f"detection: backbone {key.label()} ({run['model']}, {run['recipe']['architecture']}; {values['checkpoint']} "
        f"weights, epoch {loaded.epoch}), head {values['head']} ({values['roi_pool']} {values['roi_size']}), "
        f"{len(index.train)} training / {len(index.test)} test images, {values['iterations']} iterations of "
        f"{values['batch_size']} images, lr {values['lr']} (x{values['gamma']} at {values['milestones']}), "
        f"seed {seed}, on {device} ({device_name(device)}), numerics {accel.setting} (bf16 {accel.bf16}, tf32 {accel.tf32})"
    )
    data = VocImages(index, index.train)
    sampler = _BatchSampler(len(data), values["batch_size"], seed, start, values["iterations"])
    loader = torch.utils.data.DataLoader(
        data, batch_sampler=sampler, num_workers=workers, collate_fn=_collate, pin_memory=device.type == "cuda"
    )
    from tqdm import tqdm

    model.train()
    bar = tqdm(
        total=values["iterations"], initial=start, desc="VOC fine-tuning", unit="it", file=sys.stderr, mininterval=10.0
    )
    iteration = start
    segment = time.perf_counter()
    with StopFlag() as stop:
        for images, targets, _ids in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(values, iteration) * group["lr_factor"]
            images = [im.to(device, non_blocking=True).float().div_(255.0) for im in images]
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
            with accel.autocast():
                loss_dict = model(images, targets)
            loss = sum(v.float() for v in loss_dict.values())
            check_finite(
                loss.detach().reshape(1),
                lambda _, at=iteration + 1, parts=loss_dict: (
                    f"at iteration {at} ({ {k: round(float(v.detach()), 4) for k, v in parts.items()} })"
                ),
                "lower the detection recipe's lr or warm it up longer (warmup_iters)",
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            iteration += 1
            bar.update(1)
            if iteration % 20 == 0 or iteration == values["iterations"]:
                parts = {k: v.item() for k, v in loss_dict.items()}
                losses_log.append([iteration, loss.item(), *parts.values()])
                log(
                    f"iteration {iteration}/{values['iterations']} lr {lr_at(values, iteration - 1):.3g} loss {loss.item():.4f} "
                    + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
                )
            if stop.anywhere() and iteration < values["iterations"]:
                train_seconds += time.perf_counter() - segment
                save(iteration)
                raise Preempted.saved(f"at iteration {iteration}", resume.path)
            if iteration % values["checkpoint_every"] == 0 and iteration < values["iterations"]:
                train_seconds += time.perf_counter() - segment
                segment = time.perf_counter()
                save(iteration)
    bar.close()
    train_seconds += time.perf_counter() - segment
    if iteration != values["iterations"]:
        raise RuntimeError(f"training stopped at iteration {iteration} of {values['iterations']}")

    # the test resolution: torchvision's transform takes min_size[-1] in eval mode
    model.transform.min_size = (values["test_min_size"],)
    model.transform.max_size = values["test_max_size"]
    test_start = time.perf_counter()
    detections = detect(model, index, index.test, values["test_batch_size"], device, workers, accel, log)
    ground_truth = []
    for image in index.test:
        boxes, labels, difficult = index.objects(int(image))
        ground_truth.append({"boxes": boxes, "labels": labels, "difficult": difficult})
    thresholds = tuple(values["iou_thresholds"])
    result = evaluate_voc(detections, ground_truth, len(index.classes), thresholds, values["metric"] == "voc07")
    summary = result.summary()
    out = {
        "run": identity_record(key, run["method"], run["method_params"].get("variant")),
        "recipe": recipe.get("name"),
        "checkpoint": loaded.record(values["checkpoint"]),
        "detection_seed": seed,
        **summary,
        "metric": ("VOC07 11-point AP" if values["metric"] == "voc07" else "all-point AP")
        + f" per class, mean over classes; IoU thresholds {list(thresholds)}; difficult objects ignored",
        "ap_per_class": {
            f"{threshold:.2f}": {
                cls: (None if math.isnan(ap) else 100.0 * ap) for cls, ap in zip(index.classes, result.ap[row])
            }
            for row, threshold in enumerate(thresholds)
        },
        "train_images": int(len(index.train)),
        "test_images": int(len(index.test)),
        "iterations": values["iterations"],
        "losses": losses_log,
        "recipe_values": values,
        "train_seconds": train_seconds,
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
    log("detection: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items()))
    return out
