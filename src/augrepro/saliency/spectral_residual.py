"""Spectral-residual static saliency (Hou & Zhang, CVPR 2007) as OpenCV contrib computes it, batched in torch.

Reproduces ``cv::saliency::StaticSaliencySpectralResidual`` (opencv_contrib modules/saliency/src/
staticSaliencySpectralResidual.cpp, the version shipped with OpenCV 4.x/5.0): gray (BGR2GRAY) -> resize to
64 x 64 (INTER_LINEAR_EXACT, 8-bit) -> complex DFT (float64) -> cartToPolar -> log(amplitude + 1) ->
3x3 mean filter (BORDER_DEFAULT) -> exp(log amplitude - filtered) -> polarToCart with the original phase ->
inverse DFT (unscaled) -> magnitude -> GaussianBlur 5x5, sigma 8 -> squared -> divided by its maximum ->
float32 -> resize to the input size (INTER_LINEAR_EXACT, which OpenCV runs as INTER_LINEAR for float32).

What is reproduced, step by step (``cvops`` has the OpenCV facts and how they were checked):

* gray, the 8-bit resize and the final float32 resize: bit for bit.
* both DFTs: float64 (``rfft2``, ``ifft2``). The other half of the forward spectrum follows from
  conjugate symmetry, so everything up to the phase angle runs on the 64 x 33 half and is mirrored.
* cartToPolar casts the spectrum to float32. The angle is OpenCV's polynomial atan (three fmas, via
  ``cvops.fma32``) and its three octant steps in float32; each half-spectrum entry gets the angle of
  itself and of its mirror image (the last step, 360 - a for y < 0, differs between the two). Equal to
  cv2's angle on all 262144 entries of 64 photographs' spectra (32x32 and 64x64 crops). The magnitude is
  sqrt(fma(x, x, y * y)) in float32, as OpenCV, but torch's float32 square root is not always correctly
  rounded: one ulp off on 0.65 % of the entries of 128 such spectra. The same for the second magnitude
  (after the inverse DFT).
* NOT reproduced in OpenCV's precision, for speed: log(amplitude + 1), the 3x3 mean, exp, the products
  of polarToCart (cos and sin of the float32 angle times the residual), GaussianBlur (two band-matrix
  products), square and division by the maximum run in float32; OpenCV runs them in float64. The log
  amplitude reaches 14, where a float32 ulp is 1e-6, and the residual is the exponential of a difference
  of such values, so this costs a few float32 ulps of the final map.

Measured against cv2 5.0 on real photographs (tests/test_saliency.py's five sets, 600 images): max |diff|
3e-7 to 8e-7 on maps in [0, 1], 12-21 % of the pixels identical, peaks all identical, correlation 1 - 1e-12.
The same steps in float64 gave max |diff| 1.2e-7 (one float32 ulp near 1) and 75-80 % identical pixels,
but took 40 % longer on the CPU (17.8 instead of 12.7 ms for 128 images of 32x32, one thread); what is
left there are float64 rounding differences between two FFT implementations (and summation orders) that
flip a float32 rounding now and then, and the one-ulp magnitudes.

On the CPU a batch runs in chunks of 32 images (64 with more than one thread) through buffers that are
kept per thread and shape; every op works on a whole chunk.
"""

from __future__ import annotations

import torch

from augrepro.saliency.cvops import (
    LastPerThread,
    _ATAN_P,
    _DBL_EPS_F32,
    _DEG2RAD_F32,
    fma32,
    gaussian_blur,
    resize_linear_exact_u8,
    resize_linear_f32,
    rgb_to_gray,
)

RESIZED = 64  # resImWidth = resImHeight = 64 in the OpenCV constructor
BLUR_KSIZE, BLUR_SIGMA = 5, 8.0  # GaussianBlur(magnitude, Size(5, 5), 8) of the OpenCV source

# Images per chunk. On the CPU a chunk trades torch's per-op overhead (about 80 ops per chunk, a few
# microseconds each) against cache misses (about 0.5 MiB of buffers per image). Measured on 2 cores
# (bench_saliency.py, 128 images of 32x32 and 64x64): with 1 thread 32 was fastest (16: +10 %, 64: +3 %);
# with 2 threads 64 (32: +8 %, 16: +40 %, 128: +20 %), as each op of a larger chunk is split between the
# threads. Other devices take up to _CHUNK_DEVICE images at once.
_CHUNK_CPU, _CHUNK_CPU_THREADS, _CHUNK_DEVICE = 32, 64, 1024

