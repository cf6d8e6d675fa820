"""Box arithmetic shared by the box-pasting methods (CutMix, SaliencyMix, Cutout)."""

from __future__ import annotations

import numpy as np
import torch

from augrepro.transfer import to_device


def cut_size(side: int, lam: float) -> int:
    """Side of the cut for a kept fraction lam: ``int(side * sqrt(1 - lam))`` (CutMix ``rand_bbox``)."""
    return int(side * np.sqrt(1.0 - lam))


def clipped_box(cy, cx, cut_h: int | torch.Tensor, cut_w: int | torch.Tensor, h: int, w: int):
    """Corners ``clip(centre -/+ cut // 2, 0, side)``: clipped, not shifted, at the borders.

    Works on ints or on integer tensors of centres; returns (y1, x1, y2, x2).
    """
    clip = torch.clamp if isinstance(cy, torch.Tensor) else (lambda v, lo, hi: int(np.clip(v, lo, hi)))
    return (
        clip(cy - cut_h // 2, 0, h),
        clip(cx - cut_w // 2, 0, w),
        clip(cy + cut_h // 2, 0, h),
        clip(cx + cut_w // 2, 0, w),
    )


def box_masks(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """N x 4 (y1, x1, y2, x2) -> N x 1 x H x W boolean masks, True inside the box."""
    rows = torch.arange(h, device=boxes.device)
    cols = torch.arange(w, device=boxes.device)
    inside_r = (rows[None, :] >= boxes[:, 0:1]) & (rows[None, :] < boxes[:, 2:3])
    inside_c = (cols[None, :] >= boxes[:, 1:2]) & (cols[None, :] < boxes[:, 3:4])
    return (inside_r[:, :, None] & inside_c[:, None, :])[:, None]


def box_area_fraction(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).float() / float(h * w)


def paste_boxes(images: torch.Tensor, index: torch.Tensor, boxes: torch.Tensor):
    """Paste, per sample i, the region ``boxes[i]`` of ``images[index[i]]``; returns (mixed, lam)
    with lam = 1 - pasted area / image area, the weight of each sample's own label."""
    return paste_pairs(images, images[index], boxes)


def paste_pairs(x1: torch.Tensor, x2: torch.Tensor, boxes: torch.Tensor):
    """x1 with ``boxes[i]`` of x2[i] pasted into it; returns (mixed, lam), lam = 1 - pasted area / image area (the
    clipped box's)."""
    h, w = x1.shape[2:]
    return torch.where(box_masks(boxes, h, w), x2, x1), 1.0 - box_area_fraction(boxes, h, w)


def boxes_around(cy: torch.Tensor, cx: torch.Tensor, lam: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per sample, CutMix's ``rand_bbox`` box of cut side int(side * sqrt(1 - lam)) around (cy, cx), clipped."""
    cut = torch.sqrt(1.0 - lam)
    cut_h, cut_w = (h * cut).long(), (w * cut).long()
    return torch.stack(clipped_box(cy.long(), cx.long(), cut_h, cut_w, h, w), 1)


def inside_box(cy: torch.Tensor, cx: torch.Tensor, size_h: int, size_w: int, h: int, w: int) -> torch.Tensor:
    """N x 4 boxes of exactly ``size_h x size_w`` around the centres, shifted (not clipped) to lie inside
    the image: ``y1 = clamp(cy - size_h // 2, 0, h - size_h)``. Used where a source and a target
    region must have the same size at different places (the SaliencyMix ablation styles)."""
    y1 = (cy - size_h // 2).clamp(0, h - size_h)
    x1 = (cx - size_w // 2).clamp(0, w - size_w)
    return torch.stack([y1, x1, y1 + size_h, x1 + size_w], 1)


def gather_windows(images: torch.Tensor, y1: torch.Tensor, x1: torch.Tensor, size_h: int, size_w: int) -> torch.Tensor:
    """Per-sample crops: N x C x size_h x size_w, crop i taken at (y1[i], x1[i]) of images[i] (batched indexing)."""
    n = images.shape[0]
    rows = y1[:, None] + torch.arange(size_h, device=images.device)[None]
    cols = x1[:, None] + torch.arange(size_w, device=images.device)[None]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return images[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def place_windows(images: torch.Tensor, patches: torch.Tensor, y1: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Copy of ``images`` with patches[i] (N x C x ph x pw) written at (y1[i], x1[i]) of image i; the
    windows must lie inside the image."""
    n, _, h, w = images.shape
    ph, pw = patches.shape[2:]
    if ph == 0 or pw == 0:
        return images.clone()
    boxes = torch.stack([y1, x1, y1 + ph, x1 + pw], 1)
    local_r = (torch.arange(h, device=images.device)[None] - y1[:, None]).clamp(0, ph - 1)
    local_c = (torch.arange(w, device=images.device)[None] - x1[:, None]).clamp(0, pw - 1)
    batch = torch.arange(n, device=images.device)[:, None, None]
    spread = patches[batch, :, local_r[:, :, None], local_c[:, None, :]].permute(0, 3, 1, 2)
    return torch.where(box_masks(boxes, h, w), spread, images)


def uniform_int(low: torch.Tensor, high: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-sample integers uniform on [low, high] (inclusive), drawn from ``generator`` on the CPU."""
    u = to_device(torch.rand(low.shape[0], generator=generator), low.device)
    span = (high - low + 1).to(u.dtype)
    return low + torch.minimum((u * span).long(), (high - low).long())
