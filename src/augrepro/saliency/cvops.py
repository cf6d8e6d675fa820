"""Batched torch re-implementations of the OpenCV 5.0 primitives used by the two saliency detectors.

Each function reproduces the arithmetic of the OpenCV routine it names (integer vs float, rounding,
border handling), so that the torch backend of ``augrepro.saliency`` agrees with OpenCV contrib.
The facts were read from opencv/opencv (imgproc color, smooth, resize; core mathfuncs_core) and
checked against ``cv2`` 5.0 by ``tests/test_saliency.py``. Everything runs on the input's device.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import torch

# --- buffers ------------------------------------------------------------------------------------


class LastPerThread:
    """The most recently built value per thread: ``get(key, build)`` returns it while ``key`` is unchanged
    and otherwise calls ``build()`` and keeps that instead. The detectors keep their buffers this way
    between calls: fresh multi-MiB CPU buffers come from the OS and fault on every first touch of a page,
    and building them on a GPU copies constants from the host, which synchronizes."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, key, build):
        last = getattr(self._local, "last", None)
        if last is None or last[0] != key:
            last = (key, build())
            self._local.last = last
        return last[1]


# --- colour -------------------------------------------------------------------------------------

# cv::cvtColor(COLOR_BGR2GRAY) on 8U: fixed point with 15 fractional bits, round half up
# (opencv imgproc color_rgb: coefficients 0.114/0.587/0.299 scaled by 2^15; verified on all 2^24 colours).
_GRAY_SHIFT = 15
_GRAY_R, _GRAY_G, _GRAY_B = 9798, 19235, 3735


def rgb_to_gray(
    images: torch.Tensor, out: torch.Tensor | None = None, work: torch.Tensor | None = None
) -> torch.Tensor:
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


