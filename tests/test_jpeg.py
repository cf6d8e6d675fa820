"""The on-device ImageNet path (augrepro.data.jpeg) against its reference, the DataLoader-worker path.

Real JPEG files (crops of scikit-learn's two photographs, of many sizes; grayscale, CMYK, a PNG named
.JPEG as ImageNet has) decoded by torchvision.io.decode_jpeg in batches: on the CPU here, on the GPU wherever
one is visible. Checked: the decoder's output equals PIL's (libjpeg-turbo in both); the evaluation transform
and a fixed crop equal torchvision's tensor transforms bit for bit and PIL's within one level;
the crop boxes follow RandomResizedCrop.get_params' distribution on each image's own size; an epoch replays
from a step; the engine trains with it and says so in meta.json.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from augrepro.data import jpeg
from augrepro.data.jpeg import IMAGENET_TRAIN, JpegData, augment, choose_decode, decode, read_bytes, resize_center_crops
from augrepro.data.pipelines import build_pipeline

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZES = [(375, 500), (500, 333), (260, 260), (240, 700), (333, 250), (290, 410)]


def _photo(seed: int, h: int, w: int) -> Image.Image:
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # two 427 x 640 photographs
    rng = np.random.default_rng(seed)
    src = photos[seed % 2]
    top, left = rng.integers(0, src.shape[0] - 200), rng.integers(0, src.shape[1] - 200)
    crop = Image.fromarray(np.ascontiguousarray(src[top : top + 200, left : left + 200]))
    return crop.resize((w, h), Image.BILINEAR)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """JPEGs as ImageNet holds them: RGB of many sizes, one grayscale, one CMYK, one PNG named .JPEG."""
    root = tmp_path_factory.mktemp("jpegs")
    paths = []
    for i, (h, w) in enumerate(SIZES):
        img = _photo(i, h, w)
        kind, fmt = "rgb", "JPEG"
        if i == 3:
            img, kind = img.convert("L"), "gray"
        elif i == 4:
            img, kind = img.convert("CMYK"), "cmyk"
        elif i == 5:
            fmt, kind = "PNG", "png"
        path = root / f"n{i % 2:08d}_{i}_{kind}.JPEG"
        img.save(path, format=fmt, quality=90)
        paths.append(str(path))
    return paths


def _pil(path: str) -> torch.Tensor:
    with Image.open(path) as img:
        return torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1)


def test_batched_decoding_on_the_cpu_equals_pil(files):
    images = decode([read_bytes(p) for p in files], torch.device("cpu"))
    for path, img in zip(files, images):
        assert img.dtype == torch.uint8 and img.shape[0] == 3
        assert torch.equal(img, _pil(path)), path  # libjpeg-turbo in both; PNG through decode_image


def _close_to_pil(ours: torch.Tensor, pil: torch.Tensor) -> None:
    """uint8 images at most one level apart, on average under 0.2 level (torchvision's uint8 resize on the CPU
    derives from Pillow-SIMD; Pillow rounds its two passes differently at some scales: up to ~15 % of values
    differ by one there, well under 1 % elsewhere)."""
    diff = (ours.int() - pil.int()).abs()
    assert int(diff.max()) <= 1 and float(diff.float().mean()) < 0.2, (int(diff.max()), float(diff.float().mean()))


def test_evaluation_equals_torchvision_and_pil_within_one_level(files):
    from torchvision import transforms as T
    from torchvision.transforms import v2

    images = decode([read_bytes(p) for p in files], torch.device("cpu"))
    ours = resize_center_crops(images)
    assert ours.dtype == torch.uint8 and ours.shape == (len(files), 3, 224, 224)
    tensor_tf = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])
    for i, img in enumerate(images):
        assert torch.equal(ours[i], tensor_tf(img))  # torchvision's tensor transforms, bit for bit
    pil_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.PILToTensor()])  # the worker path's (PIL)
    _close_to_pil(ours, torch.stack([pil_tf(Image.open(p).convert("RGB")) for p in files]))


def test_a_fixed_crop_equals_torchvision_resized_crop_and_flip(files):
    from torchvision.transforms import functional as TF
    from torchvision.transforms.v2 import functional as TF2

    images = decode([read_bytes(p) for p in files], torch.device("cpu"))
    crop_flip = build_pipeline({"name": "random_resized_crop_flip", "size": 224}, 224)
    params = {
        "top": torch.tensor([10, 0, 5, 17, 0, 40]),
        "left": torch.tensor([20, 3, 0, 200, 9, 0]),
        "height": torch.tensor([300, 120, 255, 200, 333, 100]),
        "width": torch.tensor([250, 330, 250, 90, 241, 410]),
        "flip": torch.tensor([True, False, True, False, True, False]),
    }
    ours, _ = augment(images, crop_flip, torch.Generator(), params)
    assert ours.dtype == torch.float32
    for i, img in enumerate(images):
        top, left, height, width = (int(params[k][i]) for k in ("top", "left", "height", "width"))
        ref = TF2.resized_crop(img, top, left, height, width, [224, 224], antialias=True)
        ref = TF2.horizontal_flip(ref) if params["flip"][i] else ref
        assert torch.equal(ours[i], ref.float() / 255.0)
        with Image.open(files[i]) as pil_img:
            pil = TF.resized_crop(pil_img.convert("RGB"), top, left, height, width, [224, 224])
            pil = TF.pil_to_tensor(TF.hflip(pil) if params["flip"][i] else pil)
        _close_to_pil((ours[i] * 255).round().to(torch.uint8), pil)


def test_crop_boxes_follow_torchvision_on_each_images_own_size():
    """The boxes the device path draws for a batch of images of different sizes follow
    RandomResizedCrop.get_params on each size (the fallback included: a 60 x 700 image)."""
    from scipy.stats import ks_2samp
    from torchvision.transforms import RandomResizedCrop

    sizes = [(375, 500), (500, 333), (60, 700)]
    n = 3000
    heights = [h for h, _ in sizes] * n
    widths = [w for _, w in sizes] * n
    params = IMAGENET_TRAIN.sample(len(heights), heights, widths, torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    for k, (h, w) in enumerate(sizes):
        mine = {key: params[key][k :: len(sizes)].double() for key in ("top", "left", "height", "width")}
        assert bool((mine["top"] + mine["height"] <= h).all() and (mine["left"] + mine["width"] <= w).all())
        ref = torch.tensor(
            [RandomResizedCrop.get_params(torch.empty(1, h, w), (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(n)],
            dtype=torch.float64,
        )
        stats = {
            "area": (mine["height"] * mine["width"], ref[:, 2] * ref[:, 3]),
            "aspect": (mine["width"] / mine["height"], ref[:, 3] / ref[:, 2]),
            "top": (mine["top"] / (h - mine["height"] + 1), ref[:, 0] / (h - ref[:, 2] + 1)),
            "left": (mine["left"] / (w - mine["width"] + 1), ref[:, 1] / (w - ref[:, 3] + 1)),
        }
        for name, (a, b) in stats.items():
            assert ks_2samp(a.numpy(), b.numpy()).pvalue > 1e-3, (h, w, name)
    assert float(params["flip"].double().mean()) == pytest.approx(0.5, abs=0.02)


def test_an_epoch_replays_from_any_step_and_evaluation_covers_a_range(files):
    labels = np.arange(len(files)) % 2
    data = JpegData(files, labels, MEAN, STD, "cpu", train=True, readers=2)
    order = data.epoch_order(torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    batches, states = [], []
    for x, y in data.iterate(order, 0, 2, gen):
        batches.append((x, y))
        states.append(gen.get_state())
    assert len(batches) == 3 and batches[0][0].shape == (2, 3, 224, 224) and batches[0][0].dtype == torch.float32
    assert torch.equal(batches[0][1], torch.as_tensor(labels)[order[:2]])
    replay = torch.Generator()
    replay.set_state(states[0])  # as a resume after step 1
    again = list(data.iterate(order, 1, 2, replay))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(again, batches[1:]))
    evaluation = JpegData(files, labels, MEAN, STD, "cpu", train=False)
    whole = torch.cat([x for x, _ in evaluation.eval_batches(4)])
    part = torch.cat([x for x, _ in evaluation.eval_batches(2, 1, 4)])
    assert torch.equal(part, whole[1:4])
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    expected = resize_center_crops(decode([read_bytes(p) for p in files], "cpu")).float() / 255
    torch.testing.assert_close(whole * std + mean, expected)


def test_decode_setting_chooses_the_path():
    assert choose_decode("auto", torch.device("cpu"))[0] == "workers"
    assert choose_decode("device", torch.device("cpu"))[0] == "device"
    assert choose_decode("workers", torch.device("cpu"))[0] == "workers"
    with pytest.raises(ValueError, match="valid: auto, device, workers"):
        choose_decode("gpu", torch.device("cpu"))


def test_the_engine_trains_imagenet_files_decoded_on_the_device_path(files, tmp_path):
    from test_engine import imagenet_files_run

    from augrepro.train.engine import train_run

    run = imagenet_files_run(files, 4, tmp_path / "data.npz", "resnet18", batch_size=2, traditional=True)
    result = train_run(
        run,
        tmp_path / "data.npz",
        tmp_path / "out",
        {"device": "cpu", "eval_batch_size": 2, "decode": "device"},
        threads=2,
        log=lambda m: None,
    )
    assert np.isfinite(result["metrics"][0]["train_loss"])
    meta = json.loads((tmp_path / "out/meta.json").read_text())
    assert meta["loader"]["decode"] == "device" and meta["loader"]["train"]["lighting"] == 0.1
    assert meta["execution"]["decode"] == "device"


cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: GPU JPEG decoding (nvJPEG) untested here"
)


@cuda
def test_gpu_decoding_agrees_with_the_cpu_decoder(files):
    data = [read_bytes(p) for p in files]
    cpu = decode(data, torch.device("cpu"))
    gpu = decode(data, torch.device("cuda"))
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda" and a.shape == b.shape
        diff = (a.int() - b.cpu().int()).abs()
        assert float(diff.float().mean()) < 1.5 and int(diff.max()) <= 40  # nvJPEG's IDCT and chroma upsampling
    assert jpeg.probe_device_decode(torch.device("cuda")) is None
    assert choose_decode("auto", torch.device("cuda"))[0] == "device"


@cuda
def test_gpu_pipeline_equals_the_cpu_pipeline_on_the_same_pixels(files):
    images = decode([read_bytes(p) for p in files], torch.device("cpu"))
    params = IMAGENET_TRAIN.sample(
        len(images), [i.shape[1] for i in images], [i.shape[2] for i in images], torch.Generator().manual_seed(0)
    )
    cpu, _ = augment(images, IMAGENET_TRAIN, torch.Generator(), params)
    gpu, _ = augment([i.cuda() for i in images], IMAGENET_TRAIN, torch.Generator(), params)
    # the resize: float interpolation rounded on the GPU, torchvision's uint8 kernel on the CPU (one level)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1.5 / 255 * 1.5)
    diff = (resize_center_crops([i.cuda() for i in images]).cpu().int() - resize_center_crops(images).int()).abs()
    assert int(diff.max()) <= 1
