"""Tests of augrepro.data.pipelines: the batched training input pipelines against torchvision's per-image
transforms (crop-box distribution, pixels), the unchanged pad_crop_flip stream, determinism, specs."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from scipy import stats
from torchvision.transforms import InterpolationMode, RandomResizedCrop

from augrepro.data import get_spec
from augrepro.data.jitter import adjust_hue, color_jitter
from augrepro.data.loader import DeviceData
from augrepro.data.pipelines import (
    PIPELINES,
    NoAugmentation,
    PadCropFlip,
    Pipeline,
    RandomResizedCropFlip,
    RandomResizedCropFlipJitter,
    build_pipeline,
    random_crop_flip,
    resized_crop_flip,
    sample_resized_crop_params,
)

SPECS = {
    "none": {"name": "none"},
    "pad_crop_flip": {"name": "pad_crop_flip", "padding": 4},
    "random_resized_crop_flip": {"name": "random_resized_crop_flip", "scale": [0.08, 1.0], "ratio": [0.75, 1.3333333]},
    "random_resized_crop_flip_jitter": {
        "name": "random_resized_crop_flip_jitter",
        "scale": [0.08, 1.0],
        "ratio": [0.75, 1.3333333],
        "brightness": 0.4,
        "contrast": 0.4,
        "saturation": 0.4,
    },
}
JITTER_HUE = {**SPECS["random_resized_crop_flip_jitter"], "hue": 0.1}
TV_OPS = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def images(n: int, h: int, w: int | None = None, seed: int = 0, low: int = 0) -> torch.Tensor:
    return torch.randint(low, 256, (n, 3, h, w or h), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# crop boxes: the distribution of torchvision RandomResizedCrop.get_params
# ---------------------------------------------------------------------------------------------


def torchvision_boxes(h: int, w: int, n: int, seed: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> np.ndarray:
    img = torch.empty(3, h, w)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return np.array([RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(n)])


def our_boxes(h: int, w: int, n: int, seed: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> np.ndarray:
    top, left, bh, bw = sample_resized_crop_params([h] * n, [w] * n, scale, ratio, gen(seed))
    assert all(t.dtype == torch.int64 and t.shape == (n,) for t in (top, left, bh, bw))
    return torch.stack([top, left, bh, bw], 1).numpy()


def fallback_box(h: int, w: int, ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """The central crop of torchvision's fallback, written out for the sizes used here."""
    if w / h < min(ratio):
        bh, bw = int(round(w / min(ratio))), w
    elif w / h > max(ratio):
        bh, bw = h, int(round(h * max(ratio)))
    else:
        bh, bw = h, w
    return (h - bh) // 2, (w - bw) // 2, bh, bw


@pytest.mark.parametrize(
    "h, w, scale, ratio",
    [
        (32, 32, (0.08, 1.0), (3 / 4, 4 / 3)),
        (64, 64, (0.08, 1.0), (3 / 4, 4 / 3)),
        (375, 500, (0.08, 1.0), (3 / 4, 4 / 3)),  # an ImageNet-like JPEG
        (20, 50, (0.08, 1.0), (3 / 4, 4 / 3)),  # wide: fallback now and then
        (50, 20, (0.08, 1.0), (3 / 4, 4 / 3)),  # tall
        (32, 32, (0.35, 0.9), (0.5, 2.0)),  # other parameters
        (2, 20, (0.08, 1.0), (3 / 4, 4 / 3)),  # tiny: the fallback is frequent
        (20, 2, (0.08, 1.0), (3 / 4, 4 / 3)),
    ],
)
def test_crop_box_distribution_equals_torchvision(h, w, scale, ratio):
    n = 3000
    ours = our_boxes(h, w, n, 1, scale, ratio)
    ref = torchvision_boxes(h, w, n, 2, scale, ratio)
    for boxes in (ours, ref):  # every box lies inside the image
        assert (boxes[:, 2] > 0).all() and (boxes[:, 3] > 0).all()
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= h).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= w).all()

    def area(b):
        return b[:, 2] * b[:, 3] / (h * w)

    def aspect(b):
        return b[:, 3] / b[:, 2]

    def rel_top(b):  # where the box sits in its free range
        return np.where(b[:, 2] < h, b[:, 0] / np.maximum(h - b[:, 2], 1), 0.5)

    for name, f in (("area fraction", area), ("aspect ratio", aspect), ("top offset", rel_top)):
        p = stats.ks_2samp(f(ours), f(ref), method="asymp").pvalue
        assert p > 0.01, f"{name}: KS p = {p:.2g}"
    # the fallback box (the central crop of torchvision's fallback) is as frequent in both
    fb = np.array(fallback_box(h, w, ratio))
    k_ours, k_ref = int((ours == fb).all(1).sum()), int((ref == fb).all(1).sum())
    pooled = (k_ours + k_ref) / (2 * n)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-9) * 2 / n)
    assert abs(k_ours - k_ref) / n <= 4 * se + 1e-9, (k_ours, k_ref)
    if h * w <= 40:
        assert k_ours > 0.1 * n  # the tiny cases do exercise the fallback


