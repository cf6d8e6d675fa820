"""Frequency-tuned salient region detection (Achanta, Hemami, Estrada & Süsstrunk, CVPR 2009), batched in torch.

The paper (section 3.3, eq. 2): S(x, y) = || I_mu - I_whc(x, y) ||, where I_mu is the mean Lab vector of the
image, I_whc(x, y) the Lab vector of pixel (x, y) in "the Gaussian blurred version (using a 5 x 5 separable
binomial kernel) of the original image" and || . || the L2 norm. Step by step, with the source of each choice:

1. sRGB (uint8) -> CIE L*a*b* under D65 with the constants of the authors' reference code (Achanta's
   Saliency.cpp, ``RGB2LAB``, EPFL 2011; the same in IVRL/Frequency_Tuned_Saliency ``srgb_to_cielab``).
2. I_mu: the mean Lab vector of the *unblurred* image (paper eq. 2; Saliency.cpp averages ``lvec`` before
   ``GaussianSmooth``; the MATLAB demo Saliency_CVPR2009.m averages the blurred image and says "in the paper
   this average is found from the unblurred original image").
3. The blur: the paper's 5 x 5 separable binomial kernel [1 4 6 4 1] / 16 (Saliency.cpp: "The kernel can be
   [1 2 1] or [1 4 6 4 1] as needed", its code uses [1 2 1]), applied to the L, a and b planes as
   Saliency.cpp does (``GaussianSmooth(lvec, ...)``), x direction first. Border: Saliency.cpp's -- the taps
   that fall outside the image are dropped and the remaining ones renormalised to sum 1 (``sum / kernelsum``).
4. The distance: the paper's L2 norm, NOT squared (all three released codes square it; the square is a
   monotone function of the norm, so the peak and the minimum -- all SaliencyMix uses -- are the same).
5. Min-max normalisation per image to [0, 1] (Saliency.cpp ``Normalize``: (s - min) * 255 / (max - min), a
   zero range taken as 1, i.e. an all-zero map). Here a range of at most ``FLAT_RANGE`` Lab units counts as
   zero: float64 rounding leaves ~1e-12 of noise on a constant image's map, which min-max would blow up.

Everything runs in float64 on the images' device and the map is cast to float32 at the end: the same steps in
float32 were up to 2.2e-5 off the float64 maps on 32x32 photo crops (measured; min-max magnifies the rounding
of the Lab values on low-contrast crops). Against the independent float64 reference of the tests the maps
differ by float32 rounding only (max |diff| 3e-8, every peak identical). No host-device synchronisation:
every constant is a Python scalar or is built on the device, and the chunk loop (CPU only) is over groups.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

# --- sRGB -> XYZ -> L*a*b* (D65): Saliency.cpp RGB2LAB (Achanta, EPFL) -------------------------------------
SRGB_LINEAR_MAX = 0.04045  # R <= 0.04045: r = R / 12.92 (Saliency.cpp, the sRGB standard's linear segment)
SRGB_LINEAR_SLOPE = 12.92  # Saliency.cpp: r = R / 12.92
SRGB_OFFSET, SRGB_GAMMA = 0.055, 2.4  # Saliency.cpp: r = pow((R + 0.055) / 1.055, 2.4)
SRGB_TO_XYZ = (  # Saliency.cpp: X = r*0.4124564 + g*0.3575761 + b*0.1804375, etc. (sRGB, D65)
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
WHITE_D65 = (0.950456, 1.0, 1.088754)  # Saliency.cpp: Xr, Yr, Zr "reference white"
LAB_EPSILON, LAB_KAPPA = 0.008856, 903.3  # Saliency.cpp: "actual CIE standard"; f(t) = (kappa t + 16) / 116 below

# --- the blur and the map ------------------------------------------------------------------------------------
BINOMIAL_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)  # paper sec. 3.3: 5 x 5 separable binomial kernel (/ 16 once normalised)
FLAT_RANGE = 1e-9  # Lab units: a map whose max - min is at most this is flat -> all zeros (Saliency.cpp Normalize)


# Images per chunk on the CPU: about CHUNK_PIXELS pixels. A chunk's float64 planes then stay in a core's
# cache; one op over a whole batch of 128 images of 64 x 64 (12 MiB per plane) is memory-bound.
# bench/bench_saliency.py --design measures the candidates. Other devices take the batch as one chunk.
CHUNK_PIXELS = 1 << 15


@lru_cache(maxsize=16)
def _linear_lut(device: torch.device) -> torch.Tensor:
    """The 256 linearised sRGB values (float64), computed on the device from Python scalars."""
    v = torch.arange(256, dtype=torch.float64, device=device) / 255.0
    return torch.where(
        v <= SRGB_LINEAR_MAX, v / SRGB_LINEAR_SLOPE, ((v + SRGB_OFFSET) / (1.0 + SRGB_OFFSET)).pow(SRGB_GAMMA)
    )


def _f_(t: torch.Tensor) -> torch.Tensor:
    """CIE f(t) in place: cube root above epsilon, (kappa t + 16) / 116 at or below (Saliency.cpp fx, fy, fz).
    The cube root is exp(log(t) / 3): within 1e-15 relative of numpy.cbrt and faster than pow(t, 1/3) on
    the CPU in float64 (bench/bench_saliency.py --design measures this)."""
    return torch.where(t > LAB_EPSILON, t.log().div_(3.0).exp_(), t.mul(LAB_KAPPA).add_(16.0).div_(116.0), out=t)


def srgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 sRGB -> N x 3 x H x W float64 L*a*b* (D65), Saliency.cpp's RGB2LAB."""
    lin = _linear_lut(images.device).take(images.long())
    r, g, b = lin.unbind(1)
    fx, fy, fz = (
        _f_((r * cr).add_(g, alpha=cg).add_(b, alpha=cb).div_(white))
        for (cr, cg, cb), white in zip(SRGB_TO_XYZ, WHITE_D65)
    )
    lab = torch.empty_like(lin)
    torch.mul(fy, 116.0, out=lab[:, 0]).sub_(16.0)  # L = 116 fy - 16
    torch.sub(fx, fy, out=lab[:, 1]).mul_(500.0)  # a = 500 (fx - fy)
    torch.sub(fy, fz, out=lab[:, 2]).mul_(200.0)  # b = 200 (fy - fz)
    return lab


