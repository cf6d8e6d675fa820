"""Batched torch re-implementations of the OpenCV 5.0 primitives used by the two saliency detectors.

Each function reproduces the arithmetic of the OpenCV routine it names (integer vs float, rounding,
border handling), so that the torch backend of ``augrepro.saliency`` agrees with OpenCV contrib.
The facts were read from opencv/opencv (imgproc color, smooth, resize; core mathfuncs_core) and
checked against ``cv2`` 5.0 by ``tests/test_saliency.py``. Everything runs on the input's device.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


# --- colour -------------------------------------------------------------------------------------

# cv::cvtColor(COLOR_BGR2GRAY) on 8U: fixed point with 15 fractional bits, round half up
# (opencv imgproc color_rgb: coefficients 0.114/0.587/0.299 scaled by 2^15; verified on all 2^24 colours).
_GRAY_SHIFT = 15
_GRAY_R, _GRAY_G, _GRAY_B = 9798, 19235, 3735


def rgb_to_gray(images: torch.Tensor, out: torch.Tensor | None = None, work: torch.Tensor | None = None) -> torch.Tensor:
    """N x 3 x H x W uint8 RGB -> N x H x W float32 holding OpenCV's 8-bit gray values (exact integers).
    ``out`` (N x H x W) and ``work`` (N x 3 x H x W float32) are optional preallocated buffers."""
    x = images.to(torch.float32) if work is None else work.copy_(images)
    s = torch.mul(x[:, 0], _GRAY_R / (1 << _GRAY_SHIFT), out=out)  # multiples of 2^-15 below 256: exact
    s.add_(x[:, 1], alpha=_GRAY_G / (1 << _GRAY_SHIFT)).add_(x[:, 2], alpha=_GRAY_B / (1 << _GRAY_SHIFT))
    return s.add_(0.5).floor_()


# --- borders ------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _reflect101_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices of a length-``n`` axis padded by ``pad`` on both sides with cv::BORDER_REFLECT_101
    (cv::borderInterpolate; a length-1 axis repeats its only element)."""
    idx = []
    for p in range(-pad, n + pad):
        if n == 1:
            idx.append(0)
            continue
        while p < 0 or p >= n:
            p = -p if p < 0 else 2 * n - 2 - p
        idx.append(p)
    return torch.tensor(idx, dtype=torch.long, device=device)


