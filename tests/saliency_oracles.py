"""OpenCV reference implementations that only the tests use: plain, per-element torch versions of
cv::cartToPolar and cv::polarToCart on 64F, which the tests hold against ``cv2``. The library's
``spectral_residual`` evaluates the same steps in place, in float32, on the half spectrum; these
references keep the OpenCV facts (``augrepro.saliency.cvops``'s constants) checkable one routine at a time.
"""

from __future__ import annotations

import torch

from augrepro.saliency.cvops import ATAN_POLY_DEG, DBL_EPSILON_F32, DEG2RAD_F32, fma32


def magnitude_64f(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """Magnitude of cv::cartToPolar on 64F: inputs cast to float32, sqrt(fma(x, x, y * y)) in float32.
    (The square root is taken in float64 and rounded, which is the correctly rounded float32 root;
    torch's float32 sqrt kernel on the CPU is not: one ulp off for about 0.7 % of inputs.)"""
    x, y = re.float(), im.float()
    return fma32(x, x, y * y).double().sqrt_().float().double()


def cart_to_polar_64f(re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cv::cartToPolar(angleInDegrees=false) on 64F: float32 magnitude as above and OpenCV's
    polynomial atan (v_atan_f32, with fma) in [0, 2 pi), returned as float64. A straightforward reference
    (the tests hold it against cv2); ``spectral_residual`` evaluates the same steps in place, in float32."""
    mag = magnitude_64f(re, im)
    x, y = re.float(), im.float()
    ax, ay = x.abs(), y.abs()
    c = torch.minimum(ax, ay) / (torch.maximum(ax, ay) + DBL_EPSILON_F32)
    cc = (c * c).double()
    p1, p3, p5, p7 = ATAN_POLY_DEG
    # OpenCV evaluates the polynomial with three float32 fmas; one float64 evaluation rounded once differs
    # by at most an ulp or two of float32 (about 1e-7 rad), far below the polynomial's own error (1.7e-4 rad)
    a = (((p7 * cc + p5) * cc + p3) * cc + p1).float() * c
    a = torch.where(ax >= ay, a, 90.0 - a)
    a = torch.where(x < 0, 180.0 - a, a)
    a = torch.where(y < 0, 360.0 - a, a)
    return mag, (a * DEG2RAD_F32).double()


def polar_to_cart_64f(mag: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cv::polarToCart(angleInDegrees=false) on 64F: mag * cos(angle), mag * sin(angle) in float64. OpenCV 5
    computes this case in double precision (measured against cv2 5.0: within 3e-16 relative of the exact
    products, with float64 angles that are not float32 values), so plain float64 torch agrees to rounding."""
    return mag * torch.cos(angle), mag * torch.sin(angle)
