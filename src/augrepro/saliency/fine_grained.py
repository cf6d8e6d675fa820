"""Fine-grained static saliency (Montabone & Soto 2010) as OpenCV contrib computes it, batched in torch.

Reproduces ``cv::saliency::StaticSaliencyFineGrained`` (opencv_contrib modules/saliency/src/
staticSaliencyFineGrained.cpp) bit for bit on 8-bit images up to 256 x 256:

1. gray = cvtColor(BGR2GRAY), then GaussianBlur 3x3 twice (8-bit, see ``cvops``);
2. for each neighbourhood n in (12, 24, 48, 28, 56, 112): the box of rows y-n+1 .. y+n and columns
   x-n+1 .. x+n clipped to the image, its sum S and area A (the integral image); the surround mean
   m = (S - g) / (A - 1) in float32; on = (uchar)(g - m) where positive, off = (uchar)(m - g) where
   positive;
3. on and off summed over the six scales, each sum scaled to 0..255 by its image maximum:
   (uchar)(255. * (float)(sum / (float)max));
4. (uchar)(255. * (on + off) / max(max on, max off)) -- the C++ cast keeps the low byte when this
   exceeds 255 (x86: cvttsd2si then the low 8 bits), which we reproduce;
5. the 8-bit map times (float)(1/255).

Exact arithmetic used here instead of the per-pixel float code: g - m = (g A - S) / (A - 1) =: D / (A - 1),
and trunc(fl(D / (A - 1))) equals the exact trunc(D / (A - 1)) because a non-integer quotient is at least
1 / (A - 1) >= 2^-16 from an integer while float32 rounding moves it by < 2^-16 (|D| < 2^24, A < 2^16);
so on = max(T, 0), off = max(-T, 0) with T = trunc(D / (A - 1)). OpenCV's float32 integral image is exact
while the sums stay below 2^24, i.e. up to 256 x 256 images; beyond that both sides round and may differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from augrepro.saliency.cvops import LastPerThread, gaussian3x3_u8, rgb_to_gray

# neighbourhoods {3*4, 3*4*2, 3*4*2*2, 7*4, 7*4*2, 7*4*2*2} of staticSaliencyFineGrained.cpp
NEIGHBOURHOODS = (12, 24, 48, 28, 56, 112)


def _box_range(size: int, nb: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and one-past-last index of the clipped neighbourhood of every position (getMean's P1, P2)."""
    pos = torch.arange(size)
    return (pos - nb + 1).clamp(min=0), (pos + nb + 1).clamp(max=size)


@dataclass(frozen=True, eq=False)
class NeighbourhoodPlan:
    """What the six neighbourhoods amount to on an h x w image: the distinct clipped boxes (a neighbourhood
    at least as large as the image side clips to the same box) with their multiplicity, the areas A and
    divisors A - 1 stacked per box (S x 1 x H x W), and the margins of the padded integral image."""

    boxes: list[tuple[int, int]]  # (rows, columns) half-sizes of the distinct clipped neighbourhoods
    full: int | None  # index of the box that covers the whole image, if any
    area: torch.Tensor  # S x 1 x H x W float32: A per box and pixel
    denom: torch.Tensor  # A - 1, at least 1
    mult: list[int]  # how many of the six neighbourhoods clip to each box
    pad_y: int  # margins of the padded integral image (the largest box smaller than the image)
    pad_x: int


@lru_cache(maxsize=64)
def neighbourhood_plan(h: int, w: int, device: torch.device) -> NeighbourhoodPlan:
    """The ``NeighbourhoodPlan`` of NEIGHBOURHOODS on h x w images (cached per size and device)."""
    counts: dict[tuple[int, int], int] = {}
    for nb in NEIGHBOURHOODS:
        key = (min(nb, h), min(nb, w))
        counts[key] = counts.get(key, 0) + 1
    boxes = list(counts)
    areas = []
    for ny, nx in boxes:
        y1, y2 = _box_range(h, ny)
        x1, x2 = _box_range(w, nx)
        areas.append(((y2 - y1)[:, None] * (x2 - x1)[None, :]).to(torch.float32))
    area = torch.stack(areas)[:, None]
    partial = [(ny, nx) for ny, nx in boxes if (ny, nx) != (h, w)]
    return NeighbourhoodPlan(
        boxes=boxes,
        full=boxes.index((h, w)) if (h, w) in counts else None,
        area=area.to(device),
        denom=(area - 1).clamp(min=1).to(device),  # area 1 (a 1 x 1 image): S = g, so D = 0 and T = 0
        mult=[counts[k] for k in boxes],
        pad_y=max((ny for ny, _ in partial), default=0),
        pad_x=max((nx for _, nx in partial), default=0),
    )