@pytest.mark.parametrize("h, w", [(2, 20), (5, 3), (3, 9), (6, 6)])
def test_tiny_image_boxes_have_torchvision_joint_distribution(h, w):
    """On tiny images the boxes take few values: the whole joint law of (top, left, h, w) must agree."""
    n = 4000
    ours = collections.Counter(map(tuple, our_boxes(h, w, n, 3)))
    ref = collections.Counter(map(tuple, torchvision_boxes(h, w, n, 4)))
    keys = sorted(set(ours) | set(ref))
    table = np.array([[ours[k] for k in keys], [ref[k] for k in keys]], dtype=float)
    rare = table.sum(0) < 20  # pool the rare boxes into one cell
    table = np.concatenate([table[:, ~rare], table[:, rare].sum(1, keepdims=True)], 1)
    table = table[:, table.sum(0) > 0]
    p = stats.chi2_contingency(table).pvalue
    assert p > 0.01, f"chi-square p = {p:.2g} over {table.shape[1]} cells"


def test_fallback_is_taken_exactly_when_no_attempt_fits():
    # with 0 attempts every box is the fallback; the three cases of the clamped ratio
    for h, w in [(10, 40), (40, 10), (30, 32)]:
        top, left, bh, bw = sample_resized_crop_params(
            [h] * 5, [w] * 5, (0.08, 1.0), (3 / 4, 4 / 3), gen(0), attempts=0
        )
        assert {(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(top, left, bh, bw)} == {fallback_box(h, w)}
    # a scale that can never fit (area > the image): the fallback every time, whatever the attempts
    top, left, bh, bw = sample_resized_crop_params([8] * 50, [8] * 50, (1.0, 1.0), (2.0, 3.0), gen(1))
    assert set(zip(top.tolist(), left.tolist(), bh.tolist(), bw.tolist())) == {(2, 0, 4, 8)}


def test_sampler_takes_per_image_sizes():
    hs = torch.tensor([32, 375, 500, 7, 64] * 400)
    ws = torch.tensor([32, 500, 375, 2, 48] * 400)
    top, left, bh, bw = sample_resized_crop_params(hs, ws, (0.08, 1.0), (3 / 4, 4 / 3), gen(5))
    assert (bh > 0).all() and (bw > 0).all() and (top >= 0).all() and (left >= 0).all()
    assert (top + bh <= hs).all() and (left + bw <= ws).all()
    # each size's boxes follow that size's law (compare the 375 x 500 images with torchvision)
    mine = (bh * bw)[1::5].double() / (375 * 500)
    ref = torchvision_boxes(375, 500, 400, 6)
    assert stats.ks_2samp(mine.numpy(), ref[:, 2] * ref[:, 3] / (375 * 500)).pvalue > 0.01
    # the draws depend on the generator only
    again = sample_resized_crop_params(hs, ws, (0.08, 1.0), (3 / 4, 4 / 3), gen(5))
    assert all(torch.equal(a, b) for a, b in zip((top, left, bh, bw), again))
    with pytest.raises(ValueError, match="differ in length"):
        sample_resized_crop_params([3, 4], [3], (0.08, 1.0), (0.75, 1.33), gen(0))
    with pytest.raises(ValueError, match="scale"):
        sample_resized_crop_params([3], [3], (0.5, 0.1), (0.75, 1.33), gen(0))


# ---------------------------------------------------------------------------------------------
# pixels: torchvision's per-image functional ops for the same parameters
# ---------------------------------------------------------------------------------------------


def tv_resized_crop_flip(x, top, left, bh, bw, flip, size, antialias):
    out = []
    for i in range(len(x)):
        y = TF.resized_crop(
            x[i],
            int(top[i]),
            int(left[i]),
            int(bh[i]),
            int(bw[i]),
            [size, size],
            InterpolationMode.BILINEAR,
            antialias=antialias,
        )
        out.append(TF.hflip(y) if bool(flip[i]) else y)
    return torch.stack(out)


@pytest.mark.parametrize(
    "h, w, size, antialias",
    [
        (32, 32, 32, True),  # CIFAR: every crop is enlarged (or kept)
        (32, 32, 32, False),
        (64, 64, 64, True),  # Tiny-ImageNet
        (64, 48, 32, True),  # crops larger than the output: the antialiased filter
        (64, 48, 32, False),  # ... and plain bilinear
        (375, 500, 224, True),  # ImageNet-like
        (20, 50, 24, False),
    ],
)
def test_resized_crop_flip_equals_torchvision(h, w, size, antialias):
    n = 48 if h < 100 else 12
    g = gen(h * w + size)
    x = torch.rand(n, 3, h, w, generator=g)
    top, left, bh, bw = sample_resized_crop_params([h] * n, [w] * n, (0.08, 1.0), (3 / 4, 4 / 3), g)
    flip = torch.rand(n, generator=g) < 0.5
    out = resized_crop_flip(x, top, left, bh, bw, flip, size, antialias)
    assert out.shape == (n, 3, size, size) and out.dtype == torch.float32
    torch.testing.assert_close(
        out, tv_resized_crop_flip(x, top, left, bh, bw, flip, size, antialias), rtol=0, atol=2e-6
    )


def test_resized_crop_of_output_size_is_the_crop_exactly():
    x = torch.rand(6, 3, 40, 40, generator=gen(0))
    top, left = torch.tensor([0, 3, 8, 5, 1, 0]), torch.tensor([8, 0, 2, 7, 4, 0])
    size = torch.full((6,), 32)
    flip = torch.tensor([False, True, False, True, False, True])
    for antialias in (True, False):
        out = resized_crop_flip(x, top, left, size, size, flip, 32, antialias)
        for i in range(6):
            crop = x[i, :, top[i] : top[i] + 32, left[i] : left[i] + 32]
            assert torch.equal(out[i], crop.flip(-1) if flip[i] else crop)


def test_enlarging_ignores_antialias():
    """Where no crop side is larger than the output, the antialiased and plain bilinear weights coincide."""
    x = torch.rand(64, 3, 32, 32, generator=gen(1))
    top, left, bh, bw = sample_resized_crop_params([32] * 64, [32] * 64, (0.08, 1.0), (3 / 4, 4 / 3), gen(2))
    a = resized_crop_flip(x, top, left, bh, bw, None, 32, True)
    b = resized_crop_flip(x, top, left, bh, bw, None, 32, False)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def tv_jitter(x, factors, order, hue_on: bool):
    out = []
    for i in range(len(x)):
        y = x[i]
        for op in order[i].tolist():
            if op == 3 and not hue_on:
                continue
            y = TV_OPS[op](y, float(factors[i, op]))
        out.append(y)
    return torch.stack(out)


@pytest.mark.parametrize("hue", [0.0, 0.3])
def test_color_jitter_equals_torchvision(hue):
    n = 64
    g = gen(7)
    x = torch.rand(n, 3, 16, 16, generator=g)
    x[:4] = x[:4, :1]  # some gray images
    x[4, :, :4] = 0.0  # black and white pixels
    x[5, :, :4] = 1.0
    factors = torch.rand(n, 4, generator=g) * 1.6
    factors[:, 3] = (torch.rand(n, generator=g) * 2 - 1) * hue
    order = torch.rand(n, 4, generator=g).argsort(1)
    out = color_jitter(x, factors, order)
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out, tv_jitter(x, factors, order, hue > 0), rtol=0, atol=1e-5)


