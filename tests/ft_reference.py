"""An independent per-image reference of frequency-tuned saliency (Achanta et al., CVPR 2009) for the tests.

Written separately from ``augrepro.saliency.frequency_tuned``, in float64 NumPy and SciPy (``ndimage``), from
the paper and the authors' C++ code (Saliency.cpp: RGB2LAB, GaussianSmooth, GetSaliencyMap, Normalize):
sRGB -> L*a*b* (D65), the mean Lab vector of the unblurred image, a separable binomial blur of the L, a, b
planes whose taps outside the image are dropped and the rest renormalised, the distance of each blurred pixel
to the mean, min-max normalisation (a range of at most 1e-9 Lab units: an all-zero map).

The keyword arguments select the variants that the released codes or plausible mistakes use, so that the
tests can show their tolerance tells them apart: ``taps`` ([1, 2, 1] is Saliency.cpp's choice), ``border``
("drop": Saliency.cpp; "nearest": replicate the edge pixel), ``squared`` (all released codes square the
distance), ``mean_of`` ("blurred": the MATLAB demo's mean).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 sRGB -> H x W x 3 float64 CIE L*a*b*, as Saliency.cpp's RGB2LAB."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, np.power((c + 0.055) / 1.055, 2.4))
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.950456
    y = (0.2126729 * r + 0.7151522 * g + 0.0721750 * b) / 1.0
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.088754

    def f(t):
        return np.where(t > 0.008856, np.cbrt(t), (903.3 * t + 16.0) / 116.0)

    fx, fy, fz = f(x), f(y), f(z)
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def _blur_axis(plane: np.ndarray, axis: int, taps: np.ndarray, border: str) -> np.ndarray:
    if border == "nearest":
        return ndimage.correlate1d(plane, taps / taps.sum(), axis=axis, mode="nearest")
    if border != "drop":
        raise ValueError(border)
    total = ndimage.correlate1d(plane, taps, axis=axis, mode="constant", cval=0.0)
    kernelsum = ndimage.correlate1d(np.ones_like(plane), taps, axis=axis, mode="constant", cval=0.0)
    return total / kernelsum


def saliency(
    rgb: np.ndarray, taps=(1, 4, 6, 4, 1), border: str = "drop", squared: bool = False, mean_of: str = "unblurred"
) -> np.ndarray:
    """H x W x 3 uint8 RGB -> H x W float64 frequency-tuned saliency in [0, 1]."""
    lab = srgb_to_lab(rgb)
    k = np.asarray(taps, dtype=np.float64)
    blurred = np.empty_like(lab)
    for c in range(3):  # x direction first, then y, per plane (Saliency.cpp GaussianSmooth)
        blurred[..., c] = _blur_axis(_blur_axis(lab[..., c], 1, k, border), 0, k, border)
    mean = (lab if mean_of == "unblurred" else blurred).reshape(-1, 3).mean(axis=0)
    dist = np.sqrt(np.sum((blurred - mean) ** 2, axis=-1))
    if squared:
        dist = dist**2
    span = dist.max() - dist.min()
    if span <= 1e-9:
        return np.zeros(dist.shape)
    return (dist - dist.min()) / span


def saliency_batch(images, **variant) -> np.ndarray:
    """N x 3 x H x W uint8 (torch or NumPy) -> N x H x W float64, one image at a time."""
    arr = np.asarray(images.cpu() if hasattr(images, "cpu") else images)
    return (
        np.stack([saliency(np.ascontiguousarray(img.transpose(1, 2, 0)), **variant) for img in arr])
        if len(arr)
        else np.zeros((0,) + arr.shape[2:])
    )
