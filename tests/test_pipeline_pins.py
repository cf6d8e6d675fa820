"""Pins of every image-pipeline backend: for a fixed seed, the sha256 of the augmented batch (its exact bytes)
and of the random stream after it, so that a refactor of the pipelines shows any change of a draw or a pixel.

Backends: the batched tensor ops (``augrepro.data.pipelines``, each named pixel pipeline and the variants the
protocols use), the torchvision Compose of the DataLoader workers (``augrepro.data.file_pipelines``, each file
pipeline, training and evaluation) and the batched decode path's augmentation (``augrepro.data.jpeg``), all on
the CPU, on synthetic images. The digests were taken with the code before the pipeline spec existed (main
dba04af) and hold bitwise after it. They hold for the pinned torch and torchvision on an x86-64 CPU; a new torch
may change float rounding, and then the pins are retaken (``python tests/test_pipeline_pins.py`` prints them)
after checking the change is the library's.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from augrepro.data.file_pipelines import file_transforms
from augrepro.data.jpeg import IMAGENET_TRAIN, augment, resize_center_crops
from augrepro.data.pipelines import build_pipeline, resize_center_crop

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
JITTER = {"name": "random_resized_crop_flip_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4}
TENSOR_SPECS = {
    "none": {"name": "none"},
    "pad_crop_flip": {"name": "pad_crop_flip", "padding": 4},
    "random_resized_crop_flip": {"name": "random_resized_crop_flip"},
    "random_resized_crop_flip_no_antialias_24": {"name": "random_resized_crop_flip", "antialias": False, "size": 24},
    "random_resized_crop_flip_jitter": JITTER,
    "random_resized_crop_flip_jitter_hue": {**JITTER, "hue": 0.1},
    "random_resized_crop_flip_jitter_cutmix_lighting": {**JITTER, "jitter": "cutmix", "lighting": 0.1, "size": 40},
}
FILE_SPECS = {
    "imagenet": {"name": "imagenet"},
    "snapmix_warp": {"name": "snapmix", "resize": 64, "crop": 48, "warp": True},
    "snapmix_shorter_side": {"name": "snapmix", "resize": 64, "crop": 48, "warp": False},
    "snapmix_resize_is_crop": {"name": "snapmix", "resize": 48, "crop": 48, "warp": True},
}
FILE_SIZES = [(260, 300), (300, 250), (256, 256)]

PINS = {
    "jpeg/eval": "8c1004d2e154bf6e50c6666fce109108682fe822ef89fa8a199fe50427bb0bf2",
    "jpeg/train": "7631ddf27f6dc23888f4ce1bd5fbb03661e6d2aa8064e4142b63014464d061c7",
    "tensor/none": "28f04799d23eb7c052981064398112373a047386e62e34c987104c2f721e8f57",
    "tensor/pad_crop_flip": "ea49e687602672acd7b2fa13a1c68130446040fe02159a8cfb6796203d0e7f87",
    "tensor/random_resized_crop_flip": "64456f6aa61b1808bb14ae1968aecc6796f44768cc0c4a5571d6810e69325feb",
    "tensor/random_resized_crop_flip_jitter": "5106e8fcc99f06fdcdc794abf8f64235514d39eabe4894130b4deec3ab30422d",
    "tensor/random_resized_crop_flip_jitter_cutmix_lighting": "76b3b0cc78c193297391f3caed21e1f1e7691b57bea793173fd0ab54a273437c",
    "tensor/random_resized_crop_flip_jitter_hue": "0953e7406202de0c6cf20c0469b13fb6f18bdb2264869e3b4c5b3cbd09d746db",
    "tensor/random_resized_crop_flip_no_antialias_24": "753934f2b96521adb442cfe35368cba3e7fbdd74da9be1632f3a8d68aa0f2eef",
    "tensor/resize_center_crop": "794a7feeb156494b95027ea72a6e0cc5db080fc3733bf287d3da4c66c9c5151d",
    "workers/imagenet/eval": "2abd487efbdbb1ffb8bf55f50a2384c9a1a33f7e76fd3fc47220b35fd94ce7e8",
    "workers/imagenet/train": "d07b791ea5a2723110f6c4f318cfc3d41433368c5371d5a2f4736dbd1f4b4249",
    "workers/snapmix_resize_is_crop/eval": "2624bd9d7d2f9a21663d09117c4041eda415f1249701620097d740f7ba257019",
    "workers/snapmix_resize_is_crop/train": "55ab878cae9936ee99980ee761014b299b7f1ec0ea91ebaa74a2309370943c33",
    "workers/snapmix_shorter_side/eval": "8e2202079212324955edb9a01a181cb2ccc34be6e20b0dd6e6227efdb1ad5d9e",
    "workers/snapmix_shorter_side/train": "b7c7195c29a4474fc54563ca27c2ebc7eb99f091a53cd66f29998c645d013b66",
    "workers/snapmix_warp/eval": "01b960c75ed4f80e052dd50d6c9b3b468642c71bfe1a059cc4f852f38856bfff",
    "workers/snapmix_warp/train": "5ed75c058e212ac4178021d45147eb8d0bf9adb67bbaab05692ac3d86262648c",
}


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.contiguous().cpu()
        h.update(f"{t.dtype} {tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth synthetic photos (gradients and a blob, plus noise): every resize and colour op changes them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(n):
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        chans = [rng.uniform(0, 1) * xx + rng.uniform(0, 1) * yy + rng.uniform(-1, 1) * blob for _ in range(3)]
        img = np.stack(chans) * 160 + 40 + rng.normal(0, 12, (3, h, w))
        out.append(torch.from_numpy(np.clip(img, 0, 255).astype(np.uint8)))
    return torch.stack(out)


def tensor_case(name: str) -> str:
    gen = torch.Generator().manual_seed(5)
    x = _images(6, 32, 32, seed=1)
    if name == "resize_center_crop":
        return _digest(resize_center_crop(x, 36, 32), resize_center_crop(x[:2], 32, 28))
    out = build_pipeline(TENSOR_SPECS[name], 32)(x, gen)
    return _digest(out, gen.get_state())


def worker_case(name: str, train: bool) -> str:
    transform = file_transforms(FILE_SPECS[name], train, MEAN, STD)
    outs = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        for i, (h, w) in enumerate(FILE_SIZES):
            img = Image.fromarray(_images(1, h, w, seed=10 + i)[0].permute(1, 2, 0).numpy())
            outs.append(transform(img))
        state = torch.get_rng_state()
    return _digest(*outs, state)


def jpeg_case(train: bool) -> str:
    images = [_images(1, h, w, seed=20 + i)[0] for i, (h, w) in enumerate(FILE_SIZES)]
    if not train:
        return _digest(resize_center_crops(images))
    gen = torch.Generator().manual_seed(3)
    out, params = augment(images, IMAGENET_TRAIN, gen)
    return _digest(out, *(params[k] for k in sorted(params)), gen.get_state())


def compute(key: str) -> str:
    backend, *rest = key.split("/")
    if backend == "tensor":
        return tensor_case(rest[0])
    if backend == "workers":
        return worker_case(rest[0], rest[1] == "train")
    return jpeg_case(rest[0] == "train")


@pytest.mark.parametrize("key", sorted(PINS))
def test_backend_output_is_pinned(key):
    assert compute(key) == PINS[key], f"{key}: the pipeline's draws or pixels changed"


def test_every_named_pipeline_is_pinned():
    from augrepro.data.file_pipelines import FILE_PIPELINES
    from augrepro.data.pipelines import PIPELINES

    assert {s["name"] for s in TENSOR_SPECS.values()} == set(PIPELINES)
    assert {s["name"] for s in FILE_SPECS.values()} == set(FILE_PIPELINES)


if __name__ == "__main__":
    for key in sorted(PINS):
        print(f'    "{key}": "{compute(key)}",')
