"""Input pipelines of file datasets (images decoded from files by DataLoader workers), named by the protocol.

A protocol's ``pipeline`` spec picks one (``FILE_PIPELINES``); the training split gets its training transforms
when the dataset key has a ``+`` and its evaluation transforms otherwise, the test split always the evaluation
ones. Each runs torchvision's transforms on PIL images, as the released code does.

- ``imagenet`` (``{name: imagenet}``): the CutMix / SaliencyMix ImageNet code (:func:`imagenet_transforms`):
  RandomResizedCrop(224), flip, the code's ColorJitter(0.4) (utils.py, unclamped), PCA lighting 0.1, normalize;
  evaluation Resize(256), CenterCrop(224).
- ``snapmix`` (``{name: snapmix, resize: 512, crop: 448, warp: true}``): SnapMix code datasets/tfs.py
  ``get_cub_transform`` (used for CUB, Cars and Aircraft). Training: Resize(resize), RandomCrop(crop),
  RandomHorizontalFlip, ToTensor, Normalize; evaluation: Resize(resize), CenterCrop(crop). ``warp: true``
  resizes to resize x resize and crops crop x crop (the aspect ratio is not kept; config/comm.yml
  ``warp: True``); ``warp: false`` resizes the shorter side (utils/conf.py sets warp False for CUB). When
  ``resize == crop`` the code trains with RandomResizedCrop(crop) instead of Resize + RandomCrop; that is
  followed too. (The code applies RandomCrop(crop) a second time after the first; on a crop-sized image it
  returns the image unchanged, so it is left out.)
"""

from __future__ import annotations

import numbers
from typing import Any

FILE_PIPELINES = ("imagenet", "snapmix")
_KEYS = {"imagenet": {}, "snapmix": {"resize": int, "crop": int, "warp": bool}}


def check_file_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its name checked and every key present and valid; ValueError names the problem."""
    if not isinstance(spec, dict) or spec.get("name") not in FILE_PIPELINES:
        name = spec.get("name") if isinstance(spec, dict) else spec
        raise ValueError(
            f"pipeline {name!r} does not decode files; file datasets take one of {', '.join(FILE_PIPELINES)}"
        )
    name = spec["name"]
    keys = _KEYS[name]
    unknown = sorted(set(spec) - set(keys) - {"name"})
    if unknown:
        raise ValueError(
            f"pipeline {name!r}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(keys) or 'none'}"
        )
    missing = sorted(set(keys) - set(spec))
    if missing:
        raise ValueError(
            f"pipeline {name!r}: missing key(s) {', '.join(missing)} ({', '.join(f'{k}: {t.__name__}' for k, t in keys.items())})"
        )
    for key, kind in keys.items():
        value = spec[key]
        if kind is bool and not isinstance(value, bool):
            raise ValueError(f"pipeline {name!r}: {key} = {value!r}: expected true or false")
        if kind is int and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= 4096
        ):
            raise ValueError(f"pipeline {name!r}: {key} = {value!r}: expected an integer in [1, 4096]")
    if name == "snapmix" and spec["crop"] > spec["resize"]:
        raise ValueError(f"pipeline 'snapmix': crop {spec['crop']} exceeds resize {spec['resize']}; crop <= resize")
    return dict(spec)


def file_pipeline_size(spec: dict[str, Any]) -> int:
    """The side of the images the pipeline gives the model (training and evaluation alike)."""
    spec = check_file_pipeline(spec)
    return 224 if spec["name"] == "imagenet" else int(spec["crop"])


def describe_file_pipeline(spec: dict[str, Any], train: bool) -> dict[str, Any]:
    """What a run's training split went through (for meta.json)."""
    spec = check_file_pipeline(spec)
    return {
        **spec,
        "size": file_pipeline_size(spec),
        "loader": "files (DataLoader workers)",
        "transforms": "training" if train else "evaluation",
    }


