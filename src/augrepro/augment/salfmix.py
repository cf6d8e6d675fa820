"""SalfMix (Choi et al., Sensors 2021, SalfMix §4.2-4.3, Algorithm 1) and the saliency Cutout of its Table 9.
No public code exists; everything here follows the paper text.

A gradient saliency map of the model being trained (max over channels of |dL/dx|), average-pooled to
n x n cells (kernel and stride floor(H/n), no padding); the most and least salient cells R_m, R_l;
square patches P_m, P_l of side o = floor(W * r), each placed uniformly at random among the positions
that contain its cell (inside the image); P_l replaced by P_m of the same image. Labels are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from augrepro.augment.base import Augmentation, Context, MixResult, identity, param, register, require_model
from augrepro.augment.boxes import gather_windows, place_windows, uniform_int
from augrepro.augment.probe import input_gradient_saliency


def default_cells(image_size: int) -> int:
    """n of SalfMix §5.1: 4 x 4 on CIFAR (32 px), 8 x 8 on Tiny-ImageNet (64 px), i.e. 8-px cells."""
    return max(1, image_size // 8)


def check_patch_params(method: str, n: int | None, r: float, image_size: int | None) -> None:
    """What the dataset's image side allows of n and r (their own ranges are declared with the fields)."""
    if image_size is not None:
        if n is not None and n > image_size:
            raise ValueError(f"{method}.n = {n} exceeds the image side {image_size}; use n <= {image_size}")
        if int(image_size * r) < 1:
            raise ValueError(f"{method}.r = {r} gives a patch of no pixel on {image_size}-px images; raise r")