def cutmix_code_jitter(img: torch.Tensor, factors, order) -> torch.Tensor:
    """The CutMix / SaliencyMix-ImageNet code's utils.ColorJitter (SaliencyMix-ImageNet/utils.py:61-124), its draws
    given: Grayscale 0.299 R + 0.587 G + 0.114 B; Brightness lerps to black, Contrast to the grey mean, Saturation
    to the grey image, each by alpha = 1 - factor; nothing is clamped."""
    for op in order:
        if op == 3:
            continue
        gray = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]).expand_as(img)
        targets = {0: torch.zeros_like(img), 1: torch.full_like(img, float(gray.mean())), 2: gray}
        img = img.lerp(targets[op], 1.0 - float(factors[op]))
    return img


def test_the_cutmix_codes_jitter_blends_without_clamping():
    """jitter: cutmix is the CutMix code's ColorJitter (the SaliencyMix-ImageNet code's): the same blends as
    torchvision's, its own grey, never clamped; torchvision's clamps after each op. The ImageNet worker path runs it
    per image with its own draws; a hue with it is refused (that code has none)."""
    from augrepro.data.file_pipelines import _ColorJitter

    g = gen(9)
    x = torch.rand(16, 3, 12, 12, generator=g)
    factors = torch.cat([0.6 + 0.8 * torch.rand(16, 3, generator=g), torch.zeros(16, 1)], 1)
    factors[0, :3] = torch.tensor([1.4, 1.4, 1.4])  # brighter than white can be
    order = torch.rand(16, 4, generator=g).argsort(1)
    out = color_jitter(x, factors, order, "cutmix")
    want = torch.stack([cutmix_code_jitter(x[i], factors[i], order[i].tolist()) for i in range(16)])
    torch.testing.assert_close(out, want, rtol=0, atol=1e-6)
    assert out.max() > 1.0 and color_jitter(x, factors, order).max() <= 1.0  # torchvision's clamps
    torch.manual_seed(3)
    one = _ColorJitter(0.4)(x[1])
    torch.manual_seed(3)
    drawn = torch.cat([0.6 + 0.8 * torch.rand(3), torch.zeros(1)])
    torch.testing.assert_close(
        one, cutmix_code_jitter(x[1], drawn, torch.rand(4).argsort().tolist()), rtol=0, atol=1e-6
    )
    spec = {**SPECS["random_resized_crop_flip_jitter"], "jitter": "cutmix"}
    assert build_pipeline(spec, 32).describe()["jitter"] == "cutmix"
    assert build_pipeline(SPECS["random_resized_crop_flip_jitter"], 32).describe()["jitter"] == "torchvision"
    with pytest.raises(ValueError, match="jitter = 'cutmix' has no hue op"):
        build_pipeline({**spec, "hue": 0.1}, 32)
    with pytest.raises(ValueError, match="jitter = 'pil': expected one of torchvision, cutmix"):
        build_pipeline({**spec, "jitter": "pil"}, 32)