def gaussian3x3_u8(
    gray: torch.Tensor,
    out: torch.Tensor | None = None,
    padded: torch.Tensor | None = None,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
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
def _band_matrix(
    n: int, taps: tuple[float, ...], device: torch.device, dtype: torch.dtype, transposed: bool = False
) -> torch.Tensor:
    """n x n matrix M with (x @ M)[..., k] = sum_i taps[i] * x[..., k + i - r] under BORDER_REFLECT_101
    (r = len(taps) // 2): a 1-D filter as one matrix product (``transposed``: M.T, contiguous)."""
    r = len(taps) // 2
    m = torch.zeros((n, n), dtype=torch.float64)
    idx = _reflect101_index(n, r, torch.device("cpu"))
    for k in range(n):
        for i, tap in enumerate(taps):
            m[idx[k + i], k] += tap
    if transposed:
        m = m.T.contiguous()
    return m.to(device=device, dtype=dtype)


def separable_filter(
    x: torch.Tensor, taps: tuple[float, ...], out: torch.Tensor | None = None, work: torch.Tensor | None = None
) -> torch.Tensor:
    """A separable filter with the same 1-D taps on both axes of N x H x W data, BORDER_REFLECT_101
    (cv::sepFilter2D / GaussianBlur / blur), as two matrix products in x's dtype. OpenCV sums the taps in
    x's depth in another order, so results agree to that dtype's rounding. ``out`` and ``work``
    (N x H x W) are optional buffers. (Two dense 64 x 64 products cost less here than five shifted adds
    per axis plus the borders.)"""
    h, w = x.shape[-2:]
    rows = torch.matmul(x, _band_matrix(w, taps, x.device, x.dtype), out=work)
    return torch.matmul(_band_matrix(h, taps, x.device, x.dtype, True), rows, out=out)


def gaussian_kernel(ksize: int, sigma: float) -> tuple[float, ...]:
    """cv::getGaussianKernel(ksize, sigma > 0, CV_64F): exp(-x^2 / (2 sigma^2)) normalised to sum 1."""
    scale2 = -0.5 / (sigma * sigma)
    k = [math.exp(scale2 * (i - (ksize - 1) * 0.5) ** 2) for i in range(ksize)]
    total = sum(k)
    return tuple(v / total for v in k)


def gaussian_blur(
    x: torch.Tensor, ksize: int, sigma: float, out: torch.Tensor | None = None, work: torch.Tensor | None = None
) -> torch.Tensor:
    """cv::GaussianBlur(ksize x ksize, sigmaX = sigmaY = sigma, BORDER_REFLECT_101), separable, computed in
    x's dtype (the taps are OpenCV's float64 kernel, rounded to that dtype)."""
    return separable_filter(x, gaussian_kernel(ksize, sigma), out, work)


# --- resize -------------------------------------------------------------------------------------


def _linear_taps(src: int, dst: int):
    """Source index and fractional offset per destination pixel, as cv::resize INTER_LINEAR computes them
    for float data: position (d + 0.5) * src/dst - 0.5 in double, sx = floor, offset rounded to float32."""
    scale = 1.0 / (dst / src)
    pos = torch.tensor([(d + 0.5) * scale - 0.5 for d in range(dst)], dtype=torch.float64)
    sx = torch.floor(pos)
    return sx.long(), (pos - sx).float()


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
    return (
        i0.to(device),
        (i0 + 1).clamp(max=src - 1).to(device),
        (256 - right_w).to(device=device, dtype=torch.int32),
        right_w.to(device=device, dtype=torch.int32),
    )


@lru_cache(maxsize=64)
def _exact_matrices(
    h: int, w: int, dh: int, dw: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) with resize_linear_exact_u8(g) = floor(B @ (g @ A) + 1/2): A (w x dw) holds the horizontal
    8-bit weights, B (dh x h) the vertical ones times 2^-16. Every product and partial sum is an integer
    times a power of two below 2^24, so both products are exact in float32 and float64, in any summation
    order (as long as float32 products are not computed in a reduced precision: ``_exact_matmul_dtype``)."""

    def weights(src: int, dst: int, scale: float) -> torch.Tensor:
        i0, i1, w0, w1 = _exact_axis(src, dst, torch.device("cpu"))
        m = torch.zeros((src, dst), dtype=torch.float64)
        d = torch.arange(dst)
        m.index_put_((i0, d), w0.double() * scale, accumulate=True)
        m.index_put_((i1, d), w1.double() * scale, accumulate=True)
        return m

    a, b = weights(w, dw, 1.0), weights(h, dh, 2.0**-16).T.contiguous()
    return a.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)


def _exact_matmul_dtype(device: torch.device) -> torch.dtype:
    """float32 (faster; bench/bench_saliency.py --design measures this) for the exact resize products on the
    CPU unless torch was told to run float32 matrix products in bfloat16/TF32 (set_float32_matmul_precision,
    mkldnn fp32_precision); float64 elsewhere (CUDA's TF32 switches are too many to check)."""
    if device.type != "cpu" or torch.get_float32_matmul_precision() != "highest":
        return torch.float64
    mkldnn = getattr(torch.backends.mkldnn, "matmul", None)
    return torch.float32 if getattr(mkldnn, "fp32_precision", "none") in ("none", "ieee") else torch.float64


# up to this many source pixels per row and column, two dense products cost less than integer gathers
_EXACT_MATMUL_MAX = 256


def resize_linear_exact_u8(gray: torch.Tensor, dh: int, dw: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """cv::resize(INTER_LINEAR_EXACT) of N x H x W 8-bit values (float32 holding integers) to dh x dw.

    OpenCV's bit-exact path: 8-bit fixed-point weights, an exact horizontal pass (16 bits), an exact
    vertical pass (32 bits), round half up of the 16 fractional bits. An exact 2x reduction is routed to
    INTER_AREA: (sum of 2x2 + 2) >> 2. Same size: a copy. Small images (both sides up to 256) go through
    two exact matrix products (``_exact_matrices``), larger ones through integer gathers. ``out``
    (N x dh x dw, float32 or float64) is optional; the result holds exact integers either way."""
    n, h, w = gray.shape
    if (h, w) == (dh, dw):
        return gray.clone() if out is None else out.copy_(gray)
    if (h, w) == (2 * dh, 2 * dw):  # float32 sums of four 8-bit values are exact
        s = gray[:, 0::2, 0::2] + gray[:, 1::2, 0::2]
        s.add_(gray[:, 0::2, 1::2]).add_(gray[:, 1::2, 1::2]).add_(2).mul_(0.25).floor_()
        return s if out is None else out.copy_(s)
    if max(h, w) <= _EXACT_MATMUL_MAX:
        dt = _exact_matmul_dtype(gray.device)
        a, b = _exact_matrices(h, w, dh, dw, gray.device, dt)
        direct = out is not None and out.dtype == dt
        res = torch.matmul(b, gray.to(dt) @ a, out=out if direct else None).add_(0.5).floor_()
        if direct:
            return res
        return res.float() if out is None else out.copy_(res)
    g = gray.to(torch.int32)
    x0, x1, a0, a1 = _exact_axis(w, dw, gray.device)
    y0, y1, b0, b1 = _exact_axis(h, dh, gray.device)
    hor = g.index_select(2, x0) * a0 + g.index_select(2, x1) * a1
    res = hor.index_select(1, y0) * b0[:, None] + hor.index_select(1, y1) * b1[:, None] + (1 << 15)
    res = torch.bitwise_right_shift(res, 16)
    return res.to(torch.float32) if out is None else out.copy_(res)


@lru_cache(maxsize=64)
def _f32_plan(h: int, w: int, dh: int, dw: int, device: torch.device):
    def axis(src: int, dst: int):
        s, f = _linear_taps(src, dst)
        edge = (s < 0) | (s >= src - 1)
        f = torch.where(edge, torch.zeros_like(f), f)
        s = s.clamp(0, src - 1)
        return s.to(device), (s + 1).clamp(max=src - 1).to(device), f.to(device)

    return axis(w, dw), axis(h, dh)


@lru_cache(maxsize=16)
def addcmul_is_fused(device: torch.device) -> bool:
    """Whether float32 torch.addcmul rounds once (a fused multiply-add) on this device: x * x - (1 + 2^-11)
    for x = 1 + 2^-12 is 2^-24 exactly, and 0 when x * x is rounded first. Checked once per device (true
    for this torch build's AVX-512 CPU kernels; 37 elements also cover the vectorized loop's tail)."""
    x = torch.full((37,), 1 + 2.0**-12, dtype=torch.float32, device=device)
    c = torch.full((37,), -(1 + 2.0**-11), dtype=torch.float32, device=device)
    return bool((torch.addcmul(c, x, x) == 2.0**-24).all())


def fma32(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """a * b + c rounded once, float32 (OpenCV's v_fma / v_muladd with FMA): torch.addcmul where that is
    fused, else emulated in float64 (the product of two float32 is exact there)."""
    if addcmul_is_fused(a.device):
        return torch.addcmul(c, a, b, out=out)
    res = torch.addcmul(c.double(), a.double(), b.double()).float()
    return res if out is None else out.copy_(res)


def resize_linear_f32(x: torch.Tensor, dh: int, dw: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """cv::resize(INTER_LINEAR) of N x H x W float32 maps as OpenCV 5 computes it, bit for bit (checked
    against cv2 on random data, 64 x 64 to 32 x 32, 7 x 5, 40 x 24, 63 x 65, 128 x 128, 224 x 224):
    per axis, horizontal first, fma(s1 - s0, fx, s0) in float32, fx the float32 rounding of the fractional
    part of the double position (d + 0.5) * src/dst - 0.5, border pixels clamped. An exact 2x reduction
    (fx = 1/2: the product is exact, no fma needed) takes strided ops. ``out`` (N x dh x dw) is optional."""
    n, h, w = x.shape
    if (h, w) == (dh, dw):
        return x.clone() if out is None else out.copy_(x)
    if (h, w) == (2 * dh, 2 * dw):  # s0 + 0.5 * (s1 - s0): the product is exact, one rounding like the fma
        hor = torch.add(x[..., 0::2], torch.sub(x[..., 1::2], x[..., 0::2]), alpha=0.5)
        return torch.add(hor[:, 0::2], torch.sub(hor[:, 1::2], hor[:, 0::2]), alpha=0.5, out=out)
    (x0, x1, fx), (y0, y1, fy) = _f32_plan(h, w, dh, dw, x.device)
    s0 = x.index_select(2, x0)
    hor = fma32(x.index_select(2, x1).sub_(s0), fx, s0)
    r0 = hor.index_select(1, y0)
    return fma32(hor.index_select(1, y1).sub_(r0), fy[:, None], r0, out=out)


# --- polar coordinates (opencv core mathfuncs_core.simd.hpp) ------------------------------------


# fastAtan polynomial coefficients p1, p3, p5, p7 of cv::cartToPolar / cv::fastAtan2 (degrees; within
# 1.7e-4 rad = 0.01 deg of the exact angle, measured), each a float32 product as in the C++ source.
_RAD2DEG_F32 = torch.tensor(180 / math.pi, dtype=torch.float32)
ATAN_POLY_DEG = tuple(
    float(torch.tensor(c, dtype=torch.float32) * _RAD2DEG_F32)
    for c in (0.9997878412794807, -0.3258083974640975, 0.1555786518463281, -0.04432655554792128)
)
# v_atan_f32 divides min / (max + DBL_EPSILON), the epsilon rounded to float32
DBL_EPSILON_F32 = float(torch.tensor(2.220446049250313e-16, dtype=torch.float32))
DEG2RAD_F32 = float(torch.tensor(math.pi / 180, dtype=torch.float32))  # cartToPolar's degrees -> radians, float32
