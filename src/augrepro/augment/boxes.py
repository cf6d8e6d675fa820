"""Box arithmetic shared by the box-pasting methods (CutMix, SaliencyMix, Cutout)."""

from __future__ import annotations

import numpy as np
import torch


def cut_size(side: int, lam: float) -> int:
    """Side of the cut for a kept fraction lam: ``int(side * sqrt(1 - lam))`` (CutMix ``rand_bbox``)."""
    return int(side * np.sqrt(1.0 - lam))


def clipped_box(cy, cx, cut_h: int, cut_w: int, h: int, w: int):
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
    n, _, h, w = images.shape
    mixed = torch.where(box_masks(boxes, h, w), images[index], images)
    return mixed, 1.0 - box_area_fraction(boxes, h, w)