def test_each_colour_op_alone_equals_torchvision():
    x = torch.rand(8, 3, 12, 12, generator=gen(8))
    for op in range(4):
        factors = torch.tensor([[1.0, 1.0, 1.0, 0.0]]).repeat(8, 1)
        factors[:, op] = torch.linspace(-0.5, 0.5, 8) if op == 3 else torch.linspace(0.0, 1.9, 8)
        order = torch.tensor([[op] + [k for k in range(4) if k != op]]).repeat(8, 1)
        expected = torch.stack([TV_OPS[op](x[i], float(factors[i, op])) for i in range(8)])
        torch.testing.assert_close(color_jitter(x, factors, order), expected, rtol=0, atol=1e-5)
    hues = torch.linspace(-0.5, 0.5, 8)
    expected = torch.stack([TF.adjust_hue(x[i], float(hues[i])) for i in range(8)])
    torch.testing.assert_close(adjust_hue(x, hues), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "spec", [SPECS["random_resized_crop_flip_jitter"], JITTER_HUE, SPECS["random_resized_crop_flip"]]
)
def test_pipeline_equals_torchvision_per_image_for_its_draws(spec):
    """The whole pipeline: ToTensor, RandomResizedCrop, RandomHorizontalFlip[, ColorJitter] per image, with the
    parameters the pipeline drew (``sample`` draws exactly what ``__call__`` draws)."""
    pipe = build_pipeline(spec, 32)
    x = images(40, 32)
    params = pipe.sample(40, 32, 32, gen(11))
    out = pipe(x, gen(11))
    ref = tv_resized_crop_flip(
        x.float() / 255, params["top"], params["left"], params["height"], params["width"], params["flip"], 32, True
    )
    if "factors" in params:
        ref = tv_jitter(ref, params["factors"], params["order"], spec.get("hue", 0) > 0)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# pad_crop_flip: the same draws and pixels as before the pipelines existed
# ---------------------------------------------------------------------------------------------