@lru_cache(maxsize=64)
def _kernel_sums(n: int, device: torch.device) -> torch.Tensor:
    """Per position 0..n-1 of an axis: the sum of the binomial taps that fall inside the axis (Saliency.cpp
    GaussianSmooth's ``kernelsum``; 16 away from the borders), float64, built on the device."""
    return _shifted_sum(torch.ones((n,), dtype=torch.float64, device=device), -1)


def _shifted_sum(x: torch.Tensor, dim: int) -> torch.Tensor:
    """sum_d taps[d] * x[k + d - 2] along ``dim`` over the d with k + d - 2 inside the axis (zeros outside):
    the unnormalised binomial filter, as shifted adds of slices (no padded copy)."""
    n = x.shape[dim]
    r = len(BINOMIAL_TAPS) // 2
    acc = x * BINOMIAL_TAPS[r]
    for d in range(1, r + 1):
        if d >= n:
            break
        acc.narrow(dim, d, n - d).add_(x.narrow(dim, 0, n - d), alpha=BINOMIAL_TAPS[r - d])  # from k - d
        acc.narrow(dim, 0, n - d).add_(x.narrow(dim, d, n - d), alpha=BINOMIAL_TAPS[r + d])  # from k + d
    return acc


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """The separable 5 x 5 binomial blur of the last two axes of float64 ``x``, x direction first, with
    Saliency.cpp's border: taps outside the image dropped, each pass divided by the sum of the taps inside."""
    h, w = x.shape[-2:]
    rows = _shifted_sum(x, -1).div_(_kernel_sums(w, x.device))
    return _shifted_sum(rows, -2).div_(_kernel_sums(h, x.device)[:, None])


def frequency_tuned(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 RGB -> N x H x W float32 frequency-tuned saliency in [0, 1], on the images' device."""
    n, _, h, w = images.shape
    out = torch.empty((n, h, w), dtype=torch.float32, device=images.device)
    step = max(1, min(n, CHUNK_PIXELS // (h * w))) if images.device.type == "cpu" else max(n, 1)
    for i in range(0, n, step):  # chunks of images, each a batch (one chunk off the CPU)
        _frequency_tuned(images[i : i + step], out[i : i + step])
    return out


def _frequency_tuned(images: torch.Tensor, out: torch.Tensor) -> None:
    lab = srgb_to_lab(images)
    mean = lab.mean((2, 3), keepdim=True)  # of the unblurred image (paper eq. 2, Saliency.cpp)
    dist = binomial_blur(lab).sub_(mean).square_().sum(1).sqrt_()  # L2 norm (paper eq. 2), not squared
    lo = dist.amin((1, 2), keepdim=True)
    span = dist.amax((1, 2), keepdim=True).sub_(lo)
    flat = span <= FLAT_RANGE  # Saliency.cpp Normalize: a zero range gives an all-zero map
    dist.sub_(lo).div_(span.masked_fill_(flat, 1.0)).masked_fill_(flat, 0.0).clamp_(0.0, 1.0)
    out.copy_(dist)


# --- the CPU reference (saliency_maps(..., backend="opencv")) ---------------------------------------------------


def frequency_tuned_reference(images: torch.Tensor) -> torch.Tensor:
    """The same algorithm, one image at a time on the CPU in float64 NumPy with OpenCV's separable filter
    (cv2.sepFilter2D, BORDER_CONSTANT, divided by the filtered all-ones image: Saliency.cpp's renormalised
    border). OpenCV contrib has no frequency-tuned detector; this per-image loop is the method's
    ``backend="opencv"``. Returns N x H x W float32 on the CPU."""
    import cv2

    taps = np.asarray(BINOMIAL_TAPS, dtype=np.float64) / sum(BINOMIAL_TAPS)
    v = np.arange(256, dtype=np.float64) / 255.0
    lut = np.where(v <= SRGB_LINEAR_MAX, v / SRGB_LINEAR_SLOPE, ((v + SRGB_OFFSET) / (1.0 + SRGB_OFFSET)) ** SRGB_GAMMA)
    to_xyz = np.asarray(SRGB_TO_XYZ) / np.asarray(WHITE_D65)[:, None]
    rgb = images.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    out = np.zeros(rgb.shape[:3], dtype=np.float32)
    for i, img in enumerate(rgb):
        t = lut[img] @ to_xyz.T  # H x W x 3: X / Xr, Y / Yr, Z / Zr
        f = np.where(t > LAB_EPSILON, np.cbrt(t), (LAB_KAPPA * t + 16.0) / 116.0)
        lab = np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)
        mean = lab.reshape(-1, 3).mean(0)
        ones = np.ones(lab.shape[:2], dtype=np.float64)
        weight = cv2.sepFilter2D(ones, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_CONSTANT)
        filtered = cv2.sepFilter2D(lab, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_CONSTANT)
        blurred = filtered.reshape(lab.shape) / weight[..., None]
        dist = np.sqrt(((blurred - mean) ** 2).sum(-1))
        span = dist.max() - dist.min()
        if span > FLAT_RANGE:
            out[i] = (dist - dist.min()) / span
    return torch.from_numpy(out)