def extreme_cells(saliency: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Section 4.3, equation (4): average pooling with kernel = stride = floor(H / n), then the first
    arg-max and arg-min in raster order. Returns (top-left (row, col) of R_m, of R_l, cell side in px)."""
    k = max(1, saliency.shape[-1] // n)
    pooled = F.avg_pool2d(saliency[:, None], kernel_size=k, stride=k)[:, 0]
    cols = pooled.shape[-1]
    flat = pooled.flatten(1)
    most, least = flat.argmax(1), flat.argmin(1)
    to_px = lambda i: torch.stack([(i // cols) * k, (i % cols) * k], 1)  # noqa: E731
    return to_px(most), to_px(least), k


def patch_containing(
    cell: torch.Tensor, cell_side: int, side: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """Top-left (row, col) of a size x size patch drawn uniformly among the positions inside a side x side
    image that contain the cell (section 4.3: "a square patch P_m that includes the area R_m"). When the
    patch is smaller than the cell (r < 1/n, as at r = 0.1 in Figure 5), it lies inside the cell instead."""
    lo = (torch.minimum(cell, cell + cell_side - size)).clamp(min=0)
    hi = (torch.maximum(cell, cell + cell_side - size)).clamp(max=side - size)
    hi = torch.maximum(hi, lo)
    return torch.stack([uniform_int(lo[:, 0], hi[:, 0], generator), uniform_int(lo[:, 1], hi[:, 1], generator)], 1)


def _boxes(top_left: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([top_left, top_left + size], 1)


# The first epoch: SalfMix Algorithm 2, line 6, mixes only "if e > 1" (the saliency map of an untrained model is
# not informative, section 6.6); the SalfMix family (SalfMix, HybridMix, the saliency Cutout of Table 9) follows
# that one rule: nothing is applied before ``first_epoch`` = 2.
FIRST_EPOCH = 2


# SalfMix, Algorithm 1 (SalfMix §4.2-4.3): M <- saliency of (x, y) by equations (2)-(3); M_bar <- n x n average
# pooling; P_m, P_l <- most/least salient patches with r; x_hat <- x with P_l replaced by P_m. Table 9's
# "SalfMix w/o Sal." (saliency: false): P_m and P_l placed uniformly at random (no model pass).
@register("salfmix")
@dataclass
class SalfMix(Augmentation):
    n: int | None = param(None, low=1)  # cells per side; None: 4 on 32-px images, 8 on 64-px (SalfMix §5.1)
    r: float = param(0.3, low=0.0, high=1.0, low_open=True)  # patch side floor(W * r) (SalfMix §5.1)
    saliency: bool = True  # False: Table 9's SalfMix without the saliency map (random patches)
    pool: bool = True  # False: Table 10's map without average pooling (one cell per pixel, SalfMix §6.5)
    first_epoch: int = param(FIRST_EPOCH, low=1)  # SalfMix Algorithm 2, line 6: only for e > 1
    source = "SalfMix paper Algorithm 1, §4.2-4.3, §5.1; Table 9 (saliency: false); Table 10 (pool: false)"

    def bind(self, spec) -> None:
        check_patch_params(self.name, self.n, self.r, spec.image_size)

    def cells(self, side: int) -> int:
        if not self.pool:
            return side  # SalfMix §6.5: "the size of saliency map without average pooling is 32 x 32 ... 64 x 64"
        return self.n if self.n is not None else default_cells(side)

    def uses_model(self) -> bool:
        return self.saliency

    def saliency_map(self, images, labels, ctx: Context):
        if not self.saliency:
            return None
        return input_gradient_saliency(require_model(ctx, self.name), images, labels)

    def self_mix(self, images: torch.Tensor, saliency: torch.Tensor | None, generator: torch.Generator) -> MixResult:
        """Algorithm 1, lines 5-7, given each image's saliency map (None: random patches): a fresh draw of the
        patch positions P_m and P_l."""
        n_img, _, h, w = images.shape
        check_patch_params(self.name, self.n, self.r, min(h, w))
        size = int(w * self.r)
        if saliency is not None:
            most, least, k = extreme_cells(saliency, self.cells(w))
            top_m = patch_containing(most, k, w, size, generator)
            top_l = patch_containing(least, k, w, size, generator)
        else:
            full = torch.zeros(n_img, 2, dtype=torch.long, device=images.device)
            top_m = patch_containing(full, w, w, size, generator)
            top_l = patch_containing(full, w, w, size, generator)
        patches = gather_windows(images, top_m[:, 0], top_m[:, 1], size, size)
        result = identity(place_windows(images, patches, top_l[:, 0], top_l[:, 1]))
        result.boxes, result.source_boxes = _boxes(top_l, size), _boxes(top_m, size)
        return result

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.epoch < self.first_epoch:
            return identity(images)
        return self.self_mix(images, self.saliency_map(images, labels, ctx), ctx.generator)


# Table 9's "Cutout w/ Sal." (SalfMix §6.2): "we obtained a saliency map from an image and dropped out
# the least salient region P_l": SalfMix's P_l (same n, r, placement) set to zero after normalization, as Cutout.
@register("cutout_saliency")
@dataclass
class SaliencyCutout(Augmentation):
    n: int | None = param(None, low=1)  # as salfmix
    r: float = param(0.3, low=0.0, high=1.0, low_open=True)  # as salfmix: the dropped region is SalfMix's P_l
    first_epoch: int = param(FIRST_EPOCH, low=1)  # the SalfMix family's rule (SalfMix Algorithm 2, line 6)
    source = "SalfMix paper §6.2 and Table 9, Cutout w/ Sal."

    def bind(self, spec) -> None:
        check_patch_params(self.name, self.n, self.r, spec.image_size)

    def uses_model(self) -> bool:
        return True

    def saliency_map(self, images, labels, ctx: Context):
        return input_gradient_saliency(require_model(ctx, self.name), images, labels)

    def __call__(self, images, labels, ctx: Context) -> MixResult:
        if ctx.epoch < self.first_epoch:
            return identity(images)
        n_img, _, h, w = images.shape
        check_patch_params(self.name, self.n, self.r, min(h, w))
        size = int(w * self.r)
        cells = self.n if self.n is not None else default_cells(w)
        _, least, k = extreme_cells(self.saliency_map(images, labels, ctx), cells)
        top_l = patch_containing(least, k, w, size, ctx.generator)
        hole = torch.zeros(n_img, images.shape[1], size, size, dtype=images.dtype, device=images.device)
        result = identity(place_windows(images, hole, top_l[:, 0], top_l[:, 1]))
        result.boxes = _boxes(top_l, size)
        return result
