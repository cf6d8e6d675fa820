"""SaliencyMix (Uddin et al., ICLR 2021) in its two faces.

``official``: as released (SaliencyMix_CIFAR/saliencymix.py): with probability ``prob`` per batch,
lam ~ Beta(beta, beta), one permutation, the fine-grained saliency of ``images[index[0]]`` computed
on the *normalized float* tensor, one box around its peak pasted from every shuffled source image,
lam recomputed from the clipped area.
``paper``: as the paper text describes (seed 001, "Our approach"): per sample, the saliency of that
sample's source image computed on its uint8 pixels, a box of the batch's size around its peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augrepro.augment.base import Augmentation, Context, MixResult, identity, register
from augrepro.augment.boxes import clipped_box, cut_size, paste_boxes
from augrepro.saliency import METHODS, official_float_peak, saliency_maps

VARIANTS = ("official", "paper")


# SaliencyMix: official = released code (saliency_bbox, one box per batch); paper = paper text (per sample).
@register("saliencymix")
@dataclass
class SaliencyMix(Augmentation):
    variant: str = "official"
    beta: float = 1.0
    prob: float = 0.5  # salmix_prob of the released CIFAR code
    saliency: str = "fine_grained"  # paper variant only; the official variant is fine-grained by construction
    source = "SaliencyMix_CIFAR/saliencymix.py (official) / SaliencyMix paper section 3 (paper)"

    def bind(self, spec) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"saliencymix.variant {self.variant!r}; valid variants: {', '.join(VARIANTS)}")
        if self.saliency not in METHODS:
            raise ValueError(f"saliencymix.saliency {self.saliency!r}; valid: {', '.join(METHODS)}")
        if self.variant == "official" and self.saliency != "fine_grained":
            raise ValueError("saliencymix: the official variant uses fine_grained saliency; use variant: paper")

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if self.beta <= 0 or ctx.rng.random() >= self.prob:
            return identity(images)
        lam = float(ctx.rng.beta(self.beta, self.beta))
        n, _, h, w = images.shape
        index = torch.randperm(n, generator=ctx.generator).to(images.device)
        cut_h, cut_w = cut_size(h, lam), cut_size(w, lam)
        if self.variant == "official":
            cy, cx = official_float_peak(images[index[0]])
            boxes = torch.tensor([clipped_box(cy, cx, cut_h, cut_w, h, w)], device=images.device).expand(n, 4)
        else:
            maps = saliency_maps(ctx.denormalize(images), self.saliency)
            peak = maps.flatten(1).argmax(1)
            boxes = torch.stack(clipped_box(peak // w, peak % w, cut_h, cut_w, h, w), 1)[index]
        mixed, lam_t = paste_boxes(images, index, boxes.long())
        return MixResult(mixed, index, lam_t, boxes=boxes.long())