class _Lighting:
    """PCA lighting noise of the CutMix/SaliencyMix ImageNet code (utils.Lighting, alphastd 0.1; AlexNet's
    eigen-decomposition of ImageNet's RGB covariance: ``augrepro.data.pipelines.LIGHTING_EIGVAL``/``EIGVEC``)."""

    def __init__(self, alphastd: float = 0.1) -> None:
        import torch

        from augrepro.data.pipelines import LIGHTING_EIGVAL, LIGHTING_EIGVEC

        self.alphastd = alphastd
        self.eigval = torch.tensor(LIGHTING_EIGVAL)
        self.eigvec = torch.tensor(LIGHTING_EIGVEC)

    def __call__(self, img):
        import torch

        alpha = torch.randn(3) * self.alphastd
        rgb = (self.eigvec * alpha * self.eigval).sum(1)
        return img + rgb.view(3, 1, 1)


class _ColorJitter:
    """The CutMix / SaliencyMix-ImageNet code's utils.ColorJitter(0.4, 0.4, 0.4) on one ToTensor image (train.py:84):
    brightness, contrast and saturation in a random order, each a blend with factor 1 - U(-v, v), never clamped
    (``augrepro.data.pipelines.color_jitter`` with ``jitter: cutmix``, as the device path runs it)."""

    def __init__(self, strength: float = 0.4) -> None:
        self.strength = strength

    def __call__(self, img):
        import torch

        from augrepro.data.pipelines import color_jitter

        v = self.strength
        factors = torch.cat([1.0 - v + 2.0 * v * torch.rand(3), torch.zeros(1)])  # hue: none in that code
        order = torch.rand(4).argsort()
        return color_jitter(img[None], factors[None], order[None], "cutmix")[0]


def imagenet_transforms(train: bool, mean, std, size: int = 224):
    """SaliencyMix-ImageNet/train.py (from CutMix): RandomResizedCrop(224), flip, the code's ColorJitter(0.4, 0.4,
    0.4), lighting 0.1, normalize; evaluation Resize(256), CenterCrop(224)."""
    from torchvision import transforms as T

    if train:
        return T.Compose(
            [
                T.RandomResizedCrop(size),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                _ColorJitter(0.4),
                _Lighting(0.1),
                T.Normalize(mean, std),
            ]
        )
    return T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])


def snapmix_transforms(train: bool, mean, std, resize: int, crop: int, warp: bool):
    """SnapMix code datasets/tfs.py get_cub_transform (see the module docstring)."""
    from torchvision import transforms as T

    size = (resize, resize) if warp else resize
    crop_size = (crop, crop) if warp else crop
    tail = [T.ToTensor(), T.Normalize(mean, std)]
    if not train:
        return T.Compose([T.Resize(size), T.CenterCrop(crop_size), *tail])
    head = [T.RandomResizedCrop(crop_size)] if resize == crop else [T.Resize(size), T.RandomCrop(crop_size)]
    return T.Compose([*head, T.RandomHorizontalFlip(), *tail])


def file_transforms(spec: dict[str, Any] | None, train: bool, mean, std):
    """The torchvision transforms of a file pipeline spec (None: ``imagenet``)."""
    spec = check_file_pipeline(spec or {"name": "imagenet"})
    if spec["name"] == "imagenet":
        return imagenet_transforms(train, mean, std)
    return snapmix_transforms(train, mean, std, spec["resize"], spec["crop"], spec["warp"])


def decode_files(files, size: int):
    """N x 3 x size x size uint8 tensor of image files: shorter side resized to ``size``, centre crop (previews)."""
    import torch
    from PIL import Image
    from torchvision import transforms as T

    to_uint8 = T.Compose([T.Resize(size), T.CenterCrop(size), T.PILToTensor()])
    images = []
    for path in files:
        with Image.open(path) as img:
            images.append(to_uint8(img.convert("RGB")))
    return torch.stack(images)
