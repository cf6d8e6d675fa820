"""Agreement between two sets of saliency maps, and real-photograph test images (issue 3's criteria).

``agreement``: per image, the peak (first argmax in raster order, as SaliencyMix's box centre) and the
Pearson correlation of the two maps; the criteria are peaks within 1 px (Chebyshev) on >= 99 % of images
and correlation >= 0.99. ``photo_crops``: square or rectangular crops at random places and scales of the
two photographs that ship with scikit-learn (``load_sample_images``), resized with INTER_AREA.
"""

from __future__ import annotations

import numpy as np
import torch


def peaks(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of the first maximum in raster order of each N x H x W map."""
    flat = maps.flatten(1).argmax(1)
    return flat // maps.shape[2], flat % maps.shape[2]


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image Pearson correlation of two N x H x W stacks (float64); 1 where both maps are constant
    and equal, 0 where only one is constant."""
    a = a.flatten(1).double()
    b = b.flatten(1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    num = (a * b).sum(1)
    den = (a.square().sum(1) * b.square().sum(1)).sqrt()
    both_flat = (den == 0) & (a.abs().amax(1) == 0) & (b.abs().amax(1) == 0)
    r = torch.where(den > 0, num / den.clamp(min=1e-300), torch.zeros_like(num))
    return torch.where(both_flat, torch.ones_like(r), r)


def agreement(reference: torch.Tensor, candidate: torch.Tensor) -> dict[str, float]:
    """Peak agreement (fraction within 1 px, Chebyshev), mean / min per-image correlation and the
    largest absolute difference of two N x H x W stacks of maps."""
    if reference.shape != candidate.shape or reference.ndim != 3:
        raise ValueError(
            f"agreement needs two N x H x W stacks of one shape, got "
            f"{tuple(reference.shape)} and {tuple(candidate.shape)}"
        )
    ry, rx = peaks(reference)
    cy, cx = peaks(candidate)
    cheb = torch.maximum((ry - cy).abs(), (rx - cx).abs())
    r = pearson(reference, candidate)
    return {
        "n": reference.shape[0],
        "peak_within_1px": float((cheb <= 1).double().mean()),
        "peak_equal": float((cheb == 0).double().mean()),
        "r_mean": float(r.mean()),
        "r_min": float(r.min()),
        "max_abs_diff": float((reference.double() - candidate.double()).abs().max()),
    }


def photo_crops(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """N x 3 x height x width uint8 RGB crops of scikit-learn's sample photographs (china.jpg, flower.jpg),
    alternating, each from a random square-ish window of random scale (height..half the photo), resized
    to height x width with cv2.INTER_AREA."""
    import cv2
    from sklearn.datasets import load_sample_images

    if n < 1 or height < 1 or width < 1:
        raise ValueError(f"photo_crops needs n, height, width >= 1, got {n}, {height}, {width}")
    photos = [np.asarray(p) for p in load_sample_images().images]
    rng = np.random.default_rng(seed)
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        ph, pw = photo.shape[:2]
        side = int(rng.integers(max(height, width), min(ph, pw) // 2 + 1))
        y = int(rng.integers(0, ph - side + 1))
        x = int(rng.integers(0, pw - side + 1))
        window = np.ascontiguousarray(photo[y : y + side, x : x + side])
        out[i] = cv2.resize(window, (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