# Images per chunk on the CPU: about CHUNK_PIXELS pixels. Smaller chunks keep a chunk's working set in a
# core's L2 cache but leave each op below torch's parallel grain (2^15 elements) and multiply the per-op
# overhead; bench/bench_saliency.py --design measures the candidates. Other devices take the batch at once.
CHUNK_PIXELS = 1 << 17


def fine_grained(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 RGB -> N x H x W float32 fine-grained saliency in [0, 1] (OpenCV's values)."""
    n, _, h, w = images.shape
    step = n if images.device.type != "cpu" else max(1, min(n, CHUNK_PIXELS // (h * w)))
    plan = neighbourhood_plan(h, w, images.device)
    workspace = _workspace(step, h, w, plan, images.device)
    out = torch.empty((n, h, w), dtype=torch.float32, device=images.device)
    for start in range(0, n, step):
        chunk = images[start : start + step]
        _fine_grained(chunk, plan, workspace.views(len(chunk)), out[start : start + step])
    return out


_WORKSPACES = LastPerThread()  # keeping the buffers saves time (bench/bench_saliency.py records it)


def _workspace(n: int, h: int, w: int, plan: NeighbourhoodPlan, device: torch.device) -> _Workspace:
    """The buffers for chunks of ``n`` images, kept between calls of the same shape (per thread)."""
    key = (n, h, w, device, len(plan.boxes), plan.pad_y, plan.pad_x)  # what the buffers depend on
    return _WORKSPACES.get(key, lambda: _Workspace.allocate(n, h, w, plan, device))


@dataclass(eq=False)
class _Workspace:
    """Buffers reused by every chunk and, through ``_workspace``, by later calls of the same shape (for up
    to n images; ``views(m)`` slices them for a chunk of m). The zero margins of the padded integral image
    are never written."""

    rgb: torch.Tensor  # n x 3 x h x w float32: the images as floats (rgb_to_gray's work buffer)
    gray: torch.Tensor  # n x h x w: the twice blurred gray image
    padded: torch.Tensor  # 2 x n x h+2 x w+2: the two blurs' inputs, bordered
    rows: torch.Tensor  # n x h x w+2: the blurs' vertical pass
    tz: torch.Tensor  # n x h x w: -T of one neighbourhood
    total: torch.Tensor  # n x 1 x 1: the gray sum (the box of the whole image)
    onoff: torch.Tensor  # 2 x n x h x w: sums of |T| and of T, then on and off
    f64: torch.Tensor  # 2 x n x h x w float64: _scale_to_byte's products
    integral: torch.Tensor | None  # n x h+2 pad_y+1 x w+2 pad_x+1: the padded integral image (None: no box)

    @classmethod
    def allocate(cls, n: int, h: int, w: int, plan: NeighbourhoodPlan, device: torch.device) -> _Workspace:
        py, px = plan.pad_y, plan.pad_x
        return cls(
            rgb=torch.empty((n, 3, h, w), dtype=torch.float32, device=device),
            gray=torch.empty((n, h, w), dtype=torch.float32, device=device),
            padded=torch.empty((2, n, h + 2, w + 2), dtype=torch.float32, device=device),
            rows=torch.empty((n, h, w + 2), dtype=torch.float32, device=device),
            tz=torch.empty((n, h, w), dtype=torch.float32, device=device),
            total=torch.empty((n, 1, 1), dtype=torch.float32, device=device),
            onoff=torch.empty((2, n, h, w), dtype=torch.float32, device=device),
            f64=torch.empty((2, n, h, w), dtype=torch.float64, device=device),
            integral=torch.zeros((n, h + 2 * py + 1, w + 2 * px + 1), dtype=torch.float32, device=device)
            if py
            else None,
        )

    def views(self, m: int) -> _Workspace:
        """The same buffers cut to the first ``m`` images (stacked buffers along their second axis)."""
        return _Workspace(
            rgb=self.rgb[:m],
            gray=self.gray[:m],
            padded=self.padded[:, :m],
            rows=self.rows[:m],
            tz=self.tz[:m],
            total=self.total[:m],
            onoff=self.onoff[:, :m],
            f64=self.f64[:, :m],
            integral=None if self.integral is None else self.integral[:m],
        )


def _fine_grained(images: torch.Tensor, plan: NeighbourhoodPlan, buffers: _Workspace, out: torch.Tensor) -> None:
    h, w = images.shape[2:]
    gray = buffers.gray
    # gray, then GaussianBlur 3x3 twice; each blur reads its input from the inside of a bordered buffer
    inner = buffers.padded[:, :, 1:-1, 1:-1]
    rgb_to_gray(images, out=inner[0], work=buffers.rgb)
    gaussian3x3_u8(inner[0], out=inner[1], padded=buffers.padded[0], rows=buffers.rows)
    gaussian3x3_u8(inner[1], out=gray, padded=buffers.padded[1], rows=buffers.rows)
    r0, c0 = plan.pad_y + 1, plan.pad_x + 1
    integral = buffers.integral
    if integral is not None:
        # integral image S[y, x] = sum of gray[:y, :x] at integral[r0 - 1 + y, c0 - 1 + x], constant beyond
        # the image
        core = integral[:, r0 : r0 + h, c0 : c0 + w]
        torch.cumsum(gray, 1, out=core)
        core.cumsum_(2)
        integral[:, r0 + h :, c0 : c0 + w] = core[:, -1:, :]
        integral[:, r0 : r0 + h, c0 + w :] = core[:, :, -1:]
        integral[:, r0 + h :, c0 + w :] = core[:, -1:, -1:]
    # per box: -T = trunc((S - g A) / (A - 1)) into ``tz``, then its sum and the sum of its absolute values
    # accumulated (one box's values stay in cache instead of a stack of all boxes)
    onoff = buffers.onoff
    sum_abs, sum_t = onoff[0], onoff[1]
    tz = buffers.tz
    for box, (ny, nx) in enumerate(plan.boxes):
        if box == plan.full:
            total = torch.sum(gray, (1, 2), keepdim=True, out=buffers.total)
            torch.addcmul(total, gray, plan.area[box], value=-1, out=tz)  # S - g A = -D
        else:
            if integral is None:  # allocate() makes it whenever a box is smaller than the image (pad_y > 0)
                raise RuntimeError(f"fine-grained saliency: the {ny} x {nx} box needs the workspace's integral image")
            # S - g A = -D, the box sum S over rows y-ny+1 .. y+ny and columns x-nx+1 .. x+nx being four
            # shifted slices of the integral image (all integers below 2^24: exact in float32 in any order)
            top, bottom, left, right = r0 - ny, r0 + ny, c0 - nx, c0 + nx
            torch.addcmul(integral[:, bottom : bottom + h, right : right + w], gray, plan.area[box], value=-1, out=tz)
            tz.sub_(integral[:, bottom : bottom + h, left : left + w])
            tz.sub_(integral[:, top : top + h, right : right + w])
            tz.add_(integral[:, top : top + h, left : left + w])
        tz.div_(plan.denom[box], rounding_mode="trunc")  # -T
        mult = plan.mult[box]  # a neighbourhood clipped to the same box as another counts again
        if box == 0:
            torch.mul(tz, mult, out=sum_t)
            torch.mul(tz.abs_(), mult, out=sum_abs)
        else:
            sum_t.add_(tz, alpha=mult)
            sum_abs.add_(tz.abs_(), alpha=mult)
    # on = sum of max(T, 0) = (|T| + T) / 2 and off = sum of max(-T, 0) = (|T| - T) / 2, in place
    on = sum_abs.sub_(sum_t).mul_(0.5)
    sum_t.add_(on)  # off
    on_off8 = _scale_to_byte(onoff, buffers.f64)
    # mixOnOff's (uchar)(255. * (on + off) / max) with max the larger maximum of the two 8-bit maps: a map
    # scaled to bytes has maximum trunc(255. * (float)(m / m)) = 255 unless it is all zero, so max is 255
    # (or on = off = 0) and the quotient is on + off <= 510 exactly; the uchar cast keeps its low byte
    # (x86: cvttsd2si, then the low 8 bits). Then convertTo(CV_32F, 1/255).
    mixed = torch.add(on_off8[0], on_off8[1], out=out)
    high = torch.div(mixed, 256, rounding_mode="trunc", out=on_off8[0])
    mixed.sub_(high, alpha=256).mul_(_INV255)


_INV255 = float(torch.tensor(1 / 255, dtype=torch.float32))  # convertTo(CV_32F, 1.0f / 255.0f)


def _scale_to_byte(total: torch.Tensor, f64: torch.Tensor) -> torch.Tensor:
    """mixScales' (uchar)(255. * (float)(sum / (float)max)) on float32 sums (... x H x W, one maximum per
    map), in place: float32 quotient, float64 product (in the buffer ``f64``), truncated -- the float64 step
    matters when 255 * sum / max is an integer; a zero maximum (0/0 in C++, cast to 0) is taken as 1, which
    gives the same zeros."""
    peak = total.amax((-2, -1), keepdim=True).clamp_(min=1)
    f64.copy_(total.div_(peak)).mul_(255.0).trunc_()
    return total.copy_(f64)
