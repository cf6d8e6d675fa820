"""Baseline, Cutout, Mixup and CutMix."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augrepro.augment.base import (
    Augmentation,
    Context,
    MixResult,
    beta_parameter,
    identity,
    param,
    probability,
    register,
)
from augrepro.augment.boxes import box_masks, clipped_box, cut_size, paste_boxes
from augrepro.transfer import device_tensor, to_device


def _batch_box(n: int, box, device) -> torch.Tensor:
    return device_tensor([box], device, torch.long).expand(n, 4)


# No mixing: the plain training of the SaliencyMix/Cutout code.
@register("baseline")
@dataclass
class Baseline(Augmentation):
    source = "no augmentation beyond the dataset's crop/flip"

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        return identity(images)


# Cutout (DeVries & Taylor 2017; uoguelph-mlrg/Cutout util/cutout.py): one square hole per image,
# centre uniform, clipped at borders, zero *after* normalization. ``per_batch``: the Cutout of the SnapMix code
# (utils/mixmethod.py cutout: rand_bbox with lam 0.75, i.e. a box of half the side, one centre for the whole
# batch, zero after normalization).
@register("cutout")
@dataclass
class Cutout(Augmentation):
    length: int | None = param(None, low=1)  # None: the dataset's length (16 on CIFAR-10, 8 on CIFAR-100)
    n_holes: int = param(1, low=1)
    per_batch: bool = False  # True: one hole position shared by the batch (SnapMix code); False: per image
    source = "Cutout code util/cutout.py (hole after normalization); per_batch: SnapMix code utils/mixmethod.py cutout"

    def bind(self, spec) -> None:
        if self.length is None:
            self.length = spec.cutout_length

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        length = self.length
        if length is None:
            raise RuntimeError("cutout: no hole length; bind(spec) sets the dataset's (its cutout_length)")
        n, _, h, w = images.shape
        keep = torch.ones(n, 1, h, w, dtype=torch.bool, device=images.device)
        boxes = None
        draws = 1 if self.per_batch else n
        for _ in range(self.n_holes):
            cy = to_device(torch.randint(0, h, (draws,), generator=ctx.generator), images.device).expand(n)
            cx = to_device(torch.randint(0, w, (draws,), generator=ctx.generator), images.device).expand(n)
            boxes = torch.stack(clipped_box(cy, cx, length, length, h, w), 1)
            keep &= ~box_masks(boxes, h, w)
        result = identity(images * keep)
        result.boxes = boxes if self.n_holes == 1 else None
        return result


# Mixup (Zhang et al. 2018, facebookresearch/mixup-cifar10 train.py): lam ~ Beta(alpha, alpha),
# one lam and one permutation per batch, x = lam * x + (1 - lam) * x[perm].
@register("mixup")
@dataclass
class Mixup(Augmentation):
    alpha: float = beta_parameter(1.0)
    prob: float = probability(1.0)
    source = "mixup-cifar10 train.py mixup_data"

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.rng.random() >= self.prob:
            return identity(images)
        lam = float(ctx.rng.beta(self.alpha, self.alpha))
        n = images.shape[0]
        index = to_device(torch.randperm(n, generator=ctx.generator), images.device)
        mixed = lam * images + (1.0 - lam) * images[index]
        return MixResult(mixed, index, torch.full((n,), lam, device=images.device))


# CutMix (Yun et al. 2019, clovaai/CutMix-PyTorch train.py): with probability prob, one lam ~ Beta(beta, beta)
# and one uniform-centred box per batch, clipped; lam recomputed from the clipped area.
@register("cutmix")
@dataclass
class CutMix(Augmentation):
    beta: float = beta_parameter(1.0)
    prob: float = probability(0.5)
    source = "CutMix-PyTorch train.py rand_bbox (cutmix_prob 0.5 on CIFAR)"

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.rng.random() >= self.prob:
            return identity(images)
        lam = float(ctx.rng.beta(self.beta, self.beta))
        n, _, h, w = images.shape
        index = to_device(torch.randperm(n, generator=ctx.generator), images.device)
        cy, cx = int(ctx.rng.integers(h)), int(ctx.rng.integers(w))
        box = clipped_box(cy, cx, cut_size(h, lam), cut_size(w, lam), h, w)
        boxes = _batch_box(n, box, images.device)
        mixed, lam_t = paste_boxes(images, index, boxes)
        return MixResult(mixed, index, lam_t, boxes=boxes)
