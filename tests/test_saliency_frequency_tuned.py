"""Frequency-tuned saliency (Achanta et al., CVPR 2009): the batched torch detector against an independent
per-image NumPy/SciPy reference (``ft_reference.py``), its defined behaviour on flat and synthetic images, the
interface, and SaliencyMix's paper variant with it.

Agreement is measured on crops of scikit-learn's two sample photographs (the demo's photographs) at 32x32,
64x64, 40x24 and 24x40. Tolerance: max |diff| <= 1e-6 on maps in [0, 1] (both sides compute in float64; the
torch map is float32, whose rounding near 1 is 6e-8), every peak (first argmax) within 1 px and >= 99 %
identical. The same tolerance tells apart the variants the released codes use (squared distance, the [1 2 1]
kernel, the mean of the blurred image, a replicated border).
"""

from __future__ import annotations

import cv2
import ft_reference
import numpy as np
import pytest
import torch

from augrepro.saliency import METHODS, saliency_maps
from augrepro.saliency import frequency_tuned as ft
from augrepro.saliency.agreement import agreement, peaks, photo_crops

MAX_ABS_DIFF = 1e-6


@pytest.fixture(scope="module")
def photo_sets() -> dict[str, torch.Tensor]:
    return {
        "crops32": photo_crops(160, 32, 32, seed=11),
        "crops64": photo_crops(120, 64, 64, seed=12),
        "crops40x24": photo_crops(60, 40, 24, seed=13),
        "crops24x40": photo_crops(60, 24, 40, seed=14),
    }


@pytest.fixture(scope="module")
def reference_maps(photo_sets) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(ft_reference.saliency_batch(x)) for k, x in photo_sets.items()}


def test_registered_as_a_saliency_method():
    assert "frequency_tuned" in METHODS


# --- agreement with the independent reference -----------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "opencv"])
def test_agrees_with_the_reference_on_photographs(backend, photo_sets, reference_maps, capsys):
    lines = []
    for key, images in photo_sets.items():
        ours = saliency_maps(images, "frequency_tuned", backend=backend)
        assert ours.dtype == torch.float32 and ours.shape == reference_maps[key].shape
        stats = agreement(reference_maps[key], ours)
        assert stats["max_abs_diff"] <= MAX_ABS_DIFF, (key, stats)
        assert stats["peak_within_1px"] == 1.0, (key, stats)
        assert stats["peak_equal"] >= 0.99, (key, stats)
        lines.append(
            f"frequency_tuned[{backend}] {key}: n={stats['n']} max|diff|={stats['max_abs_diff']:.2e} "
            f"peak equal={stats['peak_equal']:.4f} within 1px={stats['peak_within_1px']:.4f} "
            f"r min={stats['r_min']:.9f}"
        )
    with capsys.disabled():
        print("", *lines, sep="\n")


@pytest.mark.parametrize(
    "variant",
    [
        dict(squared=True),  # all three released codes square the distance
        dict(taps=(1, 2, 1)),  # Saliency.cpp's kernel (the paper: 5 x 5 binomial)
        dict(mean_of="blurred"),  # the MATLAB demo's mean
        dict(border="nearest"),  # a replicated border instead of Saliency.cpp's dropped, renormalised taps
    ],
)
def test_the_tolerance_tells_the_released_variants_apart(variant, photo_sets):
    images = photo_sets["crops32"][:40]
    ours = saliency_maps(images, "frequency_tuned").double()
    other = torch.from_numpy(ft_reference.saliency_batch(images, **variant))
    assert (ours - other).abs().max() > 100 * MAX_ABS_DIFF


