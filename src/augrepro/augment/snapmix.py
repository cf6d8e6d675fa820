"""SnapMix (Huang, Wang & Tao, AAAI 2021), as released (Shaoli-Huang/SnapMix@245bda4, utils/mixmethod.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from augrepro.augment.base import (
    Augmentation,
    Context,
    MixResult,
    beta_parameter,
    identity,
    probability,
    register,
    require_model,
)
from augrepro.augment.boxes import clipped_box, cut_size
from augrepro.augment.probe import class_activation_maps
from augrepro.transfer import device_tensor, to_device


# SnapMix code ``snapmix``: with probability prob, class activation maps of the model being trained; two
# independent lam ~ Beta(beta, beta) and two CutMix boxes (one per batch each); the source box of the shuffled
# image resized (bilinear, align_corners=True) into the target box; label weights = CAM mass (target:
# 1 - its mass inside the target box; source: its mass inside the source box), not forced to sum to 1;
# same-label pairs add the two weights to both; NaN falls back to the target box's area ratio. The CAM pass
# is the released code's: a no-grad forward in train mode that updates the BatchNorm running statistics
# (get_spm runs ``model(input)`` under torch.no_grad() after trainer/comm_train.py's model.train()).
@register("snapmix")
@dataclass
class SnapMix(Augmentation):
    beta: float = beta_parameter(1.0)  # utils/conf.py default; the README's pretrained commands use 5
    prob: float = probability(0.5)  # README, "Training from scratch": --prob 0.5
    source = "SnapMix code utils/mixmethod.py (snapmix, get_spm)"

    def uses_model(self) -> bool:
        return True

    def saliency_map(self, images, labels, ctx: Context):
        return class_activation_maps(require_model(ctx, "snapmix"), images, labels)

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        model = require_model(ctx, "snapmix")
        if ctx.rng.random() >= self.prob:
            return identity(images)
        n, _, h, w = images.shape
        dev = images.device
        cams = class_activation_maps(model, images, labels, update_statistics=True)
        lam_t = float(ctx.rng.beta(self.beta, self.beta))
        lam_s = float(ctx.rng.beta(self.beta, self.beta))
        index = to_device(torch.randperm(n, generator=ctx.generator), dev)
        ty1, tx1, ty2, tx2 = clipped_box(
            int(ctx.rng.integers(h)), int(ctx.rng.integers(w)), cut_size(h, lam_t), cut_size(w, lam_t), h, w
        )
        sy1, sx1, sy2, sx2 = clipped_box(
            int(ctx.rng.integers(h)), int(ctx.rng.integers(w)), cut_size(h, lam_s), cut_size(w, lam_s), h, w
        )
        if (ty2 - ty1) * (tx2 - tx1) <= 0 or (sy2 - sy1) * (sx2 - sx1) <= 0:
            return identity(images)  # the released code leaves the batch unmixed when a box is empty
        patch = F.interpolate(
            images[index, :, sy1:sy2, sx1:sx2], size=(ty2 - ty1, tx2 - tx1), mode="bilinear", align_corners=True
        )
        mixed = images.clone()
        mixed[:, :, ty1:ty2, tx1:tx2] = patch
        cams_b = cams[index]
        lam_a = 1.0 - cams[:, ty1:ty2, tx1:tx2].sum((1, 2)) / (cams.sum((1, 2)) + 1e-8)
        lam_b = cams_b[:, sy1:sy2, sx1:sx2].sum((1, 2)) / (cams_b.sum((1, 2)) + 1e-8)
        same = labels == labels[index]
        lam_a, lam_b = torch.where(same, lam_a + lam_b, lam_a), torch.where(same, lam_b + lam_a, lam_b)
        area_lam = 1.0 - (ty2 - ty1) * (tx2 - tx1) / (h * w)
        lam_a = torch.where(torch.isnan(lam_a), torch.full_like(lam_a, area_lam), lam_a)
        lam_b = torch.where(torch.isnan(lam_b), torch.full_like(lam_b, 1.0 - area_lam), lam_b)
        boxes = device_tensor([[ty1, tx1, ty2, tx2]], dev).expand(n, 4)
        source_boxes = device_tensor([[sy1, sx1, sy2, sx2]], dev).expand(n, 4)
        return MixResult(mixed, index, lam_a, lam_b=lam_b, boxes=boxes, source_boxes=source_boxes)