def pad_reflect101(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dims of ``x`` by ``pad`` with cv::BORDER_REFLECT_101 (any size, even 1)."""
    h, w = x.shape[-2:]
    if h > pad and w > pad:
        shape = x.shape
        return torch.nn.functional.pad(x.reshape(-1, 1, h, w), (pad,) * 4, mode="reflect").reshape(
            *shape[:-2], h + 2 * pad, w + 2 * pad
        )
    x = x.index_select(-2, _reflect101_index(h, pad, x.device))
    return x.index_select(-1, _reflect101_index(w, pad, x.device))


# --- smoothing ----------------------------------------------------------------------------------


def gaussian3x3_u8(gray: torch.Tensor, out: torch.Tensor | None = None,
                   padded: torch.Tensor | None = None, rows: torch.Tensor | None = None) -> torch.Tensor:
    """cv::GaussianBlur(ksize 3x3, sigma 0) on 8U: kernel [1 2 1]/4 per axis in OpenCV's bit-exact fixed
    point, i.e. round half up of the exact weighted sum / 16; BORDER_REFLECT_101. Float32 in, float32 out.
    ``out`` (N x H x W, may be ``gray``), ``padded`` (N x H+2 x W+2) and ``rows`` (N x H x W+2) are optional
    preallocated buffers; ``padded`` is used only when H, W >= 2, and ``gray`` may already be its inside
    ``padded[..., 1:-1, 1:-1]`` (then only the border is written)."""
    h, w = gray.shape[-2:]
    if padded is not None and h >= 2 and w >= 2:
        p = padded
        inside = p[..., 1:-1, 1:-1]
        if not (gray.data_ptr() == inside.data_ptr() and gray.stride() == inside.stride()):
            inside.copy_(gray)
        p[..., 0, 1:-1] = gray[..., 1, :]
        p[..., -1, 1:-1] = gray[..., -2, :]
        p[..., :, 0] = p[..., :, 2]
        p[..., :, -1] = p[..., :, -3]
    else:
        p = pad_reflect101(gray, 1)
    r = torch.add(p[..., :-2, :], p[..., 2:, :], out=rows)
    r.add_(p[..., 1:-1, :], alpha=2)
    o = torch.add(r[..., :-2], r[..., 2:], out=out)
    o.add_(r[..., 1:-1], alpha=2)
    # round half up of sum / 16: the sum is a non-negative integer, so truncating (sum + 8) / 16 floors it
    return o.add_(8).div_(16, rounding_mode="trunc")


@lru_cache(maxsize=64)
def _band_matrix(n: int, taps: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """n x n matrix M with (x @ M)[..., k] = sum_i taps[i] * x[..., k + i - r] under BORDER_REFLECT_101
    (r = len(taps) // 2): a 1-D filter as one matrix product."""
    r = len(taps) // 2
    m = torch.zeros((n, n), dtype=torch.float64)
    idx = _reflect101_index(n, r, torch.device("cpu"))
    for k in range(n):
        for i, tap in enumerate(taps):
            m[idx[k + i], k] += tap
    return m.to(device=device, dtype=dtype)


def separable_f64(x: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """A separable filter with the same 1-D taps on both axes of N x H x W float64 data, BORDER_REFLECT_101
    (cv::sepFilter2D / GaussianBlur / blur on 64F), as two matrix products; sums in a different order than
    OpenCV's, so results agree to float64 rounding."""
    h, w = x.shape[-2:]
    rows = x @ _band_matrix(w, taps, x.device, x.dtype)
    return _band_matrix(h, taps, x.device, x.dtype).T @ rows


def box3x3_f64(x: torch.Tensor) -> torch.Tensor:
    """cv::blur(ksize 3x3, BORDER_DEFAULT = REFLECT_101) on 64F: the 3x3 mean."""
    return separable_f64(x, (1.0, 1.0, 1.0)).mul_(1.0 / 9)


def gaussian_kernel(ksize: int, sigma: float) -> tuple[float, ...]:
    """cv::getGaussianKernel(ksize, sigma > 0, CV_64F): exp(-x^2 / (2 sigma^2)) normalised to sum 1."""
    scale2 = -0.5 / (sigma * sigma)
    k = [math.exp(scale2 * (i - (ksize - 1) * 0.5) ** 2) for i in range(ksize)]
    total = sum(k)
    return tuple(v / total for v in k)


def gaussian_f64(x: torch.Tensor, ksize: int, sigma: float) -> torch.Tensor:
    """cv::GaussianBlur(ksize x ksize, sigmaX = sigmaY = sigma, BORDER_REFLECT_101) on 64F, separable."""
    return separable_f64(x, gaussian_kernel(ksize, sigma))


# --- resize -------------------------------------------------------------------------------------

def _linear_taps(src: int, dst: int):
    """Source index and fractional offset per destination pixel, as cv::resize INTER_LINEAR computes
    them: fx = float((d + 0.5) * src/dst - 0.5), sx = floor(fx), fx -= sx (float32)."""
    scale = 1.0 / (dst / src)
    fx = torch.tensor([(d + 0.5) * scale - 0.5 for d in range(dst)], dtype=torch.float32)
    sx = torch.floor(fx)
    return sx.long(), fx - sx


@lru_cache(maxsize=64)
def _exact_axis(src: int, dst: int, device: torch.device):
    """interpolationLinear::getCoeffs of cv::resize(INTER_LINEAR_EXACT): position (d + 0.5) * src/dst - 0.5
    in double, weight of the right tap in 8-bit fixed point (round half to even), the left tap 256 minus
    it; positions left of the first pixel or at/after the last take that border pixel alone."""
    scale = 1.0 / (dst / src)
    pos = torch.tensor([scale * (d + 0.5) - 0.5 for d in range(dst)], dtype=torch.float64)
    left = torch.floor(pos)
    right_w = torch.round((pos - left) * 256).long()
    left = left.long()
    before = (left < 0) | (src == 1)
    after = ~before & (left >= src - 1)
    i0 = torch.where(before, 0, torch.where(after, src - 1, left))
    right_w = torch.where(before | after, 0, right_w)
    return (i0.to(device), (i0 + 1).clamp(max=src - 1).to(device),
            (256 - right_w).to(device=device, dtype=torch.int32), right_w.to(device=device, dtype=torch.int32))


def resize_linear_exact_u8(gray: torch.Tensor, dh: int, dw: int) -> torch.Tensor:
    """cv::resize(INTER_LINEAR_EXACT) of N x H x W 8-bit values (float32 holding integers) to dh x dw.

    OpenCV's bit-exact path: 8-bit fixed-point weights, an exact horizontal pass (16 bits), an exact
    vertical pass (32 bits), round half up of the 16 fractional bits. An exact 2x reduction is routed to
    INTER_AREA: (sum of 2x2 + 2) >> 2. Same size: a copy."""
    n, h, w = gray.shape
    if (h, w) == (dh, dw):
        return gray.clone()
    g = gray.to(torch.int32)
    if (h, w) == (2 * dh, 2 * dw):
        s = g[:, 0::2, 0::2] + g[:, 1::2, 0::2] + g[:, 0::2, 1::2] + g[:, 1::2, 1::2] + 2
        return torch.bitwise_right_shift(s, 2).to(torch.float32)
    x0, x1, a0, a1 = _exact_axis(w, dw, gray.device)
    y0, y1, b0, b1 = _exact_axis(h, dh, gray.device)
    hor = g.index_select(2, x0) * a0 + g.index_select(2, x1) * a1
    out = hor.index_select(1, y0) * b0[:, None] + hor.index_select(1, y1) * b1[:, None] + (1 << 15)
    return torch.bitwise_right_shift(out, 16).to(torch.float32)


@lru_cache(maxsize=64)
def _f32_plan(h: int, w: int, dh: int, dw: int, device: torch.device):
    def axis(src: int, dst: int):
        s, f = _linear_taps(src, dst)
        edge = (s < 0) | (s >= src - 1)
        f = torch.where(edge, torch.zeros_like(f), f)
        s = s.clamp(0, src - 1)
        return s.to(device), (s + 1).clamp(max=src - 1).to(device), (1 - f).to(device), f.to(device)

    return axis(w, dw), axis(h, dh)


def resize_linear_f32(x: torch.Tensor, dh: int, dw: int) -> torch.Tensor:
    """cv::resize(INTER_LINEAR) of N x H x W float32 maps: bilinear with float weights, border pixels
    clamped; an exact 2x reduction is routed to INTER_AREA (mean of 2x2)."""
    n, h, w = x.shape
    if (h, w) == (dh, dw):
        return x.clone()
    if (h, w) == (2 * dh, 2 * dw):
        return (x[:, 0::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) * 0.25
    (x0, x1, a0, a1), (y0, y1, b0, b1) = _f32_plan(h, w, dh, dw, x.device)
    hor = x.index_select(2, x0) * a0 + x.index_select(2, x1) * a1
    return hor.index_select(1, y0) * b0[:, None] + hor.index_select(1, y1) * b1[:, None]


# --- polar coordinates (opencv core mathfuncs_core.simd.hpp) ------------------------------------


def _fma32(a: torch.Tensor, b, c) -> torch.Tensor:
    """float32 fused multiply-add, emulated in float64 (the product of two float32 is exact there)."""
    return (a.double() * b + c).float()


# fastAtan polynomial coefficients of cv::cartToPolar / cv::fastAtan2 (degrees; ~0.3 deg accurate),
# each a float32 product as in the C++ source.
_R2D = torch.tensor(180 / math.pi, dtype=torch.float32)
_ATAN_P = [float(torch.tensor(c, dtype=torch.float32) * _R2D) for c in
           (0.9997878412794807, -0.3258083974640975, 0.1555786518463281, -0.04432655554792128)]
_DBL_EPS_F32 = float(torch.tensor(2.220446049250313e-16, dtype=torch.float32))
_DEG2RAD_F32 = float(torch.tensor(math.pi / 180, dtype=torch.float32))


def magnitude_64f(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """Magnitude of cv::cartToPolar on 64F: inputs cast to float32, sqrt(fma(x, x, y * y)) in float32.
    (The square root is taken in float64 and rounded, which is the correctly rounded float32 root;
    torch's float32 sqrt kernel is not always correctly rounded.)"""
    x, y = re.float(), im.float()
    return _fma32(x, x.double(), (y * y).double()).double().sqrt_().float().double()


def cart_to_polar_64f(re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cv::cartToPolar(angleInDegrees=false) on 64F: float32 magnitude as above and OpenCV's
    polynomial atan (v_atan_f32, with fma) in [0, 2 pi), returned as float64."""
    mag = magnitude_64f(re, im)
    x, y = re.float(), im.float()
    ax, ay = x.abs(), y.abs()
    c = torch.minimum(ax, ay) / (torch.maximum(ax, ay) + _DBL_EPS_F32)
    cc = (c * c).double()
    p1, p3, p5, p7 = _ATAN_P
    # OpenCV evaluates the polynomial with three float32 fmas; one float64 evaluation rounded once differs
    # by at most an ulp or two of float32 (about 1e-7 rad), far below the polynomial's own error (3e-3 rad)
    a = (((p7 * cc + p5) * cc + p3) * cc + p1).float() * c
    a = torch.where(ax >= ay, a, 90.0 - a)
    a = torch.where(x < 0, 180.0 - a, a)
    a = torch.where(y < 0, 360.0 - a, a)
    return mag, (a * _DEG2RAD_F32).double()


def polar_to_cart_64f(mag: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cv::polarToCart(angleInDegrees=false) on 64F: magnitude and angle cast to float32, cosine and sine
    rounded to float32, multiplied in float32 (the AVX2 path of SinCos_32f). OpenCV takes sine and cosine
    from a 64-entry table plus a cubic, within about 1e-8 of the true values; we use the true values, so
    a product may differ by one float32 ulp."""
    a = angle.float().double()
    m = mag.float()
    return (torch.cos(a).float() * m).double(), (torch.sin(a).float() * m).double()