_R, _H = RESIZED, RESIZED // 2 + 1  # spectrum side, columns of its non-redundant half
_MIRROR = slice(1, RESIZED // 2)  # half-spectrum columns whose mirror images fill columns _H.. of the full one


def spectral_residual(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 RGB -> N x H x W float32 spectral-residual saliency in [0, 1]."""
    n, _, h, w = images.shape
    out = torch.empty((n, h, w), dtype=torch.float32, device=images.device)
    if n == 0:
        return out
    if images.device.type == "cpu":
        step = min(n, _CHUNK_CPU if torch.get_num_threads() == 1 else _CHUNK_CPU_THREADS)
    else:
        step = min(n, _CHUNK_DEVICE)
    ws = _workspace(step, h, w, images.device)
    for i in range(0, n, step):
        chunk = images[i : i + step]
        _spectral_residual(chunk, ws.view(len(chunk)), out[i : i + step])
    return out


_WORKSPACES = LastPerThread()  # measured here: allocating the buffers per call costs up to 15 % on the CPU


def _workspace(n: int, h: int, w: int, device: torch.device) -> _Workspace:
    """The buffers for chunks of ``n`` images of h x w, kept between calls of the same shape (per thread)."""
    return _WORKSPACES.get((n, h, w, device), lambda: _Workspace(n, h, w, device))


class _Workspace:
    """Buffers for up to ``n`` images; ``view(m)`` gives (and remembers) the views that one chunk of m
    images uses. Planar buffers hold a leading axis of 2 (re/im, cos/sin or direct/mirrored)."""

    def __init__(self, n: int, h: int, w: int, device: torch.device):
        f32 = dict(dtype=torch.float32, device=device)
        f64 = dict(dtype=torch.float64, device=device)
        c128 = dict(dtype=torch.complex128, device=device)
        self.consts = tuple(torch.tensor(v, **f32) for v in (*_ATAN_P, 90.0, 180.0, 360.0))
        self.bufs = dict(
            rgb=torch.empty((n, 3, h, w), **f32),
            gray=torch.empty((n, h, w), **f32),
            small=torch.empty((n, _R, _R), **f64),
            xy=torch.empty((2, n, _R, _H), **f32),  # half spectrum, re and im planes
            a=torch.empty((2, n, _R, _H), **f32),
            t=torch.empty((5, n, _R, _H), **f32),  # scratch on the half grid
            ang=torch.empty((2, n, _R, _H), **f32),  # angle of an entry and of its mirror image
            cs_half=torch.empty((2, 2, n, _R, _H), **f32),  # cos/sin x entry/mirror image
            logp=torch.empty((n, _R + 2, _R + 2), **f32),  # log amplitude with a 1-pixel border
            rows=torch.empty((n, _R + 2, _R), **f32),
            res=torch.empty((n, _R, _R), **f32),
            cs=torch.empty((2, n, _R, _R), **f32),
            z64=torch.empty((n, _R, _R), dtype=torch.complex64, device=device),
            z=torch.empty((n, _R, _R), **c128),
            back=torch.empty((n, _R, _R, 2), **f32),
            g=torch.empty((3, n, _R, _R), **f32),
        )
        self.views: dict[int, dict] = {}

    STACKED = ("xy", "a", "t", "ang", "cs", "g")  # first dimension is not the image
    STACKED2 = ("cs_half",)  # second dimension is not the image either

    def view(self, m: int) -> dict:
        v = self.views.get(m)
        if v is None:
            v = self.views[m] = self._make_view(m)
        return v

    def _make_view(self, m: int) -> dict:
        b = {}
        for k, t in self.bufs.items():
            b[k] = t[:, :, :m] if k in self.STACKED2 else t[:, :m] if k in self.STACKED else t[:m]
        lp, cs, cs_half, back = b["logp"], b["cs"], b["cs_half"], b["back"]
        inside = lp[:, 1 : _R + 1, 1 : _R + 1]
        b.update(
            consts=self.consts,
            x=b["xy"][0], y=b["xy"][1], ax=b["a"][0], ay=b["a"][1], t=tuple(b["t"]),
            below=(b["ang"][0], b["ang"][1]),
            cos_sin=(cs_half[0], cs_half[1]),
            logamp=inside,
            log_half=inside[..., :_H],
            log_src=inside[..., _MIRROR],
            log_dst=lp[:, 2 : _R + 1, _H + 1 : _R + 1],  # rows 1.. of the mirrored columns
            log_dst0=lp[:, 1, _H + 1 : _R + 1],  # row 0 of the mirrored columns
            # BORDER_REFLECT_101 of the inside: (destination, source) columns, then whole rows
            log_border=((lp[:, 1 : _R + 1, 0], lp[:, 1 : _R + 1, 2]),
                        (lp[:, 1 : _R + 1, _R + 1], lp[:, 1 : _R + 1, _R - 1]),
                        (lp[:, 0], lp[:, 2]), (lp[:, _R + 1], lp[:, _R - 1])),
            log_cols=tuple(lp[..., i : i + _R] for i in range(3)),
            row_rows=tuple(b["rows"][:, i : i + _R] for i in range(3)),
            cs_direct=(cs[..., :_H], cs_half[:, 0]),
            cs_src=cs_half[:, 1, :, :, _MIRROR],
            cs_dst=cs[:, :, 1:, _H:],
            cs_dst0=cs[:, :, 0, _H:],
            cs_re_im=(cs[0], cs[1]),
            back_re_im=(back[..., 0], back[..., 1]),
            g=tuple(b["g"]),
        )
        return b


def _spectral_residual(images: torch.Tensor, b: dict, out: torch.Tensor) -> None:
    h, w = images.shape[2:]
    p1, p3, p5, p7, c90, c180, c360 = b["consts"]

    # gray, 64 x 64 (exact integers), half spectrum; cartToPolar casts it to float32
    gray = rgb_to_gray(images, out=b["gray"], work=b["rgb"])
    small = resize_linear_exact_u8(gray, _R, _R, out=b["small"])
    xy = b["xy"].copy_(torch.view_as_real(torch.fft.rfft2(small)).movedim(-1, 0))
    x, y = b["x"], b["y"]

    # cartToPolar on the half grid, float32 (v_atan_f32: c = min / (max + eps), a polynomial in c^2 times
    # c, degrees, then the octant steps); buffers t0..t4 are reused as soon as a value is dead
    t0, t1, t2, t3, t4 = b["t"]
    ax, ay = b["ax"], b["ay"]
    torch.abs(xy, out=b["a"])
    steep = torch.lt(ax, ay, out=t4)
    c = torch.minimum(ax, ay, out=t2).div_(torch.maximum(ax, ay, out=t1).add_(_DBL_EPS_F32))
    mag = fma32(x, x, torch.mul(y, y, out=t0), out=t0).sqrt_()
    cc = torch.mul(c, c, out=t1)
    deg = fma32(cc, p7, p5, out=t3)
    fma32(deg, cc, p3, out=deg)
    fma32(deg, cc, p1, out=deg)
    deg.mul_(c)
    deg.lerp_(torch.sub(c90, deg, out=t1), steep)  # lerp with weight 0 or 1 selects exactly
    deg.lerp_(torch.sub(c180, deg, out=t1), torch.lt(x, 0, out=t4))
    # the last step (y < 0: 360 - a) for the entry and for its mirror image, whose imaginary part is -y
    below = b["ang"]
    torch.lt(y, 0, out=b["below"][0])
    torch.gt(y, 0, out=b["below"][1])
    ang = torch.lerp(deg.expand_as(below), torch.sub(c360, deg, out=t1).expand_as(below), below, out=below)
    ang.mul_(_DEG2RAD_F32)
    cos, sin = b["cos_sin"]
    torch.cos(ang, out=cos)
    torch.sin(ang, out=sin)

    # log(amplitude + 1) on the full grid (the mirror image of the half: |X(-k)| = |X(k)|), bordered by
    # reflection (BORDER_REFLECT_101), and the spectral residual exp(log - 3x3 mean); float32
    torch.add(mag, 1.0, out=b["log_half"]).log_()
    mirrored = b["log_src"].flip((1, 2))  # rows 63..0 of columns 31..1; full row u takes half row -u
    b["log_dst"].copy_(mirrored[:, :-1])
    b["log_dst0"].copy_(mirrored[:, -1])
    for dst, src in b["log_border"]:
        dst.copy_(src)
    l0, l1, l2 = b["log_cols"]
    torch.add(l0, l1, out=b["rows"]).add_(l2)
    r0, r1, r2 = b["row_rows"]
    box = torch.add(r0, r1, out=b["res"]).add_(r2)  # 3x3 sums
    res = torch.sub(b["logamp"], box, alpha=1.0 / 9, out=box).exp_()

    # polarToCart: the full grid of cos/sin from the half and the mirror images' angles, times the residual
    dst, src = b["cs_direct"]
    dst.copy_(src)
    mirrored = b["cs_src"].flip((2, 3))
    b["cs_dst"].copy_(mirrored[:, :, :-1])
    b["cs_dst0"].copy_(mirrored[:, :, -1])
    b["cs"].mul_(res)
    z = b["z"].copy_(torch.complex(*b["cs_re_im"], out=b["z64"]))  # complex64 -> complex128

    # inverse DFT (unscaled, float64), float32 magnitude (cartToPolar), GaussianBlur, square, / max
    back = b["back"].copy_(torch.view_as_real(torch.fft.ifft2(z, norm="forward")))
    re, im = b["back_re_im"]
    g0, g1, g2 = b["g"]
    mag = fma32(re, re, torch.mul(im, im, out=g0), out=g0).sqrt_()
    sal = gaussian_blur(mag, BLUR_KSIZE, BLUR_SIGMA, out=g2, work=g1)
    sal.mul_(sal)
    sal.div_(sal.amax((1, 2), keepdim=True))
    if (h, w) == (_R, _R):
        out.copy_(sal)
    else:
        resize_linear_f32(sal, h, w, out=out)
