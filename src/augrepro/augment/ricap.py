"""RICAP (Takahashi, Matsubara & Uehara, ACML 2018, "Data augmentation using random image cropping and
patching for deep CNNs", section 3.1 and its released PyTorch snippet)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augrepro.augment.base import Augmentation, Context, MixResult, beta_parameter, identity, probability, register
from augrepro.transfer import device_tensor, to_device


# RICAP: boundary (w, h) = round(side * Beta(beta, beta)) once per batch; four permutations of the batch; crop
# k of size w_k x h_k at a uniform place of image perm_k[i]; the four crops tile the output (top-left,
# top-right, bottom-left, bottom-right); label weight of crop k = w_k * h_k / image area.
@register("ricap")
@dataclass
class RICAP(Augmentation):
    beta: float = beta_parameter(0.3)  # RICAP paper section 4.1 (beta = 0.3 on CIFAR)
    prob: float = probability(1.0)  # RICAP applies to every batch
    source = "RICAP paper section 3.1 (four crops, boundary ~ Beta(0.3, 0.3), area-proportional labels)"

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.rng.random() >= self.prob:
            return identity(images)
        n, _, h, w = images.shape
        device = images.device
        split_x = int(round(w * float(ctx.rng.beta(self.beta, self.beta))))
        split_y = int(round(h * float(ctx.rng.beta(self.beta, self.beta))))
        # (rows, cols) of the four parts, split at the boundary position (split_x, split_y)
        sizes = [(split_y, split_x), (split_y, w - split_x), (h - split_y, split_x), (h - split_y, w - split_x)]
        origins = [(0, 0), (0, split_x), (split_y, 0), (split_y, split_x)]
        mixed = torch.empty_like(images)
        indices, weights, parts = [], [], []
        for (part_h, part_w), (top, left) in zip(sizes, origins):
            perm = to_device(torch.randperm(n, generator=ctx.generator), device)
            src_top = int(ctx.rng.integers(0, h - part_h + 1))
            src_left = int(ctx.rng.integers(0, w - part_w + 1))
            source = images[perm, :, src_top : src_top + part_h, src_left : src_left + part_w]
            mixed[:, :, top : top + part_h, left : left + part_w] = source
            indices.append(perm)
            weights.append(torch.full((n,), part_h * part_w / (h * w), device=device))
            parts.append(device_tensor([top, left, top + part_h, left + part_w], device).expand(n, 4))
        indices_t, weights_t = torch.stack(indices), torch.stack(weights)
        own = indices_t == torch.arange(n, device=device)[None]
        lam = (weights_t * own).sum(0)
        # Summary partner: the heaviest part showing another image (the own index if all four show it).
        other = torch.where(own, torch.full_like(weights_t, -1.0), weights_t)
        best = other.argmax(0)
        index = torch.where(other.amax(0) >= 0, indices_t.gather(0, best[None])[0], torch.arange(n, device=device))
        lam_b = torch.where(other.amax(0) >= 0, other.amax(0), torch.zeros_like(lam))
        return MixResult(
            mixed, index, lam, lam_b=lam_b, indices=indices_t, weights=weights_t, part_boxes=torch.stack(parts)
        )
