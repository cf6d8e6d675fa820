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

Against cv2 5.0 on real photographs (tests/test_saliency.py's five sets, 600 images; the test prints the
figures): max |diff| 3e-7 to 8e-7 on maps in [0, 1], 12-21 % of the pixels identical, peaks all identical,
correlation 1 - 1e-12. The same steps in float64 agree more closely but run slower (bench/bench_saliency.py
records that measurement); what is left there are float64 rounding differences between two FFT
implementations (and summation orders) that flip a float32 rounding now and then, and the one-ulp magnitudes.

The computation is five phases, each a function below (``_half_spectrum``, ``_half_polar``,
``_log_residual``, ``_full_polar_to_cart``, ``_saliency_from_spectrum``). On the CPU a batch runs in chunks
of ``CHUNK_CPU`` images (``CHUNK_CPU_THREADS`` with more than one thread) through buffers that are kept per
thread and shape (``_Workspace``); every op works on a whole chunk, writing into named views of those
buffers (``_ChunkViews``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augrepro.saliency.cvops import (
    ATAN_POLY_DEG,
    DBL_EPSILON_F32,
    DEG2RAD_F32,
    LastPerThread,
    fma32,
    gaussian_blur,
    resize_linear_exact_u8,
    resize_linear_f32,
    rgb_to_gray,
)

RESIZED = 64  # resImWidth = resImHeight = 64 in the OpenCV constructor
BLUR_KSIZE, BLUR_SIGMA = 5, 8.0  # GaussianBlur(magnitude, Size(5, 5), 8) of the OpenCV source

# Images per chunk: on the CPU a chunk trades torch's per-op overhead (about 80 ops per chunk, a few
# microseconds each) against cache misses (about 0.5 MiB of buffers per image); with more than one thread
# each op of a larger chunk is split between the threads. Other devices take up to CHUNK_DEVICE images at
# once. bench/bench_saliency.py --design measures the candidates.
CHUNK_CPU, CHUNK_CPU_THREADS, CHUNK_DEVICE = 32, 64, 1024

_SIDE, _HALF = RESIZED, RESIZED // 2 + 1  # spectrum side, columns of its non-redundant half
_MIRRORED = slice(1, RESIZED // 2)  # half-spectrum columns whose mirror images fill columns _HALF.. of the full one


def spectral_residual(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 RGB -> N x H x W float32 spectral-residual saliency in [0, 1]."""
    n, _, h, w = images.shape
    out = torch.empty((n, h, w), dtype=torch.float32, device=images.device)
    if n == 0:
        return out
    if images.device.type == "cpu":
        step = min(n, CHUNK_CPU if torch.get_num_threads() == 1 else CHUNK_CPU_THREADS)
    else:
        step = min(n, CHUNK_DEVICE)
    workspace = _workspace(step, h, w, images.device)
    for start in range(0, n, step):
        chunk = images[start : start + step]
        _spectral_residual(chunk, workspace.views(len(chunk)), out[start : start + step])
    return out


def _spectral_residual(images: torch.Tensor, views: _ChunkViews, out: torch.Tensor) -> None:
    """One chunk of N x 3 x H x W uint8 images -> ``out`` (N x H x W float32), through the buffers of ``views``."""
    _half_spectrum(images, views)
    magnitude = _half_polar(views)
    residual = _log_residual(magnitude, views)
    spectrum = _full_polar_to_cart(residual, views)
    _saliency_from_spectrum(spectrum, views, out)


# --- buffers ---------------------------------------------------------------------------------------------

_WORKSPACES = LastPerThread()  # allocating the buffers per call costs time (bench/bench_saliency.py records it)


def _workspace(n: int, h: int, w: int, device: torch.device) -> _Workspace:
    """The buffers for chunks of ``n`` images of h x w, kept between calls of the same shape (per thread)."""
    return _WORKSPACES.get((n, h, w, device), lambda: _Workspace.allocate(n, h, w, device))


@dataclass(eq=False)
class _Workspace:
    """The buffers for chunks of up to ``n`` images of h x w; ``views(m)`` gives (and remembers) the views
    that a chunk of m images uses. Planar buffers hold a leading axis of 2 (re/im, cos/sin or
    direct/mirrored); ``_HALF`` is the half spectrum's width (64 x 33), ``_SIDE`` the full one's (64 x 64)."""

    atan_coeffs: tuple[torch.Tensor, ...]  # the fastAtan polynomial's p1, p3, p5, p7 (float32 scalars)
    right_angles: tuple[torch.Tensor, ...]  # 90, 180, 360 degrees (float32 scalars)
    rgb: torch.Tensor  # n x 3 x h x w float32: the images as floats (rgb_to_gray's work buffer)
    gray: torch.Tensor  # n x h x w
    small: torch.Tensor  # n x 64 x 64 float64: the 8-bit gray image resized
    spectrum: torch.Tensor  # 2 x n x 64 x 33: the half spectrum's re and im planes, float32
    abs_parts: torch.Tensor  # 2 x n x 64 x 33: |re|, |im|
    scratch: torch.Tensor  # 5 x n x 64 x 33: scratch on the half grid
    angles: torch.Tensor  # 2 x n x 64 x 33: angle of an entry and of its mirror image
    cos_sin_half: torch.Tensor  # 2 x 2 x n x 64 x 33: cos/sin x entry/mirror image
    log_padded: torch.Tensor  # n x 66 x 66: log amplitude with a 1-pixel border
    row_sums: torch.Tensor  # n x 66 x 64: sums of 3 neighbouring columns
    residual: torch.Tensor  # n x 64 x 64: 3x3 sums, then the spectral residual
    cos_sin: torch.Tensor  # 2 x n x 64 x 64: the full grid's cos/sin times the residual
    spectrum64: torch.Tensor  # n x 64 x 64 complex64
    spectrum128: torch.Tensor  # n x 64 x 64 complex128
    back: torch.Tensor  # n x 64 x 64 x 2: the inverse DFT's re and im, float32
    blur: torch.Tensor  # 3 x n x 64 x 64: magnitude, the blur's work buffer and its output
    chunks: dict[int, _ChunkViews]

    @classmethod
    def allocate(cls, n: int, h: int, w: int, device: torch.device) -> _Workspace:
        side, half = _SIDE, _HALF
        constants = tuple(
            torch.tensor(v, dtype=torch.float32, device=device) for v in (*ATAN_POLY_DEG, 90.0, 180.0, 360.0)
        )
        return cls(
            atan_coeffs=constants[:4],
            right_angles=constants[4:],
            rgb=torch.empty((n, 3, h, w), dtype=torch.float32, device=device),
            gray=torch.empty((n, h, w), dtype=torch.float32, device=device),
            small=torch.empty((n, side, side), dtype=torch.float64, device=device),
            spectrum=torch.empty((2, n, side, half), dtype=torch.float32, device=device),
            abs_parts=torch.empty((2, n, side, half), dtype=torch.float32, device=device),
            scratch=torch.empty((5, n, side, half), dtype=torch.float32, device=device),
            angles=torch.empty((2, n, side, half), dtype=torch.float32, device=device),
            cos_sin_half=torch.empty((2, 2, n, side, half), dtype=torch.float32, device=device),
            log_padded=torch.empty((n, side + 2, side + 2), dtype=torch.float32, device=device),
            row_sums=torch.empty((n, side + 2, side), dtype=torch.float32, device=device),
            residual=torch.empty((n, side, side), dtype=torch.float32, device=device),
            cos_sin=torch.empty((2, n, side, side), dtype=torch.float32, device=device),
            spectrum64=torch.empty((n, side, side), dtype=torch.complex64, device=device),
            spectrum128=torch.empty((n, side, side), dtype=torch.complex128, device=device),
            back=torch.empty((n, side, side, 2), dtype=torch.float32, device=device),
            blur=torch.empty((3, n, side, side), dtype=torch.float32, device=device),
            chunks={},
        )

    def views(self, m: int) -> _ChunkViews:
        views = self.chunks.get(m)
        if views is None:
            views = self.chunks[m] = _ChunkViews.of(self, m)
        return views


@dataclass(eq=False)
class _ChunkViews:
    """Named views of a ``_Workspace``'s buffers for one chunk of m images, in the order the phases use them."""

    # constants
    atan_coeffs: tuple[torch.Tensor, ...]
    right_angles: tuple[torch.Tensor, ...]
    # _half_spectrum
    rgb: torch.Tensor
    gray: torch.Tensor
    small: torch.Tensor
    spectrum: torch.Tensor  # 2 x m x 64 x 33
    re: torch.Tensor
    im: torch.Tensor
    # _half_polar
    abs_parts: torch.Tensor  # 2 x m x 64 x 33
    abs_re: torch.Tensor
    abs_im: torch.Tensor
    scratch: tuple[torch.Tensor, ...]  # 5 planes
    angles: torch.Tensor  # 2 x m x 64 x 33: entry, mirror image
    below: tuple[torch.Tensor, torch.Tensor]  # the planes of ``angles``: im < 0, and the mirror image's
    cos_half: torch.Tensor  # 2 x m x 64 x 33: entry, mirror image
    sin_half: torch.Tensor
    # _log_residual
    log_half: torch.Tensor  # the half spectrum's columns of the inside of the bordered log amplitude
    log_mirror_source: torch.Tensor  # its columns 1..31, whose mirror images fill the other columns
    log_mirror_target: torch.Tensor  # rows 1.. of the mirrored columns
    log_mirror_target_row0: torch.Tensor  # row 0 of the mirrored columns
    log_border: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # (destination, source): BORDER_REFLECT_101
    log_column_windows: tuple[torch.Tensor, ...]  # three columns-shifted windows of the bordered buffer
    row_sums: torch.Tensor
    row_windows: tuple[torch.Tensor, ...]  # three rows-shifted windows of ``row_sums``
    log_amplitude: torch.Tensor  # the inside of the bordered buffer: the full grid's log amplitude
    residual: torch.Tensor
    # _full_polar_to_cart
    cos_sin: torch.Tensor  # 2 x m x 64 x 64
    cos_sin_direct: tuple[torch.Tensor, torch.Tensor]  # (destination, source): the half's own columns
    cos_sin_mirror_source: torch.Tensor  # the mirror images' cos/sin of columns 1..31
    cos_sin_mirror_target: torch.Tensor  # rows 1.. of the mirrored columns
    cos_sin_mirror_target_row0: torch.Tensor  # row 0 of the mirrored columns
    cos_plane: torch.Tensor
    sin_plane: torch.Tensor
    spectrum64: torch.Tensor
    spectrum128: torch.Tensor
    # _saliency_from_spectrum
    back: torch.Tensor
    back_re: torch.Tensor
    back_im: torch.Tensor
    blur: tuple[torch.Tensor, ...]  # 3 planes

    @classmethod
    def of(cls, workspace: _Workspace, count: int) -> _ChunkViews:
        """The views for the first ``count`` (m) images of the workspace's buffers."""
        side, half = _SIDE, _HALF
        spectrum, abs_parts = workspace.spectrum[:, :count], workspace.abs_parts[:, :count]
        angles = workspace.angles[:, :count]
        cos_sin_half, cos_sin = workspace.cos_sin_half[:, :, :count], workspace.cos_sin[:, :count]
        log_padded, row_sums, back = workspace.log_padded[:count], workspace.row_sums[:count], workspace.back[:count]
        inside = log_padded[:, 1 : side + 1, 1 : side + 1]
        return cls(
            atan_coeffs=workspace.atan_coeffs,
            right_angles=workspace.right_angles,
            rgb=workspace.rgb[:count],
            gray=workspace.gray[:count],
            small=workspace.small[:count],
            spectrum=spectrum,
            re=spectrum[0],
            im=spectrum[1],
            abs_parts=abs_parts,
            abs_re=abs_parts[0],
            abs_im=abs_parts[1],
            scratch=tuple(workspace.scratch[:, :count]),
            angles=angles,
            below=(angles[0], angles[1]),
            cos_half=cos_sin_half[0],
            sin_half=cos_sin_half[1],
            log_half=inside[..., :half],
            log_mirror_source=inside[..., _MIRRORED],
            log_mirror_target=log_padded[:, 2 : side + 1, half + 1 : side + 1],
            log_mirror_target_row0=log_padded[:, 1, half + 1 : side + 1],
            # BORDER_REFLECT_101 of the inside: (destination, source) columns, then whole rows
            log_border=(
                (log_padded[:, 1 : side + 1, 0], log_padded[:, 1 : side + 1, 2]),
                (log_padded[:, 1 : side + 1, side + 1], log_padded[:, 1 : side + 1, side - 1]),
                (log_padded[:, 0], log_padded[:, 2]),
                (log_padded[:, side + 1], log_padded[:, side - 1]),
            ),
            log_column_windows=tuple(log_padded[..., i : i + side] for i in range(3)),
            row_sums=row_sums,
            row_windows=tuple(row_sums[:, i : i + side] for i in range(3)),
            log_amplitude=inside,
            residual=workspace.residual[:count],
            cos_sin=cos_sin,
            cos_sin_direct=(cos_sin[..., :half], cos_sin_half[:, 0]),
            cos_sin_mirror_source=cos_sin_half[:, 1, :, :, _MIRRORED],
            cos_sin_mirror_target=cos_sin[:, :, 1:, half:],
            cos_sin_mirror_target_row0=cos_sin[:, :, 0, half:],
            cos_plane=cos_sin[0],
            sin_plane=cos_sin[1],
            spectrum64=workspace.spectrum64[:count],
            spectrum128=workspace.spectrum128[:count],
            back=back,
            back_re=back[..., 0],
            back_im=back[..., 1],
            blur=tuple(workspace.blur[:, :count]),
        )


# --- the phases ------------------------------------------------------------------------------------------


def _half_spectrum(images: torch.Tensor, views: _ChunkViews) -> None:
    """Gray, 64 x 64 (exact integers), the half spectrum (float64 rfft2) into ``views.spectrum``; cartToPolar
    casts it to float32."""
    gray = rgb_to_gray(images, out=views.gray, work=views.rgb)
    small = resize_linear_exact_u8(gray, _SIDE, _SIDE, out=views.small)
    views.spectrum.copy_(torch.view_as_real(torch.fft.rfft2(small)).movedim(-1, 0))


def _half_polar(views: _ChunkViews) -> torch.Tensor:
    """cartToPolar on the half grid, float32: returns the magnitude (in a scratch plane) and writes the cos
    and sin of the angle of each entry and of its mirror image into ``views.cos_half``, ``views.sin_half``.

    The angle is v_atan_f32's: c = min / (max + eps), a polynomial in c^2 times c, degrees, then the
    octant steps. The scratch planes t0..t4 are reused as soon as a value is dead."""
    p1, p3, p5, p7 = views.atan_coeffs
    deg90, deg180, deg360 = views.right_angles
    x, y = views.re, views.im
    t0, t1, t2, t3, t4 = views.scratch
    ax, ay = views.abs_re, views.abs_im
    torch.abs(views.spectrum, out=views.abs_parts)
    steep = torch.lt(ax, ay, out=t4)
    c = torch.minimum(ax, ay, out=t2).div_(torch.maximum(ax, ay, out=t1).add_(DBL_EPSILON_F32))
    magnitude = fma32(x, x, torch.mul(y, y, out=t0), out=t0).sqrt_()
    cc = torch.mul(c, c, out=t1)
    deg = fma32(cc, p7, p5, out=t3)
    fma32(deg, cc, p3, out=deg)
    fma32(deg, cc, p1, out=deg)
    deg.mul_(c)
    deg.lerp_(torch.sub(deg90, deg, out=t1), steep)  # lerp with weight 0 or 1 selects exactly
    deg.lerp_(torch.sub(deg180, deg, out=t1), torch.lt(x, 0, out=t4))
    # the last step (y < 0: 360 - a) for the entry and for its mirror image, whose imaginary part is -y
    below = views.angles
    torch.lt(y, 0, out=views.below[0])
    torch.gt(y, 0, out=views.below[1])
    angle = torch.lerp(deg.expand_as(below), torch.sub(deg360, deg, out=t1).expand_as(below), below, out=below)
    angle.mul_(DEG2RAD_F32)
    torch.cos(angle, out=views.cos_half)
    torch.sin(angle, out=views.sin_half)
    return magnitude


def _log_residual(magnitude: torch.Tensor, views: _ChunkViews) -> torch.Tensor:
    """log(amplitude + 1) on the full grid (the mirror image of the half: |X(-k)| = |X(k)|), bordered by
    reflection (BORDER_REFLECT_101), and the spectral residual exp(log - 3x3 mean); float32."""
    torch.add(magnitude, 1.0, out=views.log_half).log_()
    mirrored = views.log_mirror_source.flip((1, 2))  # rows 63..0 of columns 31..1; full row u takes half row -u
    views.log_mirror_target.copy_(mirrored[:, :-1])
    views.log_mirror_target_row0.copy_(mirrored[:, -1])
    for target, source in views.log_border:
        target.copy_(source)
    left, centre, right = views.log_column_windows
    torch.add(left, centre, out=views.row_sums).add_(right)
    top, middle, bottom = views.row_windows
    box = torch.add(top, middle, out=views.residual).add_(bottom)  # 3x3 sums
    return torch.sub(views.log_amplitude, box, alpha=1.0 / 9, out=box).exp_()


def _full_polar_to_cart(residual: torch.Tensor, views: _ChunkViews) -> torch.Tensor:
    """polarToCart: the full grid of cos/sin from the half and the mirror images' angles, times the residual;
    returns the spectrum as complex128 (via complex64, as the float32 planes hold it)."""
    target, source = views.cos_sin_direct
    target.copy_(source)
    mirrored = views.cos_sin_mirror_source.flip((2, 3))
    views.cos_sin_mirror_target.copy_(mirrored[:, :, :-1])
    views.cos_sin_mirror_target_row0.copy_(mirrored[:, :, -1])
    views.cos_sin.mul_(residual)
    return views.spectrum128.copy_(torch.complex(views.cos_plane, views.sin_plane, out=views.spectrum64))


def _saliency_from_spectrum(spectrum: torch.Tensor, views: _ChunkViews, out: torch.Tensor) -> None:
    """Inverse DFT (unscaled, float64), float32 magnitude (cartToPolar), GaussianBlur, square, / max, and
    the resize to the images' size, into ``out``."""
    views.back.copy_(torch.view_as_real(torch.fft.ifft2(spectrum, norm="forward")))
    re, im = views.back_re, views.back_im
    magnitude_buf, work, blurred = views.blur
    magnitude = fma32(re, re, torch.mul(im, im, out=magnitude_buf), out=magnitude_buf).sqrt_()
    saliency = gaussian_blur(magnitude, BLUR_KSIZE, BLUR_SIGMA, out=blurred, work=work)
    saliency.mul_(saliency)
    saliency.div_(saliency.amax((1, 2), keepdim=True))
    h, w = out.shape[1:]
    if (h, w) == (_SIDE, _SIDE):
        out.copy_(saliency)
    else:
        resize_linear_f32(saliency, h, w, out=out)