def test_lab_conversion_is_srgb_d65():
    """The Lab constants. The sRGB -> XYZ matrix is the one derived from the sRGB primaries and the D65 white
    XYZ (0.95047, 1, 1.08883) to its 7 printed decimals; Saliency.cpp then normalises by a slightly different
    D65 white (0.950456, 1, 1.088754; OpenCV's), so white comes out at a* = 0.002, b* = -0.005, not 0.
    The Lab values agree with cv2.cvtColor (float32 input, COLOR_RGB2Lab) to OpenCV 5's own accuracy: its
    float path is table-based, up to 0.39 a* units from its documented formula (measured here), while the two
    constant sets differ by less than 0.005."""
    xy = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])  # sRGB primaries (x, y), IEC 61966-2-1
    prim = np.stack([xy[:, 0] / xy[:, 1], np.ones(3), (1 - xy.sum(1)) / xy[:, 1]])  # columns: XYZ with Y = 1
    derived = prim * np.linalg.solve(prim, np.array([0.95047, 1.0, 1.08883]))
    assert np.abs(derived - np.asarray(ft.SRGB_TO_XYZ)).max() < 1e-7

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (1, 3, 1, 20000), dtype=np.uint8)
    colours[0, :, 0, :6] = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 1, 1]]).T
    ours = ft.srgb_to_lab(torch.from_numpy(colours))[0, :, 0].T.numpy()
    cv = cv2.cvtColor(colours[0, :, 0].T[None].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0]
    assert np.abs(ours - cv).max() < 0.5
    assert np.allclose(ours[1], [100.0, 0.0, 0.0], atol=0.01)  # white is L = 100, a = b = 0
    assert np.allclose(ours[0], [0.0, 0.0, 0.0], atol=1e-12)
    ref = ft_reference.srgb_to_lab(colours[0, :, 0].T[None])[0]
    assert np.abs(ours - ref).max() < 1e-12


# --- defined behaviour ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "opencv"])
@pytest.mark.parametrize("shape", [(32, 32), (7, 5), (1, 1), (1, 9)])
def test_a_flat_image_gives_an_all_zero_map(backend, shape):
    colours = [(0, 0, 0), (128, 128, 128), (255, 255, 255), (10, 200, 30)]
    images = torch.stack([torch.tensor(c, dtype=torch.uint8).view(3, 1, 1).expand(3, *shape) for c in colours])
    maps = saliency_maps(images.contiguous(), "frequency_tuned", backend=backend)
    assert maps.shape == (4, *shape) and not torch.isnan(maps).any()
    assert torch.equal(maps, torch.zeros_like(maps))


def test_an_equidistant_map_is_flat_too():
    """Two pixels of two colours: after the blur both are equally far from the mean, so the map is constant up
    to float64 rounding; it must come out all zero, not as min-max-normalised rounding noise."""
    images = torch.tensor([[[[10, 240]], [[20, 30]], [[200, 90]]]], dtype=torch.uint8)
    assert torch.equal(saliency_maps(images, "frequency_tuned"), torch.zeros(1, 1, 2))
    assert np.array_equal(ft_reference.saliency_batch(images), np.zeros((1, 1, 2)))


