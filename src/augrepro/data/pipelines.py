"""The batched tensor backend of the image pipelines: a ``PipelineSpec`` run on the training device.

The named pipelines, their keys and every value live in ``augrepro.data.pipeline_spec`` (one registry, one
validator); :func:`tensor_pipeline` builds the batched executor of a spec and :func:`build_pipeline` does so for a
protocol's ``pipeline`` of images in memory (``PIPELINES``). A pipeline turns a batch of uint8 images
(N x 3 x H x W, on the training device) into the batch that ``DeviceData.normalize`` takes. All randomness is
drawn from the caller's CPU ``torch.Generator`` (so the stream is identical on every device and can be
checkpointed); only the drawn parameters travel to the device (``augrepro.transfer.to_device``, no stream
synchronization). Executors:

- :class:`NoAugmentation` (no op): returns the uint8 batch.
- :class:`PadCropFlip` (PadCrop + flip): RandomCrop(size, padding, fill 0) + RandomHorizontalFlip(0.5);
  returns uint8.
- :class:`RandomResizedCropFlip` (ResizedCrop + flip): RandomResizedCrop(size, scale, ratio, bilinear) +
  RandomHorizontalFlip(0.5); returns float32 in [0, 1].
- :class:`RandomResizedCropFlipJitter` (+ ColorJitter [+ Lighting]): the above + ColorJitter(brightness,
  contrast, saturation, hue) in a random order per sample, then the PCA lighting noise (not clamped), with
  torchvision's jitter (clamps to [0, 1] after each op) or the CutMix / SaliencyMix-ImageNet code's
  utils.ColorJitter (the same blends, factors and random order, never clamped, grey 0.299 R + 0.587 G +
  0.114 B; no hue); returns float32 in [0, 1] (before the lighting noise). The decode path
  (``augrepro.data.jpeg``) runs it on ImageNet's spec.

Equality with torchvision (tensor backend, float images in [0, 1]; see the tests):

- the crop boxes follow ``RandomResizedCrop.get_params``'s distribution exactly (same float32 draws, same
  double arithmetic and round-half-even; the integer offsets are drawn as floor(U * range) instead of
  ``torch.randint``, the same distribution up to 2**-53);
- the resize equals ``F.resized_crop(img, i, j, h, w, size, BILINEAR, antialias=A)`` to float32 rounding
  (about 1e-6) for either ``antialias`` (default True, RandomResizedCrop's): both weightings are
  implemented (align_corners=False; the antialiased one widens the triangle filter by the scale factor
  when a side shrinks). Where no side shrinks (every crop on CIFAR/Tiny-ImageNet, whose crops are never
  larger than the output), the two weightings are the same; where a crop side equals the output side the
  result is the crop itself, bit for bit;
- colour jitter equals ``F.adjust_brightness/contrast/saturation/hue`` applied in the sampled order; the
  order is a uniformly random permutation per sample, as ColorJitter's ``torch.randperm(4)`` (drawn as the
  argsort of four uniforms); an op whose strength is 0 gets the neutral factor and so does nothing, as
  ColorJitter skips it.

Draws per batch of n, from the CPU generator, in this order: pad_crop_flip: randint offsets (2 x n), flips
(n), as it always has; random_resized_crop_flip: the crop boxes (``sample_resized_crop_params``), flips (n);
the jitter pipeline then jitter factors (n x 4), order keys (n x 4) and, with ``lighting``, alphas (n x 3).

It is not equal to torchvision's PIL path (what a torchvision dataset of PIL images goes through): PIL
rounds to uint8 after the resize and after every jitter op, uses 8-bit fixed-point filter weights and
its own grayscale (ITU-R 601-2 with integer rounding, an integer contrast mean).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from augrepro.data.jitter import color_jitter, lighting
from augrepro.data.pipeline_spec import (
    DEFAULT_RATIO,
    DEFAULT_SCALE,
    PIXEL_PIPELINES,
    ColorJitter,
    HorizontalFlip,
    Lighting,
    PadCrop,
    PipelineSpec,
    ResizedCrop,
    check_pair,
    parse_pixel_pipeline,
)
from augrepro.transfer import to_device

PIPELINES = PIXEL_PIPELINES  # the named pipelines of images in memory (augrepro.data.pipeline_spec.REGISTRY)


# --- pad_crop_flip --------------------------------------------------------------------------------


def random_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding, fill 0) then RandomHorizontalFlip(0.5), per sample, batched."""
    n, c, h, w = x.shape
    offsets = to_device(torch.randint(0, 2 * padding + 1, (2, n), generator=generator), x.device)
    flip = to_device(torch.rand(n, generator=generator) < 0.5, x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # n x h
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # n x w
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


# --- random resized crop: parameters --------------------------------------------------------------


def sample_resized_crop_params(
    heights,
    widths,
    scale=DEFAULT_SCALE,
    ratio=DEFAULT_RATIO,
    generator: torch.Generator | None = None,
    attempts: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop boxes (top, left, height, width) of RandomResizedCrop for images of the given sizes, one per image.

    Same distribution as torchvision transforms.RandomResizedCrop.get_params, vectorized: ``attempts`` tries
    of area ~ U(scale) * H * W and aspect ratio exp(U(log ratio)), w = round(sqrt(area * ratio)),
    h = round(sqrt(area / ratio)); the first try with 0 < w <= W and 0 < h <= H is taken, with
    top ~ U{0..H-h} and left ~ U{0..W-w}; if none fits, the central crop of the whole image with its aspect
    ratio clamped to ``ratio``. ``heights``/``widths``: per-image sizes (ints or 1-D integer tensors).
    Every call draws the same amount from ``generator`` (CPU): 2 x n x attempts float32 uniforms, then
    2 x n float64 uniforms. Returns int64 CPU tensors of shape (n,).
    """
    heights = torch.as_tensor(heights, dtype=torch.int64).reshape(-1).cpu()
    widths = torch.as_tensor(widths, dtype=torch.int64).reshape(-1).cpu()
    if heights.shape != widths.shape:
        raise ValueError(f"heights and widths differ in length: {heights.numel()} != {widths.numel()}")
    if heights.numel() and int(torch.minimum(heights, widths).min()) < 1:
        raise ValueError("image heights and widths must be >= 1")
    scale, ratio = check_pair("scale", scale, 0.0, 1.0), check_pair("ratio", ratio, 0.0, math.inf)
    if attempts < 0:
        raise ValueError(f"attempts must be >= 0, got {attempts}")
    n = heights.numel()
    height, width = heights.double(), widths.double()
    area = height * width
    # float32 draws, as torch.empty(1).uniform_ in torchvision RandomResizedCrop.get_params
    log_ratio = torch.log(torch.tensor(ratio))
    frac = torch.empty(n, attempts).uniform_(scale[0], scale[1], generator=generator)
    log_r = torch.empty(n, attempts).uniform_(float(log_ratio[0]), float(log_ratio[1]), generator=generator)
    target_area = area[:, None] * frac.double()
    aspect = torch.exp(log_r).double()  # exp in float32, then a Python float, as get_params
    w = torch.round(torch.sqrt(target_area * aspect)).long()  # torch.round and Python round: half to even
    h = torch.round(torch.sqrt(target_area / aspect)).long()
    fits = (w > 0) & (w <= widths[:, None]) & (h > 0) & (h <= heights[:, None])
    found = fits.any(1)
    if attempts:
        first = fits.to(torch.int8).argmax(1, keepdim=True)  # the first try that fits
        h_try, w_try = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)
    else:
        h_try = w_try = torch.zeros(n, dtype=torch.int64)
    offsets = torch.rand(2, n, generator=generator, dtype=torch.float64)
    # fallback: central crop (torchvision RandomResizedCrop.get_params, after the loop)
    in_ratio = width / height
    r_min, r_max = min(ratio), max(ratio)
    narrow, wide = in_ratio < r_min, in_ratio > r_max
    h_fb = torch.where(narrow, torch.round(width / r_min).long(), heights)
    w_fb = torch.where(wide, torch.round(height * r_max).long(), widths)
    h_box = torch.where(found, h_try, h_fb)
    w_box = torch.where(found, w_try, w_fb)
    top_try = torch.minimum((offsets[0] * (heights - h_box + 1)).floor().long(), heights - h_box)
    left_try = torch.minimum((offsets[1] * (widths - w_box + 1)).floor().long(), widths - w_box)
    top = torch.where(found, top_try, (heights - h_box) // 2)
    left = torch.where(found, left_try, (widths - w_box) // 2)
    return top, left, h_box, w_box


# --- random resized crop: the batched resize ------------------------------------------------------


def _max_taps(lengths: torch.Tensor, out_size: int, antialias: bool) -> int:
    """Source pixels per output pixel (host side, from the CPU box sizes): a triangle filter of half-width
    max(1, length / out) when antialiased (torch's _upsample_bilinear2d_aa), 1 otherwise."""
    if not antialias or lengths.numel() == 0:
        return 2
    # the first tap is floor(center - support + 0.5): taps at k >= 2 * support have weight 0
    return int(math.ceil(2 * max(1.0, int(lengths.max()) / out_size)))


def _axis_taps(start, length, flip, in_size: int, out_size: int, taps: int, antialias: bool):
    """Source indices and weights (N x out x taps) of one axis of a bilinear resize (align_corners=False) of
    the window [start, start + length) to ``out_size``; ``flip`` (N bools or None) mirrors the output.

    antialias=False: ATen upsample_bilinear2d (source x = (o + 0.5) * scale - 0.5, clamped to the window;
    two taps). antialias=True: ATen _upsample_bilinear2d_aa (triangle of half-width max(scale, 1) around
    (o + 0.5) * scale, normalized over the pixels inside the window)."""
    dev = start.device
    length_f = length.to(torch.float32)[:, None]
    scale = length_f / out_size  # N x 1
    o = torch.arange(out_size, device=dev, dtype=torch.float32).expand(len(start), out_size)
    if flip is not None:
        o = torch.where(flip[:, None], (out_size - 1) - o, o)
    center = scale * (o + 0.5)  # N x out, in window coordinates
    k = torch.arange(taps, device=dev, dtype=torch.float32)
    if antialias:
        support = scale.clamp(min=1.0)[..., None]  # N x 1 x 1
        first = (center[..., None] - support + 0.5).floor().clamp(min=0)
        pos = first + k  # window pixel of each tap
        w = (1 - ((pos + 0.5 - center[..., None]) / support).abs()).clamp(min=0)
        w = torch.where(pos < length_f[..., None], w, torch.zeros((), device=dev))
        w = w / w.sum(-1, keepdim=True)
    else:
        src = torch.minimum((center - 0.5).clamp(min=0), length_f - 1)
        pos = src.floor()[..., None] + k
        w = (1 - (pos - src[..., None]).abs()).clamp(min=0)
        w = torch.where(pos < length_f[..., None], w, torch.zeros((), device=dev))
    pos = torch.minimum(pos, length_f[..., None] - 1)  # taps outside the window have weight 0
    idx = (pos.long() + start[:, None, None]).clamp(0, in_size - 1)
    return idx, w


def resized_crop_flip(
    x: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    flip: torch.Tensor | None,
    size: int | tuple[int, int],
    antialias: bool = True,
) -> torch.Tensor:
    """Per sample: crop [top:top+height, left:left+width], resize to ``size`` (bilinear, align_corners=False,
    antialiased when ``antialias`` and a side shrinks), mirror where ``flip``. Batched; float output.

    Equals torchvision ``F.hflip(F.resized_crop(x[i], top, left, height, width, size, BILINEAR, antialias))``
    to float32 rounding. Box and flip: (N,) tensors on the CPU (the tap count is read from them on the host;
    tensors on the device would be copied back, a sync). ``x``: N x C x H x W, float (integers are
    converted to float32 unscaled)."""
    if not x.is_floating_point():
        x = x.to(torch.float32)
    out_h, out_w = (size, size) if isinstance(size, int) else size
    n, c, in_h, in_w = x.shape
    box = torch.stack([torch.as_tensor(v, dtype=torch.int64).reshape(-1).cpu() for v in (top, left, height, width)])
    taps_h, taps_w = _max_taps(box[2], out_h, antialias), _max_taps(box[3], out_w, antialias)
    box = to_device(box, x.device)
    flip = None if flip is None else to_device(flip.to(torch.bool), x.device)
    iy, wy = _axis_taps(box[0], box[2], None, in_h, out_h, taps_h, antialias)
    ix, wx = _axis_taps(box[1], box[3], flip, in_w, out_w, taps_w, antialias)
    wy, wx = wy.to(x.dtype), wx.to(x.dtype)
    # horizontal pass first, as ATen's separable antialiased kernel; gathers and sums, not matrix products
    # (which TF32 or reduced-precision settings would round)
    cols = None  # N x C x H x out_w
    for k in range(taps_w):
        tap = x.gather(3, ix[:, None, None, :, k].expand(n, c, in_h, out_w))
        w = wx[:, None, None, :, k]
        cols = tap.mul_(w) if cols is None else cols.addcmul_(tap, w)
    if cols is None:  # _max_taps gives at least 2 taps per axis
        raise RuntimeError(f"a bilinear resize needs at least one tap per axis, got {taps_w} horizontally")
    out = None  # N x C x out_h x out_w
    for k in range(taps_h):
        tap = cols.gather(2, iy[:, None, :, None, k].expand(n, c, out_h, out_w))
        w = wy[:, None, :, None, k]
        out = tap.mul_(w) if out is None else out.addcmul_(tap, w)
    if out is None:
        raise RuntimeError(f"a bilinear resize needs at least one tap per axis, got {taps_h} vertically")
    return out


# --- the evaluation resize -----------------------------------------------------------------------


def resize_center_crop(x: torch.Tensor, resize: int, crop: int) -> torch.Tensor:
    """torchvision's evaluation transform ``Resize(resize)`` then ``CenterCrop(crop)`` on square images, batched:
    float32 in [0, 1] (uint8 input is scaled). The resize is ``resized_crop_flip`` of the whole image (bilinear,
    antialiased); the crop offset is torchvision's ``int(round((resize - crop) / 2))``."""
    if x.dtype == torch.uint8:
        x = x.to(torch.float32).div_(255.0)
    n, _, h, w = x.shape
    if h != w:
        raise ValueError(f"resize_center_crop expects square images, got {h} x {w}")
    if not 1 <= crop <= resize:
        raise ValueError(f"eval crop {crop} must lie in [1, resize = {resize}]")
    full = torch.zeros(n, dtype=torch.int64)
    side = torch.full((n,), h, dtype=torch.int64)
    resized = resized_crop_flip(x, full, full, side, side, None, resize, antialias=True)
    top = int(round((resize - crop) / 2.0))
    return resized[:, :, top : top + crop, top : top + crop]


# --- pipelines ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """A training input pipeline: ``pipeline(x_uint8, generator)`` -> the batch ``normalize`` takes."""

    size: int
    name: ClassVar[str] = ""
    output: ClassVar[str] = "uint8"  # or "float32 in [0, 1]"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The spec (every parameter, defaults filled in), the output size and what the output holds."""
        params = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "size"}
        return {"name": self.name, **params, "size": self.size, "output": self.output}

    def _check(self, x: torch.Tensor) -> None:
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.name}: expected N x 3 x H x W uint8 images, got {tuple(x.shape)} {x.dtype}")


@dataclasses.dataclass(frozen=True)
class NoAugmentation(Pipeline):
    name: ClassVar[str] = "none"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self._check(x)
        return x


@dataclasses.dataclass(frozen=True)
class PadCropFlip(Pipeline):
    """RandomCrop(size, padding, fill 0) + RandomHorizontalFlip(0.5); uint8 in, uint8 out (size = input size)."""

    padding: int = 4
    name: ClassVar[str] = "pad_crop_flip"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self._check(x)
        if x.shape[-2:] != (self.size, self.size):
            got = tuple(x.shape[-2:])
            raise ValueError(f"{self.name}: images are {got}, the pipeline crops {self.size} x {self.size}")
        return random_crop_flip(x, self.padding, generator)


@dataclasses.dataclass(frozen=True)
class RandomResizedCropFlip(Pipeline):
    """RandomResizedCrop(size, scale, ratio, bilinear, antialias) + RandomHorizontalFlip(0.5); float32 out.
    Any input size; ``size`` is the output side."""

    scale: tuple[float, float] = DEFAULT_SCALE
    ratio: tuple[float, float] = DEFAULT_RATIO
    antialias: bool = True
    name: ClassVar[str] = "random_resized_crop_flip"
    output: ClassVar[str] = "float32 in [0, 1]"

    def sample(
        self, n: int, height: int | Sequence[int], width: int | Sequence[int], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """The random parameters of a batch (CPU tensors), in the order they are drawn. ``height`` and
        ``width``: one size for all images, or one per image (images decoded from files)."""
        heights = [height] * n if isinstance(height, int) else height
        widths = [width] * n if isinstance(width, int) else width
        top, left, h, w = sample_resized_crop_params(heights, widths, self.scale, self.ratio, generator)
        flip = torch.rand(n, generator=generator) < 0.5
        return {"top": top, "left": left, "height": h, "width": w, "flip": flip}

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        x = x.to(torch.float32).div_(255.0)  # as torchvision ToTensor
        p = params
        x = resized_crop_flip(x, p["top"], p["left"], p["height"], p["width"], p["flip"], self.size, self.antialias)
        return self.adjust(x, params)

    def adjust(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """What follows the crop and flip (none here; the jitter pipeline's colour ops)."""
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self._check(x)
        return self.apply(x, self.sample(x.shape[0], x.shape[2], x.shape[3], generator))


@dataclasses.dataclass(frozen=True)
class RandomResizedCropFlipJitter(RandomResizedCropFlip):
    """RandomResizedCropFlip, then ColorJitter(brightness, contrast, saturation, hue), then (when ``lighting``
    > 0) the PCA lighting noise of the CutMix/SaliencyMix ImageNet code with that alphastd; float32 out."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    lighting: float = 0.0
    jitter: str = "torchvision"  # JITTERS: torchvision's ColorJitter (clamps after each op) or the CutMix code's
    name: ClassVar[str] = "random_resized_crop_flip_jitter"

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.lighting > 0:
            out["output"] = "float32 (in [0, 1] before the lighting noise)"
        return out

    def sample(
        self, n: int, height: int | Sequence[int], width: int | Sequence[int], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        params = super().sample(n, height, width, generator)
        # torchvision ColorJitter.get_params: factor ~ U(max(0, 1 - v), 1 + v) (hue: U(-hue, hue)), a random
        # permutation of the four ops; drawn for every op (an op at 0 gets the neutral factor)
        u = torch.rand(n, 4, generator=generator)
        lo = torch.tensor([max(0.0, 1.0 - v) for v in (self.brightness, self.contrast, self.saturation)] + [-self.hue])
        hi = torch.tensor([1.0 + v for v in (self.brightness, self.contrast, self.saturation)] + [self.hue])
        factors = lo + u * (hi - lo)
        neutral = torch.tensor([1.0, 1.0, 1.0, 0.0])
        on = torch.tensor([self.brightness > 0, self.contrast > 0, self.saturation > 0, self.hue > 0])
        params["factors"] = torch.where(on, factors, neutral)
        params["order"] = torch.rand(n, 4, generator=generator).argsort(1)  # a uniform permutation per sample
        if self.lighting > 0:  # utils.Lighting: alpha = randn(3) * alphastd
            params["lighting"] = torch.randn(n, 3, generator=generator) * self.lighting
        return params

    def adjust(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        x = color_jitter(x, params["factors"], params["order"], self.jitter)
        return lighting(x, params["lighting"]) if self.lighting > 0 else x


# --- the backend: a spec's batched executor -------------------------------------------------------


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def tensor_pipeline(spec: PipelineSpec) -> Pipeline:
    """The batched executor of a spec whose ops it runs: none; PadCrop + flip; ResizedCrop + flip [+ ColorJitter
    [+ Lighting]]. ValueError for other ops (the SnapMix code's Resize then RandomCrop: the workers' only)."""
    kinds = tuple(type(op) for op in spec.ops)
    pad, crop, flip = spec.op(PadCrop), spec.op(ResizedCrop), spec.op(HorizontalFlip)
    jitter, light = spec.op(ColorJitter), spec.op(Lighting)
    if not kinds:
        return NoAugmentation(size=spec.size)
    if kinds == (PadCrop, HorizontalFlip) and pad is not None:
        return PadCropFlip(size=spec.size, padding=pad.padding)
    batched = crop is not None and flip is not None and flip.p == 0.5 and kinds[:2] == (ResizedCrop, HorizontalFlip)
    if not batched or crop is None or kinds[2:] not in ((), (ColorJitter,), (ColorJitter, Lighting)):
        raise ValueError(f"pipeline {spec.name!r}: its ops {list(spec.ops)} have no batched tensor executor")
    geometry = RandomResizedCropFlip(size=spec.size, scale=crop.scale, ratio=crop.ratio, antialias=crop.antialias)
    if jitter is None:
        return geometry
    return RandomResizedCropFlipJitter(
        size=spec.size,
        scale=crop.scale,
        ratio=crop.ratio,
        antialias=crop.antialias,
        brightness=jitter.brightness,
        contrast=jitter.contrast,
        saturation=jitter.saturation,
        hue=jitter.hue,
        lighting=light.alphastd if light is not None else 0.0,
        jitter=jitter.kind,
    )


def build_pipeline(config: dict | None, image_size: int) -> Pipeline | None:
    """The batched pipeline a protocol's ``pipeline`` names for images in memory, square of side ``image_size``
    (the output size, unless the random-resized-crop pipelines' ``size`` key sets another).

    ``config`` None: None (no augmentation, as ``{"name": "none"}``). The spec is checked by
    ``augrepro.data.pipeline_spec.parse_pipeline`` (ValueError naming the key, the value and what is valid); a
    file pipeline is refused here."""
    if config is None:
        return None
    return tensor_pipeline(parse_pixel_pipeline(config, image_size))
