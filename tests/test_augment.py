"""Tests of augrepro.augment (the mixing methods) and augrepro.saliency."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from augrepro.augment import AUGMENTATIONS, Augmentation, Context, MixResult, build_augmentation, method_cost
from augrepro.augment.base import register
from augrepro.augment.boxes import box_masks
from augrepro.data import get_spec
from augrepro.data.demo import build_arrays
from augrepro.models import build_model
from augrepro.registry import UnknownNameError
from augrepro.saliency import official_float_peak, saliency_maps

SPEC = get_spec("cifar10")


def ctx_for(seed: int, spec=SPEC) -> Context:
    return Context(spec.mean, spec.std, torch.Generator().manual_seed(seed), np.random.default_rng(seed))


def normalize(x_uint8: torch.Tensor, spec=SPEC) -> torch.Tensor:
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (x_uint8.float() / 255.0 - mean) / std


def distinct_uint8(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Random images whose value ranges are disjoint: image i lies in [20 i, 20 i + 19], so every
    pixel of every image differs from the same pixel of every other image."""
    assert n <= 12
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 20, (n, 3, size, size), generator=g, dtype=torch.int64)
    offsets = (20 * torch.arange(n)).view(n, 1, 1, 1)
    return (base + offsets).to(torch.uint8)


def random_uint8(n: int, seed: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def build(method: str, **params):
    return build_augmentation(method, params, SPEC)


def is_mixed(res: MixResult) -> bool:
    return res.boxes is not None or not bool(torch.all(res.lam == 1))


@pytest.fixture(scope="module")
def demo_images() -> torch.Tensor:
    """200 real-looking images (the demo dataset's), normalized with the demo spec."""
    train_x, _, _, _ = build_arrays(train_size=200, test_size=10)
    return normalize(torch.from_numpy(train_x), get_spec("demo"))


# ---------------------------------------------------------------------------------------------
# box methods: lam from the pixels, boxes where the pixels changed
# ---------------------------------------------------------------------------------------------

BOX_METHODS = [
    pytest.param("cutmix", {}, id="cutmix"),
    pytest.param("saliencymix", {"variant": "official"}, id="saliencymix-official"),
    pytest.param("saliencymix", {"variant": "paper"}, id="saliencymix-paper"),
]


@pytest.mark.parametrize("method, params", BOX_METHODS)
def test_box_lam_matches_changed_pixels(method, params):
    aug = build(method, prob=1.0, **params)
    n, h, w = 8, 32, 32
    seen_partial = 0
    for seed in range(12):
        u8 = distinct_uint8(n, seed)
        x = normalize(u8)
        res = aug(x, torch.zeros(n, dtype=torch.long), ctx_for(seed))
        assert res.images.shape == x.shape
        assert sorted(res.index.tolist()) == list(range(n))
        assert res.lam.shape == (n,) and res.boxes.shape == (n, 4)
        assert torch.all((res.lam >= 0) & (res.lam <= 1))
        torch.testing.assert_close(res.partner_weight, 1 - res.lam)
        changed = (res.images != x).any(dim=1)  # n x h x w
        inside = box_masks(res.boxes, h, w)[:, 0]
        for i in range(n):
            j = int(res.index[i])
            box_area = int(inside[i].sum())
            if j != i:
                # every pixel of image j differs from image i's: the changed pixels are the box
                assert torch.equal(changed[i], inside[i]), f"seed {seed} sample {i}"
                frac = int(changed[i].sum()) / (h * w)
                assert res.lam[i].item() == pytest.approx(1 - frac, abs=1e-6)
                assert torch.equal(res.images[i][:, inside[i]], x[j][:, inside[i]])
                assert torch.equal(res.images[i][:, ~inside[i]], x[i][:, ~inside[i]])
                if 0 < box_area < h * w:
                    seen_partial += 1
            else:
                assert not changed[i].any()
                assert res.lam[i].item() == pytest.approx(1 - box_area / (h * w), abs=1e-6)
    assert seen_partial > 20


def _infer_half(box, py, px) -> int:
    y1, x1, y2, x2 = (int(v) for v in box)
    return max(py - y1, y2 - py, px - x1, x2 - px)


def _assert_centred(box, py, px, half, h=32, w=32):
    y1, x1, y2, x2 = (int(v) for v in box)
    assert (y1, x1, y2, x2) == (max(py - half, 0), max(px - half, 0), min(py + half, h), min(px + half, w)), (
        f"box {(y1, x1, y2, x2)} is not the box of half side {half} around {(py, px)}"
    )


def test_saliencymix_official_box_around_float_peak_of_first_source(demo_images):
    aug = build("saliencymix", variant="official", prob=1.0)
    checked = 0
    for seed in range(10):
        x = demo_images[8 * seed : 8 * seed + 8]
        res = aug(x, torch.zeros(8, dtype=torch.long), ctx_for(seed))
        boxes = res.boxes
        assert torch.equal(boxes, boxes[:1].expand_as(boxes)), "one box for the whole batch"
        py, px = official_float_peak(x[int(res.index[0])])
        half = _infer_half(boxes[0], py, px)
        if half == 0:
            continue
        _assert_centred(boxes[0], py, px, half)
        checked += 1
    assert checked >= 5


def test_official_peak_fingerprint(demo_images):
    peaks = [official_float_peak(img) for img in demo_images]
    cols = np.array([c for _, c in peaks])
    rows = np.array([r for r, _ in peaks])
    assert not np.any(cols % 4 == 3), "the released code's float peak never lands on a column 3 mod 4"
    assert len(set(cols.tolist())) > 8 and len(set(rows.tolist())) > 8
    # the uint8 saliency (paper variant) has no such gap: the fingerprint is the float path's
    maps = saliency_maps(torch.round(demo_images * 0.25 * 255 + 0.5 * 255).clamp(0, 255).to(torch.uint8))
    u8_cols = (maps.flatten(1).argmax(1) % 32).numpy()
    assert np.any(u8_cols % 4 == 3)


def test_saliencymix_paper_box_around_each_source_peak():
    aug = build("saliencymix", variant="paper", prob=1.0)
    n, w = 8, 32
    checked = 0
    for seed in range(8):
        u8 = random_uint8(n, 100 + seed)
        # a bright blob per image so that the peaks are spread over the image
        g = torch.Generator().manual_seed(seed)
        for i in range(n):
            cy, cx = (int(v) for v in torch.randint(3, 29, (2,), generator=g))
            u8[i, :, cy - 2 : cy + 3, cx - 2 : cx + 3] = 255
        res = aug(normalize(u8), torch.zeros(n, dtype=torch.long), ctx_for(seed))
        peaks = saliency_maps(u8).flatten(1).argmax(1)
        src_peaks = [(int(peaks[int(j)]) // w, int(peaks[int(j)]) % w) for j in res.index]
        halves = {_infer_half(b, py, px) for b, (py, px) in zip(res.boxes, src_peaks)}
        half = max(halves)
        if half == 0:
            continue
        for b, (py, px) in zip(res.boxes, src_peaks):
            _assert_centred(b, py, px, half)
            y1, x1, y2, x2 = (int(v) for v in b)
            assert y1 <= py < y2 and x1 <= px < x2
        checked += 1
        # with distinct sources the boxes differ from sample to sample
        if len(set(src_peaks)) > 1:
            assert len({tuple(b.tolist()) for b in res.boxes}) > 1
    assert checked >= 5


# ---------------------------------------------------------------------------------------------
# probability of mixing
# ---------------------------------------------------------------------------------------------


def _mix_rate(aug, draws: int, n: int = 4, seed: int = 0) -> float:
    ctx = ctx_for(seed)
    x = normalize(random_uint8(n, seed))
    y = torch.zeros(n, dtype=torch.long)
    return sum(is_mixed(aug(x, y, ctx)) for _ in range(draws)) / draws


def _assert_binomial(rate: float, p: float, draws: int) -> None:
    bound = 4.5 * math.sqrt(p * (1 - p) / draws) + 1e-9
    assert abs(rate - p) <= bound, f"mix rate {rate:.3f}, expected {p} +- {bound:.3f}"


@pytest.mark.parametrize(
    "method, params, p",
    [
        ("cutmix", {}, 0.5),
        ("cutmix", {"prob": 0.2}, 0.2),
        ("cutmix", {"prob": 0.85}, 0.85),
        ("saliencymix", {"variant": "official"}, 0.5),
        ("saliencymix", {"variant": "official", "prob": 0.2}, 0.2),
        ("saliencymix", {"variant": "paper", "prob": 0.5}, 0.5),
        ("mixup", {}, 1.0),
        ("mixup", {"prob": 0.5}, 0.5),
        ("mixup", {"prob": 0.25}, 0.25),
    ],
)
def test_mixing_probability(method, params, p):
    aug = build(method, **params)
    draws = 200 if params.get("variant") == "paper" else 400
    rate = _mix_rate(aug, draws)
    if p == 1.0:
        assert rate == 1.0
    else:
        _assert_binomial(rate, p, draws)


@pytest.mark.parametrize(
    "method",
    ["cutmix", "saliencymix", "mixup", "resizemix", "ricap", "snapmix", "hybridmix_v1", "hybridmix_v2", "hybridmix_v3"],
)
def test_values_that_would_turn_a_method_off_are_refused_pointing_to_baseline(method):
    """The released code quietly skips mixing when prob is 0 or beta <= 0: runs that carry the method's name but
    train the baseline. Such values are refused when the method is built (before any job), naming the key, the
    value and the range (issue: `methods: {cutmix: {beta: -1}}` was accepted)."""
    with pytest.raises(ValueError, match=rf"{method}\.prob = 0\.0 is out of range: expected in \(0, 1\].*baseline"):
        build(method, prob=0.0)
    with pytest.raises(ValueError, match=rf"{method}\.prob = 1\.5 is out of range"):
        build(method, prob=1.5)
    beta = {"mixup": "alpha", "hybridmix_v1": "alpha", "resizemix": None}.get(method, "beta")
    if beta:
        with pytest.raises(ValueError, match=rf"{method}\.{beta} = -1\.0 is out of range: expected > 0.*baseline"):
            build(method, **{beta: -1.0})


# ---------------------------------------------------------------------------------------------
# cutout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset, length", [("cifar10", 16), ("cifar100", 8)])
def test_cutout_default_length_per_dataset(dataset, length):
    spec = get_spec(dataset)
    aug = build_augmentation("cutout", {}, spec)
    assert aug.length == length
    n = 64
    x = normalize(random_uint8(n, 2), spec)
    res = aug(x, torch.zeros(n, dtype=torch.long), ctx_for(2, spec))
    zero = (res.images == 0).all(dim=1)
    sides = set()
    for i in range(n):
        rows = zero[i].any(dim=1).nonzero().flatten()
        cols = zero[i].any(dim=0).nonzero().flatten()
        sides.add(int(rows.max() - rows.min() + 1))
        sides.add(int(cols.max() - cols.min() + 1))
    assert max(sides) == length


def test_cutout_hole_is_zero_box_and_lam_stays_one():
    aug = build("cutout", length=10)
    n, h, w = 32, 32, 32
    unclipped = 0
    for seed in range(4):
        x = normalize(random_uint8(n, 10 + seed))
        # the green mean is 123/255, so a green 123 normalizes to 0; red and blue never do
        assert not (x == 0).all(dim=1).any()
        res = aug(x, torch.zeros(n, dtype=torch.long), ctx_for(seed))
        assert torch.equal(res.lam, torch.ones(n))
        assert torch.equal(res.index, torch.arange(n))
        assert torch.all(res.partner_weight == 0)
        inside = box_masks(res.boxes, h, w)[:, 0]
        zero_pixels = (res.images == 0).all(dim=1)
        assert torch.equal(zero_pixels, inside)
        keep = ~inside[:, None].expand_as(x)
        assert torch.equal(res.images[keep], x[keep])
        for i in range(n):
            y1, x1, y2, x2 = (int(v) for v in res.boxes[i])
            assert 0 <= y1 < y2 <= h and 0 <= x1 < x2 <= w, "every image gets a hole"
            if y1 > 0 and y2 < h and x1 > 0 and x2 < w:
                assert (y2 - y1, x2 - x1) == (10, 10)
                unclipped += 1
            else:
                assert y2 - y1 <= 10 and x2 - x1 <= 10
    assert unclipped > 10


def test_cutout_per_batch_is_the_snapmix_code_one_box_for_the_whole_batch():
    """SnapMix code utils/mixmethod.py cutout: rand_bbox(size, 0.75), a box of half the side (int(W * sqrt(0.25))),
    its centre uniform and shared by the batch, clipped at the borders, zero after normalization."""
    aug = build("cutout", length=32, per_batch=True)
    n, side = 6, 64
    centres = set()
    for seed in range(40):
        x = normalize(random_uint8(n, seed, size=side))
        res = aug(x, torch.zeros(n, dtype=torch.long), ctx_for(seed))
        assert (res.boxes == res.boxes[0]).all()  # one box per batch
        y1, x1, y2, x2 = res.boxes[0].tolist()
        assert 0 <= y1 < y2 <= side and 0 <= x1 < x2 <= side and y2 - y1 <= 32 and x2 - x1 <= 32
        assert torch.equal((res.images == 0).all(dim=1), box_masks(res.boxes, side, side)[:, 0])
        assert torch.equal(res.lam, torch.ones(n))
        centres.add((y1 + y2) // 2)
        if 0 < y1 and y2 < side:
            assert y2 - y1 == 32
    assert len(centres) > 20  # the centre moves from batch to batch
    per_image = build("cutout", length=32)(
        normalize(random_uint8(n, 0, size=side)), torch.zeros(n, dtype=torch.long), ctx_for(0)
    )
    assert not (per_image.boxes == per_image.boxes[0]).all()


def test_cutout_builds_length_from_parameter():
    assert build("cutout", length=4).length == 4
    with pytest.raises(ValueError):
        build("cutout", length=0)


# ---------------------------------------------------------------------------------------------
# mixup and the Beta parameters
# ---------------------------------------------------------------------------------------------


def test_mixup_is_convex_combination_with_one_lam():
    aug = build("mixup", alpha=1.0)
    n = 9
    for seed in range(5):
        x = normalize(random_uint8(n, seed))
        res = aug(x, torch.zeros(n, dtype=torch.long), ctx_for(seed))
        assert torch.all(res.lam == res.lam[0])
        lam = float(res.lam[0])
        assert 0 < lam < 1
        assert sorted(res.index.tolist()) == list(range(n))
        torch.testing.assert_close(res.images, lam * x + (1 - lam) * x[res.index], rtol=0, atol=1e-5)
        torch.testing.assert_close(res.partner_weight, 1 - res.lam)
        assert res.boxes is None


def _mixup_lams(alpha: float, draws: int = 300) -> np.ndarray:
    aug = build("mixup", alpha=alpha)
    ctx = ctx_for(3)
    x = normalize(random_uint8(2, 3))
    return np.array([float(aug(x, torch.zeros(2, dtype=torch.long), ctx).lam[0]) for _ in range(draws)])


def test_mixup_alpha_changes_spread_of_lam():
    low, one, high = _mixup_lams(0.2), _mixup_lams(1.0), _mixup_lams(20.0)
    extreme = lambda lams: np.mean((lams < 0.1) | (lams > 0.9))  # noqa: E731
    # Beta(0.2, 0.2) puts ~ 0.6 of its mass there, Beta(1, 1) 0.2, Beta(20, 20) ~ 0
    assert extreme(low) > 0.45
    assert 0.1 < extreme(one) < 0.3
    assert extreme(high) < 0.02
    assert np.std(low) > np.std(one) > np.std(high)
    for lams in (low, one, high):
        assert abs(np.mean(lams) - 0.5) < 0.07  # symmetric: the mean stays at 1/2


def _cutmix_boxes(beta: float, draws: int = 300):
    aug = build("cutmix", beta=beta, prob=1.0)
    ctx = ctx_for(4)
    x = normalize(random_uint8(2, 4))
    out = [aug(x, torch.zeros(2, dtype=torch.long), ctx) for _ in range(draws)]
    boxes = torch.stack([r.boxes[0] for r in out])
    areas = np.array([1 - float(r.lam[0]) for r in out])
    return boxes, areas


def test_cutmix_beta_changes_box_areas_only():
    results = {beta: _cutmix_boxes(beta) for beta in (0.2, 1.0, 20.0)}
    spread = {beta: np.std(areas) for beta, (_, areas) in results.items()}
    assert spread[0.2] > spread[1.0] > spread[20.0]

    # Beta(20, 20): lam in about [0.3, 0.7], so an unclipped cut has side 2 * (int(32 sqrt(1 - lam)) // 2)
    boxes, _ = results[20.0]
    unclipped = (boxes[:, 0] > 0) & (boxes[:, 1] > 0) & (boxes[:, 2] < 32) & (boxes[:, 3] < 32)
    assert unclipped.sum() > 10
    sides = (boxes[unclipped, 2] - boxes[unclipped, 0]).tolist()
    assert all(14 <= s <= 28 for s in sides)
    # Beta(0.2, 0.2): lam often near 0 or 1, so tiny boxes and large boxes are both frequent
    areas = {beta: a for beta, (_, a) in results.items()}
    assert np.mean(areas[0.2] < 0.05) > 0.2 and np.mean(areas[20.0] < 0.05) == 0
    assert np.mean(areas[0.2] > 0.5) > 0.1 and np.mean(areas[20.0] > 0.5) < 0.06
    assert areas[0.2].max() > 0.75 and areas[20.0].max() < 0.7

    # the box centre (where the box is) does not depend on beta: spread over the whole image
    for beta, (boxes, _) in results.items():
        cy = ((boxes[:, 0] + boxes[:, 2]) / 2).float()
        cx = ((boxes[:, 1] + boxes[:, 3]) / 2).float()
        assert 12 < float(cy.mean()) < 20 and 12 < float(cx.mean()) < 20, beta
        assert float(cx.min()) < 6 and float(cx.max()) > 26, beta
    # and neither does the frequency of mixing
    for beta in (0.2, 20.0):
        _assert_binomial(_mix_rate(build("cutmix", beta=beta, prob=0.5), 400, seed=7), 0.5, 400)


# ---------------------------------------------------------------------------------------------
# every registered method: odd batches, batch size 1, determinism
# ---------------------------------------------------------------------------------------------


def _all_configs():
    configs = []
    for name in AUGMENTATIONS.names():
        params = {"prob": 1.0} if "prob" in AUGMENTATIONS.get(name).__dataclass_fields__ else {}
        if name == "saliencymix":
            configs += [(name, {**params, "variant": v}) for v in ("official", "paper")]
        else:
            configs.append((name, params))
    return configs


def test_registered_methods_are_the_documented_ones():
    assert set(AUGMENTATIONS.names()) >= {"baseline", "cutout", "mixup", "cutmix", "saliencymix"}


def test_every_method_declares_its_cost_and_an_undeclared_one_is_refused():
    for name in AUGMENTATIONS.names():
        meta = AUGMENTATIONS.metadata(name)
        assert meta["cost"] >= 1.0 and meta["cost_source"], name  # no method is cheaper than the baseline
        assert AUGMENTATIONS.get(name).name == name  # the declared module registers it
    assert method_cost("baseline") == 1.0 and method_cost("cutmix") == 0.89 / 0.83  # SaliencyMix slides' table
    with pytest.raises(UnknownNameError, match="unknown augmentation method 'nomix'; valid augmentation methods: "):
        method_cost("nomix")  # never a silent 1.0
    with pytest.raises(ValueError, match="'nomix' is not declared: declare it in augrepro/augment/catalog.py"):

        @register("nomix")
        class NoMix(Augmentation):
            pass

    assert "nomix" not in AUGMENTATIONS


@pytest.mark.parametrize("n", [7, 1])
@pytest.mark.parametrize("method, params", _all_configs(), ids=lambda v: str(v))
def test_every_method_handles_odd_and_single_batches_deterministically(method, params, n):
    aug = build(method, **params)
    x = normalize(random_uint8(n, 21))
    y = torch.arange(n) % 10
    runs = []
    for _ in range(2):
        ctx = ctx_for(33)
        ctx.epoch = 2  # past HybridMix's clean first epoch
        if aug.uses_model():  # SalfMix, SnapMix, HybridMix: the model being trained
            torch.manual_seed(0)
            ctx.model = build_model("resnet8", 10)
        runs.append([aug(x, y, ctx) for _ in range(3)])
    for a, b in zip(*runs):
        assert a.images.shape == x.shape and a.images.dtype == x.dtype
        assert torch.isfinite(a.images).all()
        if a.indices is None and getattr(aug, "mode", None) == "per_sample":
            # HybridMix per sample (SalfMix Algorithm 2, line 8): partners drawn with replacement
            assert a.index.min() >= 0 and a.index.max() < n
        elif a.indices is None:  # two-image methods: the partner index is a permutation
            assert sorted(a.index.tolist()) == list(range(n))
        else:  # RICAP: K partners per sample whose weights are the area fractions, summing to 1
            assert a.indices.shape[1] == n and torch.allclose(a.weights.sum(0), torch.ones(n))
        assert a.lam.shape == (n,) and torch.all(a.lam >= 0)
        if a.lam_b is None:  # weights summing to 1; SnapMix's CAM-mass weights need not (same labels add)
            assert torch.all(a.lam <= 1)
        assert torch.equal(a.images, b.images) and torch.equal(a.index, b.index) and torch.equal(a.lam, b.lam)
        assert (a.boxes is None) == (b.boxes is None)
        if a.boxes is not None:
            assert a.boxes.shape == (n, 4) and torch.equal(a.boxes, b.boxes)
        logits = torch.randn(n, 10, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(a.loss(logits, y))


def test_different_seeds_give_different_mixes():
    aug = build("cutmix", prob=1.0)
    x = normalize(random_uint8(8, 0))
    y = torch.zeros(8, dtype=torch.long)
    outs = [aug(x, y, ctx_for(s)) for s in range(4)]
    assert len({(tuple(o.index.tolist()), tuple(o.boxes[0].tolist())) for o in outs}) > 1


# ---------------------------------------------------------------------------------------------
# the loss and building from the config
# ---------------------------------------------------------------------------------------------


def _hand_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logp = logits.double() - torch.logsumexp(logits.double(), dim=1, keepdim=True)
    return -logp[torch.arange(len(labels)), labels]


@pytest.mark.parametrize("method", ["cutmix", "mixup"])
def test_mix_result_loss_matches_hand_computation(method):
    n = 6
    aug = build(method, prob=1.0)
    x = normalize(random_uint8(n, 5))
    y = torch.tensor([0, 3, 3, 7, 9, 1])
    res = aug(x, y, ctx_for(5))
    assert not torch.equal(res.index, torch.arange(n))
    logits = torch.randn(n, 10, generator=torch.Generator().manual_seed(1))
    lam = res.lam.double()
    expected = (lam * _hand_ce(logits, y) + (1 - lam) * _hand_ce(logits, y[res.index])).mean()
    assert float(res.loss(logits, y)) == pytest.approx(float(expected), rel=1e-5)


def test_mix_result_loss_uses_explicit_partner_weight():
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 3])
    index = torch.tensor([1, 0, 3, 2])
    lam = torch.tensor([0.25, 0.5, 1.0, 0.0])
    lam_b = torch.tensor([0.5, 0.5, 0.0, 0.25])
    res = MixResult(torch.zeros(4, 3, 2, 2), index, lam, lam_b)
    expected = (lam.double() * _hand_ce(logits, y) + lam_b.double() * _hand_ce(logits, y[index])).mean()
    assert float(res.loss(logits, y)) == pytest.approx(float(expected), rel=1e-5)
    expected_correct = sum(
        float(lam[i]) * (logits[i].argmax() == y[i]) + float(lam_b[i]) * (logits[i].argmax() == y[index[i]])
        for i in range(4)
    )
    assert float(res.correct(logits, y)) == pytest.approx(float(expected_correct))


def test_build_refuses_unknown_parameter():
    with pytest.raises(ValueError) as info:
        build("cutmix", alpha=1.0)
    message = str(info.value)
    assert "alpha" in message and "beta" in message and "prob" in message
    with pytest.raises(ValueError, match="length"):
        build("cutout", size=8)


@pytest.mark.parametrize(
    "method, params",
    [
        ("cutmix", {"beta": "one"}),
        ("cutmix", {"prob": True}),
        ("mixup", {"alpha": None}),
        ("cutout", {"length": 8.0}),
        ("cutout", {"length": True}),
        ("saliencymix", {"variant": 1}),
    ],
)
def test_build_refuses_wrong_type(method, params):
    with pytest.raises(ValueError) as info:
        build(method, **params)
    assert next(iter(params)) in str(info.value)


def test_build_accepts_int_for_float_and_null_for_optional():
    aug = build("cutmix", beta=2, prob=1)
    assert isinstance(aug.beta, float) and aug.beta == 2.0 and aug.prob == 1.0
    assert build("cutout", length=None).length == 16


def test_build_refuses_unknown_method():
    with pytest.raises(UnknownNameError) as info:
        build("augmix")
    message = str(info.value)
    assert "augmix" in message
    for name in ("baseline", "cutout", "mixup", "cutmix", "saliencymix"):
        assert name in message


def test_build_refuses_unknown_saliencymix_variant():
    with pytest.raises(ValueError) as info:
        build("saliencymix", variant="foo")
    message = str(info.value)
    assert "foo" in message and "official" in message and "paper" in message
    assert build("saliencymix", variant="paper").variant == "paper"


@pytest.mark.parametrize("method", ["baseline", "mixup", "cutmix", "ricap", "snapmix"])
def test_default_bind_does_nothing(method):
    """Augmentation.bind is a hook that does nothing unless a method needs the dataset: the methods that inherit
    it are left exactly as built, whatever the dataset, and build_augmentation calls it without asking."""
    cls = AUGMENTATIONS.get(method)
    assert cls.bind is Augmentation.bind
    aug = cls()
    before = copy.deepcopy(vars(aug))
    for name in ("cifar10", "tinyimagenet", "imagenet"):
        assert aug.bind(get_spec(name)) is None
        assert vars(aug) == before
    assert vars(build_augmentation(method, {}, get_spec("tinyimagenet"))) == before


@pytest.mark.parametrize("mode", ["per_sample", "per_batch"])
@pytest.mark.parametrize(
    "version, pair", [("hybridmix_v1", "mixup"), ("hybridmix_v2", "saliencymix"), ("hybridmix_v3", "cutmix")]
)
def test_hybridmix_builds_its_sub_methods_once(version, pair, mode):
    """HybridMix's T_s (SalfMix, with this method's n, r, pool) and T_t (its two-image method) are built with the
    method: the same objects on every call, not rebuilt per batch."""
    aug = build(version, mode=mode, r=0.4, pool=False)
    salfmix, pair_mixer = aug.salfmix, aug.pair_mixer
    assert type(salfmix) is AUGMENTATIONS.get("salfmix") and type(pair_mixer) is AUGMENTATIONS.get(pair)
    assert (salfmix.n, salfmix.r, salfmix.pool, salfmix.first_epoch) == (None, 0.4, False, 1)
    assert pair_mixer.prob == aug.prob
    model = build_model("resnet8", 10)
    x, y = normalize(random_uint8(8, 1)), torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(1))
    for seed in (0, 1):
        ctx = ctx_for(seed)
        ctx.model, ctx.epoch = model, 2
        assert is_mixed(aug(x, y, ctx))
        assert aug.salfmix is salfmix and aug.pair_mixer is pair_mixer


def test_hybridmix_bind_binds_its_sub_methods():
    """HybridMix.bind binds both sub-methods to the dataset: T_t's own checks run (SaliencyMix's official
    variant refuses another detector), and each sub-method is bound to the very dataset given."""
    with pytest.raises(ValueError, match="official variant uses fine_grained"):
        build("hybridmix_v2", mode="per_batch", saliencymix="official", saliency="spectral_residual")
    bound = []

    def noting(cls):
        class Noting(cls):  # the real sub-method, noting the dataset it is bound to
            def bind(self, spec) -> None:
                bound.append((cls.name, spec.name))
                super().bind(spec)

        return Noting

    aug = build("hybridmix_v3")
    aug.salfmix = noting(type(aug.salfmix))(n=aug.n, r=aug.r, pool=aug.pool, first_epoch=1)
    aug.pair_mixer = noting(type(aug.pair_mixer))(beta=aug.beta, prob=aug.prob)
    aug.bind(get_spec("tinyimagenet"))
    assert bound == [("salfmix", "tinyimagenet"), ("cutmix", "tinyimagenet")]
