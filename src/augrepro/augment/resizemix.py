"""ResizeMix (Qin et al. 2020), as released (JayQine/ResizeMix@45441ff, run_apis/trainer.py and
tools/utils.py ``getbox_new``; CIFAR configs: resizemix alpha 0.1, beta 0.8, applied to every batch)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from augrepro.augment.base import (
    Augmentation,
    Context,
    MixResult,
    identity,
    param,
    probability,
    register,
)
from augrepro.augment.boxes import place_windows
from augrepro.transfer import device_tensor, to_device


# ResizeMix code: one scale ~ U(alpha, beta) per batch; the shuffled batch resized by nearest neighbour with
# that scale factor (side floor(scale * side)); each sample's patch pasted at its own random place, shifted to
# lie fully inside the target; lam = 1 - patch area / image area.
@register("resizemix")
@dataclass
class ResizeMix(Augmentation):
    alpha: float = param(
        0.1, low=0.0, high=1.0, low_open=True
    )  # lower bound of the scale (ResizeMix configs/cifar10_wrs.py; SalfMix paper §5.1)
    beta: float = param(0.8, low=0.0, high=1.0, low_open=True)  # upper bound of the scale
    prob: float = probability(1.0)  # the released CIFAR configs resize-mix every batch (cutmix prob 0.0)
    source = "ResizeMix code run_apis/trainer.py (resizemix branch) and tools/utils.py getbox_new"

    def bind(self, spec) -> None:
        if self.alpha > self.beta:
            raise ValueError(
                f"resizemix: need alpha <= beta (the scale range), got alpha={self.alpha}, beta={self.beta}"
            )

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.rng.random() >= self.prob:
            return identity(images)
        n, _, h, w = images.shape
        scale = float(ctx.rng.uniform(self.alpha, self.beta))
        index = to_device(torch.randperm(n, generator=ctx.generator), images.device)
        if int(h * scale) == 0 or int(w * scale) == 0:  # a patch of no pixel: nothing is pasted
            return identity(images)
        small = F.interpolate(images[index], scale_factor=scale, mode="nearest")
        ph, pw = small.shape[2:]
        # getbox_new: centre uniform, x1 = clip(c - s // 2), x2 = clip(x1 + s), x1 = clip(x2 - s): fully inside.
        cy = to_device(torch.randint(0, h, (n,), generator=ctx.generator), images.device)
        cx = to_device(torch.randint(0, w, (n,), generator=ctx.generator), images.device)
        y1 = ((cy - ph // 2).clamp(0, h) + ph).clamp(0, h) - ph
        x1 = ((cx - pw // 2).clamp(0, w) + pw).clamp(0, w) - pw
        y1, x1 = y1.clamp(min=0), x1.clamp(min=0)
        mixed = place_windows(images, small, y1, x1)
        boxes = torch.stack([y1, x1, y1 + ph, x1 + pw], 1)
        lam = torch.full((n,), 1.0 - ph * pw / (h * w), device=images.device)
        full = device_tensor([[0, 0, h, w]], images.device).expand(n, 4)
        return MixResult(mixed, index, lam, boxes=boxes, source_boxes=full)