@pytest.mark.parametrize(
    "size, box, colour",
    [
        ((64, 64), (20, 30, 36, 46), (220, 30, 30)),
        ((32, 32), (2, 3, 8, 9), (30, 30, 220)),
        ((40, 24), (25, 15, 35, 23), (240, 240, 40)),
        ((24, 40), (0, 0, 6, 6), (20, 20, 20)),
    ],
)
def test_a_salient_square_on_a_uniform_background_peaks_inside_it(size, box, colour):
    h, w = size
    y1, x1, y2, x2 = box
    rng = np.random.default_rng(1)
    img = np.empty((3, h, w), dtype=np.uint8)
    img[:] = np.array([120, 140, 110], dtype=np.uint8)[:, None, None]
    img = np.clip(img.astype(int) + rng.integers(-2, 3, img.shape), 0, 255).astype(np.uint8)  # faint noise
    img[:, y1:y2, x1:x2] = np.array(colour, dtype=np.uint8)[:, None, None]
    maps = saliency_maps(torch.from_numpy(img)[None], "frequency_tuned")
    py, px = (int(v) for v in peaks(maps))
    assert y1 <= py < y2 and x1 <= px < x2, (py, px)
    # the 5-tap blur mixes a 2-px rim on either side of each edge that has background beyond it
    core = maps[0, y1 + 2 * (y1 > 0) : y2 - 2 * (y2 < h), x1 + 2 * (x1 > 0) : x2 - 2 * (x2 < w)]
    outside = maps[0].clone()
    outside[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = 0
    assert core.numel() > 0 and core.min() > 0.9 and outside.max() < 0.1, (core.min(), outside.max())


def test_batched_equals_per_image():
    n = ft.CHUNK_PIXELS // (32 * 32) + 7  # more than one CPU chunk
    images = photo_crops(n, 32, 32, seed=15)
    whole = saliency_maps(images, "frequency_tuned")
    singles = torch.cat([saliency_maps(images[i : i + 1], "frequency_tuned") for i in range(n)])
    assert torch.equal(whole, singles)
    odd = photo_crops(5, 24, 40, seed=16)
    assert torch.equal(saliency_maps(odd, "frequency_tuned")[3], saliency_maps(odd[3:4], "frequency_tuned")[0])


# --- interface ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(1, 3, 32, 32), (3, 3, 40, 24), (2, 3, 7, 5), (2, 3, 2, 9), (2, 3, 1, 1), (0, 3, 8, 8)]
)
def test_output_shape_dtype_device_range(shape):
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    ours = saliency_maps(images, "frequency_tuned")
    assert ours.shape == (shape[0],) + shape[2:]
    assert ours.dtype == torch.float32 and ours.device == images.device
    assert torch.isfinite(ours).all() and (ours >= 0).all() and (ours <= 1).all()
    ref = ft_reference.saliency_batch(images)
    assert ref.shape == tuple(ours.shape) and np.abs(ours.double().numpy() - ref).max(initial=0) <= MAX_ABS_DIFF
    if shape[0] and shape[2] * shape[3] > 1:  # random noise is never flat: min-max spans [0, 1]
        assert (ours.flatten(1).amin(1) == 0).all() and (ours.flatten(1).amax(1) == 1).all()


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (torch.zeros(1, 3, 8, 8), {}, "uint8"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int16), {}, "uint8"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), {}, "N x 3 x H x W"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), {}, "N x 3 x H x W"),
        (torch.zeros(1, 8, 8, 3, dtype=torch.uint8), {}, "N x 3 x H x W"),
        (torch.zeros(1, 3, 8, 0, dtype=torch.uint8), {}, "at least 1 x 1"),
        (np.zeros((1, 3, 8, 8), dtype=np.uint8), {}, "torch.Tensor"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), dict(backend="numpy"), "valid: torch, opencv"),
    ],
)
def test_bad_input_is_refused_with_the_fix(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        saliency_maps(images, "frequency_tuned", **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is not exercised here")
def test_runs_on_the_images_device(photo_sets, reference_maps):
    for key in ("crops32", "crops40x24"):
        images = photo_sets[key].cuda()
        ours = saliency_maps(images, "frequency_tuned")
        assert ours.device.type == "cuda" and ours.dtype == torch.float32
        stats = agreement(reference_maps[key], ours.cpu())
        assert stats["max_abs_diff"] <= MAX_ABS_DIFF and stats["peak_within_1px"] == 1.0, (key, stats)
        assert torch.allclose(ours.cpu(), saliency_maps(photo_sets[key], "frequency_tuned"), atol=MAX_ABS_DIFF, rtol=0)
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8, device="cuda")
    assert torch.equal(saliency_maps(flat, "frequency_tuned").cpu(), torch.zeros(2, 16, 16))


# --- SaliencyMix (paper variant) with the frequency-tuned detector --------------------------------------


def test_saliencymix_paper_variant_trains_a_step_with_frequency_tuned_saliency():
    """SaliencyMix(variant=paper, saliency=frequency_tuned) validates, mixes around the frequency-tuned peaks and
    one SGD step on its loss (the engine's train_step: mix, forward, MixResult.loss, backward, step) runs."""
    from augrepro.augment import Context, build_augmentation
    from augrepro.data import get_spec
    from augrepro.models import build_model

    spec = get_spec("cifar10")
    with pytest.raises(ValueError, match="official variant uses fine_grained"):
        build_augmentation("saliencymix", {"saliency": "frequency_tuned"}, spec)
    aug = build_augmentation("saliencymix", {"variant": "paper", "saliency": "frequency_tuned", "prob": 1.0}, spec)

    images = photo_crops(8, 32, 32, seed=17)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    x = (images.float() / 255.0 - mean) / std
    y = torch.arange(8) % 10
    torch.manual_seed(0)
    model = build_model("resnet8", 10).train()
    ctx = Context(spec.mean, spec.std, torch.Generator().manual_seed(0), np.random.default_rng(0), epoch=1, model=model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    before = [p.detach().clone() for p in model.parameters()]
    mixed = aug(x, y, ctx)
    loss = mixed.loss(model(mixed.images), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert not torch.equal(mixed.images, x)
    # each box contains the peak of its source image's frequency-tuned map (unless the cut is empty)
    maps = saliency_maps(ctx.denormalize(x), "frequency_tuned")
    py, px = peaks(maps)
    src_y, src_x = py[mixed.index], px[mixed.index]
    b = mixed.boxes
    assert (
        (b[:, 0] <= src_y) & (src_y < b[:, 2]) & (b[:, 1] <= src_x) & (src_x < b[:, 3])
        | (b[:, 2] == b[:, 0])
        | (b[:, 3] == b[:, 1])
    ).all()