def old_random_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """augrepro.data.loader.random_crop_flip as it was (commit 4c457e9), minus the device transfer."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = offsets[0][:, None] + torch.arange(h)
    cols = offsets[1][:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n)[:, None, None, None]
    chan = torch.arange(c)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


@pytest.mark.parametrize("padding, size", [(4, 32), (4, 64), (0, 32), (2, 8)])
def test_pad_crop_flip_is_unchanged(padding, size):
    x = images(50, size, seed=padding + size)
    pipe = build_pipeline({"name": "pad_crop_flip", "padding": padding}, size)
    for seed in (0, 1, 123):
        g_new, g_old = gen(seed), gen(seed)
        new = pipe(x, g_new)
        assert new.dtype == torch.uint8
        assert torch.equal(new, old_random_crop_flip(x, padding, g_old))
        assert torch.equal(g_new.get_state(), g_old.get_state())  # the same amount drawn
        assert torch.equal(random_crop_flip(x, padding, gen(seed)), new)


def test_pad_crop_flip_equals_torchvision_per_image():
    """Independent reference: draw offsets and flips in the documented order, then F.pad, F.crop, F.hflip."""
    x = images(30, 32, seed=3)
    out = build_pipeline(SPECS["pad_crop_flip"], 32)(x, gen(4))
    g = gen(4)
    offsets = torch.randint(0, 9, (2, 30), generator=g)
    flip = torch.rand(30, generator=g) < 0.5
    for i in range(30):
        y = TF.crop(TF.pad(x[i], [4], fill=0), int(offsets[0, i]), int(offsets[1, i]), 32, 32)
        assert torch.equal(out[i], TF.hflip(y) if flip[i] else y)


def test_device_data_batches_of_pad_crop_flip_are_unchanged():
    spec = get_spec("cifar10")
    x = images(70, 32, seed=9)
    data = DeviceData(x, torch.arange(70), spec.mean, spec.std)
    pipe = build_pipeline(SPECS["pad_crop_flip"], 32)
    order = data.epoch_order(gen(0))
    g_new, g_old = gen(1), gen(1)
    for step in range(data.num_batches(32)):
        xb, yb = data.batch(order, step, 32, g_new, pipe)
        idx = order[step * 32 : (step + 1) * 32]
        norm = data.normalization
        expected = (old_random_crop_flip(x[idx], 4, g_old).float().div_(255.0) - norm.mean_tensor) / norm.std_tensor
        assert torch.equal(xb, expected) and torch.equal(yb, idx)
    with pytest.raises(TypeError, match="Pipeline"):  # the former crop_padding int is no longer taken
        data.batch(order, 0, 32, gen(1), 4)


# ---------------------------------------------------------------------------------------------
# every pipeline: determinism, shapes, flips, jitter ranges
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
@pytest.mark.parametrize("size", [32, 64])
def test_same_seed_same_batch_and_output_type(name, size):
    pipe = build_pipeline(SPECS[name], size)
    assert isinstance(pipe, Pipeline) and pipe.name == name
    x = images(24, size)
    a, b, c = pipe(x, gen(5)), pipe(x, gen(5)), pipe(x, gen(6))
    assert torch.equal(a, b)
    assert a.shape == (24, 3, size, size)
    if name in ("none", "pad_crop_flip"):
        assert a.dtype == torch.uint8 and pipe.describe()["output"] == "uint8"
    else:
        assert a.dtype == torch.float32 and pipe.describe()["output"] == "float32 in [0, 1]"
        assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    if name == "none":
        assert torch.equal(a, x)
    else:
        assert not torch.equal(a, c)


def test_random_resized_crop_resizes_any_input_to_the_pipeline_size():
    pipe = build_pipeline(SPECS["random_resized_crop_flip_jitter"], 24)
    out = pipe(images(5, 40, 56), gen(0))
    assert out.shape == (5, 3, 24, 24) and out.dtype == torch.float32
    up = build_pipeline({**SPECS["random_resized_crop_flip"], "size": 224}, 64)  # Tiny-ImageNet at 224 px
    assert up(images(3, 64), gen(0)).shape == (3, 3, 224, 224)


def test_lighting_noise_equals_the_imagenet_code():
    """lighting > 0: the CutMix/SaliencyMix utils.Lighting (file_pipelines._Lighting) after the jitter, with its alpha."""
    from augrepro.data.file_pipelines import _Lighting

    spec = {**SPECS["random_resized_crop_flip_jitter"], "lighting": 0.1}
    pipe = build_pipeline(spec, 32)
    x = images(20, 32)
    params = pipe.sample(20, 32, 32, gen(2))
    out = pipe(x, gen(2))
    no_noise = {k: v for k, v in params.items() if k != "lighting"}
    plain = build_pipeline(SPECS["random_resized_crop_flip_jitter"], 32).apply(x, no_noise)  # same crop and jitter
    ref = _Lighting(0.1)
    for i in range(20):
        expected = plain[i] + (ref.eigvec * (params["lighting"][i]) * ref.eigval).sum(1).view(3, 1, 1)
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-6)
    alpha = pipe.sample(20000, 32, 32, gen(3))["lighting"]
    assert abs(float(alpha.std()) - 0.1) < 0.003 and abs(float(alpha.mean())) < 0.003
    assert "lighting" not in build_pipeline(SPECS["random_resized_crop_flip_jitter"], 32).sample(4, 32, 32, gen(0))


def test_flips_happen_about_half_the_time():
    n = 2000
    # a horizontal ramp, no vertical change: any output is the image or its mirror
    ramp = torch.arange(1, 33, dtype=torch.uint8).mul(7).view(1, 1, 1, 32).expand(n, 3, 32, 32).contiguous()
    mirrored = ramp.flip(-1)
    out = build_pipeline({"name": "pad_crop_flip", "padding": 0}, 32)(ramp, gen(0))
    flips = (out == mirrored).flatten(1).all(1)
    assert ((out == ramp).flatten(1).all(1) | flips).all()
    # the whole image as the crop (scale 1, ratio 1): the resize is exact, so again image or mirror
    whole = build_pipeline({"name": "random_resized_crop_flip", "scale": [1.0, 1.0], "ratio": [1.0, 1.0]}, 32)
    out2 = whole(ramp, gen(1))
    ramp_f = ramp.float() / 255
    flips2 = (out2 == ramp_f.flip(-1)).flatten(1).all(1)
    assert ((out2 == ramp_f).flatten(1).all(1) | flips2).all()
    for fraction in (flips.float().mean(), flips2.float().mean()):
        assert abs(float(fraction) - 0.5) < 0.04  # 3.6 standard deviations at n = 2000


@pytest.mark.parametrize("hue", [0.0, 0.25])
def test_jitter_factors_lie_in_their_ranges(hue):
    pipe = build_pipeline(
        {**SPECS["random_resized_crop_flip_jitter"], "brightness": 0.4, "contrast": 1.5, "saturation": 0.0, "hue": hue},
        32,
    )
    p = pipe.sample(5000, 32, 32, gen(0))
    f = p["factors"]
    for col, (lo, hi) in enumerate([(0.6, 1.4), (0.0, 2.5)]):
        assert float(f[:, col].min()) >= lo and float(f[:, col].max()) <= hi
        assert float(f[:, col].min()) < lo + 0.01 and float(f[:, col].max()) > hi - 0.01  # fills its range
        assert stats.kstest(f[:, col].numpy(), "uniform", args=(lo, hi - lo)).pvalue > 0.01
    assert torch.equal(f[:, 2], torch.ones(5000))  # saturation 0: neutral, as a skipped op
    if hue:
        assert (
            float(f[:, 3].abs().max()) <= hue
            and stats.kstest(f[:, 3].numpy(), "uniform", args=(-hue, 2 * hue)).pvalue > 0.01
        )
    else:
        assert torch.equal(f[:, 3], torch.zeros(5000))
    # a uniformly random order of the four ops per sample
    assert torch.equal(p["order"].sort(1).values, torch.arange(4).expand(5000, 4))
    counts = collections.Counter(map(tuple, p["order"].tolist()))
    assert len(counts) == 24
    assert stats.chisquare(list(counts.values())).pvalue > 0.01


# ---------------------------------------------------------------------------------------------
# specs
# ---------------------------------------------------------------------------------------------


def test_build_pipeline_classes_and_describe():
    assert PIPELINES == ("none", "pad_crop_flip", "random_resized_crop_flip", "random_resized_crop_flip_jitter")
    assert build_pipeline(None, 32) is None
    assert build_pipeline({"name": "none"}, 32) == NoAugmentation(size=32)
    assert build_pipeline({"name": "pad_crop_flip", "padding": 4}, 32) == PadCropFlip(size=32, padding=4)
    rrc = build_pipeline({"name": "random_resized_crop_flip"}, 32)
    assert rrc == RandomResizedCropFlip(size=32, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias=True)
    jit = build_pipeline(SPECS["random_resized_crop_flip_jitter"], 64)
    assert isinstance(jit, RandomResizedCropFlipJitter) and jit.hue == 0.0
    assert jit.describe() == {
        "name": "random_resized_crop_flip_jitter",
        "scale": [0.08, 1.0],
        "ratio": [0.75, 1.3333333],
        "antialias": True,
        "brightness": 0.4,
        "contrast": 0.4,
        "saturation": 0.4,
        "hue": 0.0,
        "lighting": 0.0,
        "jitter": "torchvision",
        "size": 64,
        "output": "float32 in [0, 1]",
    }
    assert build_pipeline(SPECS["pad_crop_flip"], 32).describe() == {
        "name": "pad_crop_flip",
        "padding": 4,
        "size": 32,
        "output": "uint8",
    }
    with pytest.raises(dataclasses_frozen_error()):
        jit.brightness = 0.1  # frozen
    # describe() minus output builds the same pipeline again
    d = jit.describe()
    assert build_pipeline({k: v for k, v in d.items() if k != "output"}, 32) == jit
    # the random-resized-crop pipelines may resize to another side than the dataset's
    big = build_pipeline({**SPECS["random_resized_crop_flip_jitter"], "size": 224, "lighting": 0.1}, 64)
    assert big.size == 224 and big.lighting == 0.1 and big.describe()["output"].startswith("float32 (in [0, 1] before")


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"name": "random_crop"}, ["'random_crop'", "pad_crop_flip", "random_resized_crop_flip_jitter", "none"]),
        ({}, ["None", "valid names"]),
        ({"name": "pad_crop_flip"}, ["missing", "'padding'", "integer"]),
        ({"name": "pad_crop_flip", "padding": 4, "pad": 2}, ["unknown key 'pad'", "2", "padding"]),
        ({"name": "pad_crop_flip", "padding": -1}, ["padding", "-1", "[0, 32]"]),
        ({"name": "pad_crop_flip", "padding": 2.5}, ["padding", "2.5", "integer"]),
        ({"name": "pad_crop_flip", "padding": True}, ["padding", "True"]),
        ({"name": "pad_crop_flip", "padding": 33}, ["padding", "33", "[0, 32]"]),
        ({"name": "random_resized_crop_flip", "scale": [0.0, 1.0]}, ["scale", "[0.0, 1.0]", "0 < min <= max <= 1"]),
        ({"name": "random_resized_crop_flip", "scale": [0.5, 0.2]}, ["scale", "[0.5, 0.2]", "min <= max"]),
        ({"name": "random_resized_crop_flip", "scale": [0.5, 1.2]}, ["scale", "1.2", "<= 1"]),
        ({"name": "random_resized_crop_flip", "scale": 0.5}, ["scale", "0.5", "[min, max]"]),
        ({"name": "random_resized_crop_flip", "ratio": [2.0, 1.0]}, ["ratio", "[2.0, 1.0]", "min <= max"]),
        ({"name": "random_resized_crop_flip", "ratio": [-1, 1.0]}, ["ratio", "-1", "0 < min"]),
        ({"name": "random_resized_crop_flip", "antialias": "yes"}, ["antialias", "'yes'", "true or false"]),
        ({"name": "random_resized_crop_flip", "brightness": 0.4}, ["unknown key 'brightness'", "scale", "ratio"]),
        (
            {"name": "random_resized_crop_flip_jitter", "brightness": 0.4, "contrast": 0.4},
            ["missing", "'saturation'", ">= 0"],
        ),
        ({**SPECS["random_resized_crop_flip_jitter"], "brightness": -0.1}, ["brightness", "-0.1", "[0, inf]"]),
        ({**SPECS["random_resized_crop_flip_jitter"], "contrast": "0.4"}, ["contrast", "'0.4'", "number"]),
        ({**SPECS["random_resized_crop_flip_jitter"], "saturation": float("nan")}, ["saturation", "nan"]),
        ({**SPECS["random_resized_crop_flip_jitter"], "hue": 0.6}, ["hue", "0.6", "[0, 0.5]"]),
        ({**SPECS["random_resized_crop_flip_jitter"], "lighting": -1}, ["lighting", "-1", "[0, inf]"]),
        (
            {**SPECS["random_resized_crop_flip_jitter"], "eval_resize": 256},
            ["unknown key 'eval_resize'", "256", "lighting"],
        ),
        ({"name": "random_resized_crop_flip", "size": 0}, ["size", "0", "[1, 4096]"]),
        ({"name": "pad_crop_flip", "padding": 4, "size": 32}, ["unknown key 'size'", "padding"]),
        ({"name": "random_resized_crop_flip", "lighting": 0.1}, ["unknown key 'lighting'"]),
    ],
)
def test_bad_specs_are_refused_with_clear_messages(spec, expected):
    with pytest.raises(ValueError) as info:
        build_pipeline(spec, 32)
    for text in expected:
        assert text in str(info.value), f"{text!r} not in {str(info.value)!r}"


@pytest.mark.parametrize("bad", [["pad_crop_flip"], "pad_crop_flip"])
def test_spec_must_be_a_mapping(bad):
    with pytest.raises(ValueError, match="mapping"):
        build_pipeline(bad, 32)


def test_pipelines_refuse_other_inputs():
    with pytest.raises(ValueError, match="uint8"):
        build_pipeline(SPECS["random_resized_crop_flip"], 32)(torch.rand(2, 3, 32, 32), gen(0))
    with pytest.raises(ValueError, match="32 x 32"):
        build_pipeline(SPECS["pad_crop_flip"], 32)(images(2, 64), gen(0))
    with pytest.raises(ValueError, match="image_size"):
        build_pipeline(SPECS["none"], 0)


# ---------------------------------------------------------------------------------------------
# the loader with every pipeline
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
def test_device_data_epoch_with_each_pipeline(name):
    spec = get_spec("cifar10")
    x = images(45, 32, seed=2)
    data = DeviceData(x, torch.arange(45), spec.mean, spec.std)
    pipe = build_pipeline(SPECS[name], 32)
    batches = list(data.train_batches(16, gen(3), pipe))
    assert [len(y) for _, y in batches] == [16, 16, 13]
    for xb, yb in batches:
        assert xb.dtype == torch.float32 and xb.shape == (len(yb), 3, 32, 32) and torch.isfinite(xb).all()
        if name == "none":
            assert torch.equal(xb, data.normalization.apply(x[yb]))
    # float pipelines: normalize takes [0, 1] floats like the uint8 it replaces
    torch.testing.assert_close(
        data.normalization.apply(x.float() / 255), data.normalization.apply(x), rtol=0, atol=1e-6
    )
    with pytest.raises(TypeError, match="Pipeline"):
        next(data.train_batches(16, gen(3), "pad_crop_flip"))
    # resuming mid-epoch: the same batches as the uninterrupted epoch, from the saved generator state
    g = gen(4)
    order = data.epoch_order(g)
    first = next(data.iterate(order, 0, 16, g, pipe))
    state = g.get_state()
    rest = list(data.iterate(order, 1, 16, g, pipe))
    g2 = torch.Generator()
    g2.set_state(state)
    again = list(data.iterate(order, 1, 16, g2, pipe))
    assert first[0].shape[0] == 16
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(rest, again))


# ---------------------------------------------------------------------------------------------
# CUDA
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", [*PIPELINES, "jitter+hue"])
def test_cuda_equals_cpu_without_synchronizing(name):
    spec = JITTER_HUE if name == "jitter+hue" else SPECS[name]
    pipe = build_pipeline(spec, 32)
    x = images(64, 32)
    xc = x.cuda()
    pipe(xc, gen(0))  # warm-up (allocations, kernels)
    torch.cuda.synchronize()
    g_cpu, g_cuda = gen(1), gen(1)
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = pipe(xc, g_cuda)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    ref = pipe(x, g_cpu)
    assert out.device.type == "cuda" and out.dtype == ref.dtype
    assert torch.equal(g_cpu.get_state(), g_cuda.get_state())
    if ref.dtype == torch.uint8:
        assert torch.equal(out.cpu(), ref)
    else:
        torch.testing.assert_close(out.cpu(), ref, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# one spec, three backends
# ---------------------------------------------------------------------------------------------


def test_the_imagenet_spec_is_the_decode_paths_pipeline_and_the_workers_compose():
    """One spec: the decode path's batched pipeline and the workers' Compose are both built from ``imagenet``."""
    from torchvision import transforms as T

    from augrepro.data.file_pipelines import _ColorJitter, _Lighting, file_transforms
    from augrepro.data.jpeg import IMAGENET, IMAGENET_TRAIN
    from augrepro.data.pipeline_spec import EvalCrop, parse_pipeline

    assert IMAGENET == parse_pipeline({"name": "imagenet"}) and IMAGENET.files and IMAGENET.size == 224
    assert IMAGENET.evaluation == EvalCrop(256, 224, False)
    assert IMAGENET_TRAIN.describe() == {
        "name": "random_resized_crop_flip_jitter",
        "scale": [0.08, 1.0],
        "ratio": [0.75, 4 / 3],
        "antialias": True,
        "brightness": 0.4,
        "contrast": 0.4,
        "saturation": 0.4,
        "hue": 0.0,
        "lighting": 0.1,
        "jitter": "cutmix",
        "size": 224,
        "output": "float32 (in [0, 1] before the lighting noise)",
    }
    train = file_transforms({"name": "imagenet"}, True, (0, 0, 0), (1, 1, 1)).transforms
    assert [type(t) for t in train] == [
        T.RandomResizedCrop,
        T.RandomHorizontalFlip,
        T.ToTensor,
        _ColorJitter,
        _Lighting,
        T.Normalize,
    ]
    crop, flip, _, jitter, light, _ = train
    assert crop.size == (224, 224) and crop.scale == (0.08, 1.0) and crop.ratio == (0.75, 4 / 3)
    assert flip.p == 0.5 and jitter.strength == 0.4 and light.alphastd == 0.1
    evaluation = file_transforms({"name": "imagenet"}, False, (0, 0, 0), (1, 1, 1)).transforms
    assert [type(t) for t in evaluation] == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    assert evaluation[0].size == 256 and evaluation[1].size == (224, 224)


def test_a_spec_runs_only_where_a_backend_executes_its_ops():
    from augrepro.data.pipeline_spec import ResizeRandomCrop, parse_pipeline
    from augrepro.data.pipelines import tensor_pipeline

    snapmix = parse_pipeline({"name": "snapmix", "resize": 64, "crop": 48, "warp": True})
    assert snapmix.size == 48 and isinstance(snapmix.ops[0], ResizeRandomCrop)
    with pytest.raises(ValueError, match="'snapmix': its ops .* have no batched tensor executor"):
        tensor_pipeline(snapmix)
    with pytest.raises(ValueError, match="'imagenet' decodes files; images in memory take one of none, pad_crop_flip"):
        build_pipeline({"name": "imagenet"}, 64)
    with pytest.raises(ValueError, match="'snapmix': missing key 'warp' \\(true or false\\)"):
        parse_pipeline({"name": "snapmix", "resize": 64, "crop": 48})


def test_the_spec_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, augrepro.data.pipeline_spec, augrepro.data.file_pipelines; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
