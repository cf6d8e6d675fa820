"""Image pipelines as data: one frozen :class:`PipelineSpec` per named pipeline, one registry, one validator.

A protocol's ``pipeline`` ({name, keys}) names an entry of :data:`REGISTRY`; :func:`parse_pipeline` checks its
keys and returns the spec: the output side, the ordered training ops with every parameter, the evaluation
transform (file pipelines), and whether images come from files. Three backends execute a spec, each built from it:

- the batched tensor ops on the training device (``augrepro.data.pipelines.tensor_pipeline``): pixel datasets;
- the torchvision Compose of the DataLoader workers, on PIL images (``augrepro.data.file_pipelines.compose``);
- the batched decode path (``augrepro.data.jpeg.JpegData``): ImageNet's spec run by the tensor ops on images
  decoded on the device.

Named pipelines (``imagenet`` and ``snapmix`` read files; the others take images in memory):

- ``none``: no op.
- ``pad_crop_flip`` {padding}: RandomCrop(size, padding, fill 0) + RandomHorizontalFlip(0.5) (the SaliencyMix,
  Cutout and CutMix CIFAR code).
- ``random_resized_crop_flip`` {scale, ratio, antialias, size}: RandomResizedCrop + RandomHorizontalFlip(0.5)
  (SalfMix section 5.1, CIFAR).
- ``random_resized_crop_flip_jitter`` {..., brightness, contrast, saturation, hue, lighting, jitter}: the above +
  ColorJitter (``jitter``: ``torchvision``, clamped after each op, or ``cutmix``, the CutMix code's unclamped
  utils.ColorJitter) + PCA lighting noise with alphastd ``lighting`` (SalfMix section 5.1, Tiny-ImageNet).
- ``imagenet``: the SaliencyMix-ImageNet code (train.py, from CutMix): RandomResizedCrop(224), flip,
  utils.ColorJitter(0.4, 0.4, 0.4), Lighting(0.1); evaluation Resize(256), CenterCrop(224).
- ``snapmix`` {resize, crop, warp}: SnapMix code datasets/tfs.py ``get_cub_transform``: Resize(resize),
  RandomCrop(crop), flip (RandomResizedCrop(crop) when resize == crop); evaluation Resize(resize),
  CenterCrop(crop); ``warp`` resizes to resize x resize (config/comm.yml), else the shorter side (utils/conf.py
  for CUB). (The code's second RandomCrop(crop) on a crop-sized image changes nothing and is left out.)

This module imports no torch: validating a protocol's pipeline needs only the spec.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

# torchvision transforms.RandomResizedCrop defaults
DEFAULT_SCALE = (0.08, 1.0)
DEFAULT_RATIO = (3.0 / 4.0, 4.0 / 3.0)
# torchvision transforms._functional_tensor.rgb_to_grayscale
TORCHVISION_GRAY = (0.2989, 0.587, 0.114)
# The colour jitter's implementation: torchvision's ColorJitter (each op's blend clamped to [0, 1]) or the CutMix
# code's utils.ColorJitter (CutMix-PyTorch utils.py Brightness/Contrast/Saturation: img.lerp(gs, alpha), unclamped;
# its Grayscale 0.299, 0.587, 0.114), which SaliencyMix-ImageNet/train.py:84 uses: jitter -> (grey weights, clamp)
JITTERS = {"torchvision": (TORCHVISION_GRAY, True), "cutmix": ((0.299, 0.587, 0.114), False)}
# order of the colour ops as torchvision ColorJitter numbers them (fn_idx)
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")
# PCA lighting noise of the CutMix/SaliencyMix ImageNet code (utils.Lighting; AlexNet's eigen-decomposition
# of ImageNet's RGB covariance)
LIGHTING_EIGVAL = (0.2175, 0.0188, 0.0045)
LIGHTING_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
# SaliencyMix-ImageNet/train.py (from CutMix-PyTorch): RandomResizedCrop(224), RandomHorizontalFlip,
# utils.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4) (train.py:84), Lighting(0.1); the test split
# Resize(256), CenterCrop(224)
IMAGENET_CROP, IMAGENET_JITTER, IMAGENET_LIGHTING = 224, 0.4, 0.1
IMAGENET_EVAL_RESIZE = 256
MAX_SIDE = 4096  # the largest output side a spec may ask for


# --- ops --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PadCrop:
    """RandomCrop(size, padding, fill 0)."""

    padding: int


@dataclasses.dataclass(frozen=True)
class ResizedCrop:
    """RandomResizedCrop(size, scale, ratio, bilinear, antialias)."""

    scale: tuple[float, float] = DEFAULT_SCALE
    ratio: tuple[float, float] = DEFAULT_RATIO
    antialias: bool = True


@dataclasses.dataclass(frozen=True)
class ResizeRandomCrop:
    """Resize(resize) (``warp``: to resize x resize; else the shorter side), then RandomCrop(size)."""

    resize: int
    warp: bool


@dataclasses.dataclass(frozen=True)
class HorizontalFlip:
    """RandomHorizontalFlip(p)."""

    p: float = 0.5


@dataclasses.dataclass(frozen=True)
class ColorJitter:
    """ColorJitter(brightness, contrast, saturation, hue) in a random order; ``kind``: one of :data:`JITTERS`."""

    brightness: float
    contrast: float
    saturation: float
    hue: float = 0.0
    kind: str = "torchvision"


@dataclasses.dataclass(frozen=True)
class Lighting:
    """PCA lighting noise with ``alphastd`` (:data:`LIGHTING_EIGVAL`, :data:`LIGHTING_EIGVEC`), not clamped."""

    alphastd: float


Op = PadCrop | ResizedCrop | ResizeRandomCrop | HorizontalFlip | ColorJitter | Lighting


_O = TypeVar("_O", PadCrop, ResizedCrop, ResizeRandomCrop, HorizontalFlip, ColorJitter, Lighting)


@dataclasses.dataclass(frozen=True)
class EvalCrop:
    """The evaluation transform: Resize(resize) (``warp``: to resize x resize), then CenterCrop(crop)."""

    resize: int
    crop: int
    warp: bool = False


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """A named pipeline with every value: ``size`` (the output side), the training ``ops`` in order,
    ``evaluation`` (file pipelines; pixel datasets take the protocol's ``eval_transform``) and ``files``
    (decoded from image files, or images in memory)."""

    name: str
    size: int
    ops: tuple[Op, ...]
    evaluation: EvalCrop | None = None
    files: bool = False

    def op(self, kind: type[_O]) -> _O | None:
        """The op of that kind, or None."""
        return next((op for op in self.ops if isinstance(op, kind)), None)


# --- the validator --------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def check_pair(key: str, value, low: float, high: float, pipeline: str | None = None) -> tuple[float, float]:
    """``value`` as [min, max] with low < min <= max <= high; ValueError names the key otherwise."""
    where = f"pipeline {pipeline!r}: " if pipeline else ""
    bound = "inf" if math.isinf(high) else f"{high:g}"
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(_is_number(v) for v in value)
        or not (low < float(value[0]) <= float(value[1]) <= high)
    ):
        raise ValueError(f"{where}{key} = {value!r}: expected [min, max] with {low:g} < min <= max <= {bound}")
    return float(value[0]), float(value[1])


def _check_number(name: str, key: str, value, low: float, high: float) -> float:
    if not _is_number(value) or not (low <= float(value) <= high):
        bound = "inf" if math.isinf(high) else f"{high:g}"
        raise ValueError(f"pipeline {name!r}: {key} = {value!r}: expected a number in [{low:g}, {bound}]")
    return float(value)


def _check_integer(name: str, key: str, value, low: int, high: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not (low <= int(value) <= high):
        raise ValueError(f"pipeline {name!r}: {key} = {value!r}: expected an integer in [{low}, {high}]")
    return int(value)


def _check_choice(name: str, key: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"pipeline {name!r}: {key} = {value!r}: expected one of {', '.join(choices)}")
    return value


def _check_bool(name: str, key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"pipeline {name!r}: {key} = {value!r}: expected true or false")
    return value


class Key(NamedTuple):
    """One key of a named pipeline: required or not, its checker (name, value, image_size) -> value, its range."""

    required: bool
    check: Callable[[str, Any, Any], Any]
    valid: str


def _side(what: str) -> Key:
    return Key(True, lambda n, v, s: _check_integer(n, what, v, 1, MAX_SIDE), f"an integer in [1, {MAX_SIDE}]")


def _strength(what: str) -> Key:
    return Key(True, lambda n, v, s: _check_number(n, what, v, 0.0, math.inf), "a number >= 0")


_CROP_KEYS = {
    "size": Key(
        False,
        lambda n, v, s: _check_integer(n, "size", v, 1, MAX_SIDE),
        f"the output side, an integer in [1, {MAX_SIDE}] (default: image_size)",
    ),
    "scale": Key(False, lambda n, v, s: check_pair("scale", v, 0.0, 1.0, n), "[min, max] with 0 < min <= max <= 1"),
    "ratio": Key(False, lambda n, v, s: check_pair("ratio", v, 0.0, math.inf, n), "[min, max] with 0 < min <= max"),
    "antialias": Key(False, lambda n, v, s: _check_bool(n, "antialias", v), "true or false"),
}
_JITTER_KEYS = {
    **{key: _strength(key) for key in ("brightness", "contrast", "saturation")},
    "hue": Key(False, lambda n, v, s: _check_number(n, "hue", v, 0.0, 0.5), "a number in [0, 0.5]"),
    "lighting": Key(
        False,
        lambda n, v, s: _check_number(n, "lighting", v, 0.0, math.inf),
        "the alphastd of the PCA lighting noise, a number >= 0 (default 0: none)",
    ),
    "jitter": Key(
        False,
        lambda n, v, s: _check_choice(n, "jitter", v, tuple(JITTERS)),
        f"one of {', '.join(JITTERS)} (default torchvision: ColorJitter, clamped after each op)",
    ),
}


def _resized_crop(v: dict[str, Any]) -> ResizedCrop:
    return ResizedCrop(v.get("scale", DEFAULT_SCALE), v.get("ratio", DEFAULT_RATIO), v.get("antialias", True))


def _jittered(v: dict[str, Any], size: int) -> PipelineSpec:
    kind = v.get("jitter", "torchvision")
    if kind == "cutmix" and v.get("hue", 0.0) > 0:
        raise ValueError(
            "pipeline 'random_resized_crop_flip_jitter': jitter = 'cutmix' has no hue op (the CutMix code's "
            "utils.ColorJitter); use hue 0"
        )
    jitter = ColorJitter(v["brightness"], v["contrast"], v["saturation"], v.get("hue", 0.0), kind)
    light = (Lighting(v["lighting"]),) if v.get("lighting", 0.0) > 0 else ()
    ops = (_resized_crop(v), HorizontalFlip(), jitter, *light)
    return PipelineSpec("random_resized_crop_flip_jitter", v.get("size", size), ops)


def _snapmix(v: dict[str, Any], size: int) -> PipelineSpec:
    resize, crop, warp = v["resize"], v["crop"], v["warp"]
    if crop > resize:
        raise ValueError(f"pipeline 'snapmix': crop {crop} exceeds resize {resize}; crop <= resize")
    # tfs.py: RandomResizedCrop(crop) when resize == crop, else Resize(resize) then RandomCrop(crop)
    head = ResizedCrop() if resize == crop else ResizeRandomCrop(resize, warp)
    return PipelineSpec("snapmix", crop, (head, HorizontalFlip()), EvalCrop(resize, crop, warp), files=True)


def _imagenet(v: dict[str, Any], size: int) -> PipelineSpec:
    jitter = ColorJitter(IMAGENET_JITTER, IMAGENET_JITTER, IMAGENET_JITTER, 0.0, "cutmix")
    ops = (ResizedCrop(), HorizontalFlip(), jitter, Lighting(IMAGENET_LIGHTING))
    evaluation = EvalCrop(IMAGENET_EVAL_RESIZE, IMAGENET_CROP)
    return PipelineSpec("imagenet", IMAGENET_CROP, ops, evaluation, files=True)


class Named(NamedTuple):
    """A registry entry: its keys, whether it reads files, and its spec from checked values and the image side."""

    keys: dict[str, Key]
    files: bool
    build: Callable[[dict[str, Any], int], PipelineSpec]


REGISTRY: dict[str, Named] = {
    "none": Named({}, False, lambda v, s: PipelineSpec("none", s, ())),
    "pad_crop_flip": Named(
        {"padding": Key(True, lambda n, v, s: _check_integer(n, "padding", v, 0, s), "an integer in [0, image_size]")},
        False,
        lambda v, s: PipelineSpec("pad_crop_flip", s, (PadCrop(v["padding"]), HorizontalFlip())),
    ),
    "random_resized_crop_flip": Named(
        _CROP_KEYS,
        False,
        lambda v, s: PipelineSpec("random_resized_crop_flip", v.get("size", s), (_resized_crop(v), HorizontalFlip())),
    ),
    "random_resized_crop_flip_jitter": Named({**_CROP_KEYS, **_JITTER_KEYS}, False, _jittered),
    "imagenet": Named({}, True, _imagenet),
    "snapmix": Named(
        {
            "resize": _side("resize"),
            "crop": _side("crop"),
            "warp": Key(True, lambda n, v, s: _check_bool(n, "warp", v), "true or false"),
        },
        True,
        _snapmix,
    ),
}
PIXEL_PIPELINES = tuple(name for name, entry in REGISTRY.items() if not entry.files)
FILE_PIPELINES = tuple(name for name, entry in REGISTRY.items() if entry.files)


def check_image_size(image_size) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 1:
        raise ValueError(f"image_size = {image_size!r}: expected an integer >= 1")
    return int(image_size)


def parse_pipeline(config: dict[str, Any], image_size: int | None = None) -> PipelineSpec:
    """The spec a protocol's ``pipeline`` ({name, keys}) names, for square images of side ``image_size`` (needed
    by the pipelines of images in memory; file pipelines fix their own sizes). Unknown names or keys, missing
    required keys and out-of-range values raise ValueError naming the key, the value and what is valid."""
    if not isinstance(config, dict):
        raise ValueError(f"pipeline spec = {config!r}: expected a mapping with a 'name' (one of {', '.join(REGISTRY)})")
    name = config.get("name")
    if name not in REGISTRY:
        raise ValueError(f"pipeline name = {name!r}: unknown; valid names: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    size = 0 if entry.files else check_image_size(image_size)
    values = {}
    for key, value in config.items():
        if key == "name":
            continue
        if key not in entry.keys:
            valid = ", ".join(f"{k} ({entry.keys[k].valid})" for k in entry.keys) or "none"
            raise ValueError(f"pipeline {name!r}: unknown key {key!r} = {value!r}; valid keys: {valid}")
        values[key] = entry.keys[key].check(name, value, size)
    for key, spec_key in entry.keys.items():
        if spec_key.required and key not in values:
            raise ValueError(f"pipeline {name!r}: missing key {key!r} ({spec_key.valid})")
    return entry.build(values, size)


def parse_pixel_pipeline(config: dict[str, Any], image_size: int) -> PipelineSpec:
    """:func:`parse_pipeline` for images in memory, square of side ``image_size``: a file pipeline is refused, naming
    the pipelines of images in memory."""
    check_image_size(image_size)
    if isinstance(config, dict) and config.get("name") in FILE_PIPELINES:
        raise ValueError(
            f"pipeline {config['name']!r} decodes files; images in memory take one of {', '.join(PIXEL_PIPELINES)}"
        )
    return parse_pipeline(config, image_size)
