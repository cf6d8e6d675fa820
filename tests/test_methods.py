"""Behaviour of the mixing methods beyond the first four: ResizeMix, RICAP, SnapMix, SalfMix, HybridMix,
Cutout with saliency, the SaliencyMix ablation styles, the K-label MixResult, and the model probes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from augrepro.augment import Context, MixResult, build_augmentation
from augrepro.augment.boxes import box_masks
from augrepro.augment.probe import class_activation_maps, input_gradient_saliency
from augrepro.data import get_spec
from augrepro.models import build_model
from augrepro.models.wide_resnet import WideResNet
from augrepro.saliency import saliency_maps

SPEC = get_spec("cifar10")
NEW_METHODS = [
    "resizemix",
    "ricap",
    "snapmix",
    "salfmix",
    "cutout_saliency",
    "hybridmix_v1",
    "hybridmix_v2",
    "hybridmix_v3",
]


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("resnet8", 10).train()


def tiny_model() -> nn.Module:
    """A small conv net with BatchNorm, for tests where the model's quality does not matter (fast)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    ).train()


def ctx_for(seed: int, model=None, epoch: int = 2) -> Context:
    return Context(
        SPEC.mean, SPEC.std, torch.Generator().manual_seed(seed), np.random.default_rng(seed), epoch=epoch, model=model
    )


def batch(n: int, seed: int = 0, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    x_uint8 = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    mean = torch.tensor(SPEC.mean).view(1, 3, 1, 1)
    std = torch.tensor(SPEC.std).view(1, 3, 1, 1)
    x = (x_uint8.float() / 255.0 - mean) / std
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def build(method: str, **params):
    return build_augmentation(method, params, SPEC)


def state_of(model: nn.Module):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
    )


def assert_same_state(before, model: nn.Module):
    params, modes, grads = before
    now = model.state_dict()
    for k, v in params.items():
        assert torch.equal(now[k], v), f"{k} changed"
    assert [m.training for m in model.modules()] == modes
    for g0, p in zip(grads, model.parameters()):
        assert (g0 is None and p.grad is None) or torch.equal(g0, p.grad)


def contains(boxes: torch.Tensor, y1, x1, y2, x2) -> torch.Tensor:
    """Per sample: does box (N x 4) contain the region [y1, y2) x [x1, x2)?"""
    return (boxes[:, 0] <= y1) & (boxes[:, 1] <= x1) & (boxes[:, 2] >= y2) & (boxes[:, 3] >= x2)


# --- every new method: shapes, odd batches, batch 1, determinism, registry -------------------------------


@pytest.mark.parametrize("method", NEW_METHODS)
@pytest.mark.parametrize("n", [1, 7])
def test_odd_batches_and_batch_one_work(method, n):
    x, y = batch(n)
    res = build(method)(x, y, ctx_for(0, make_model()))
    assert res.images.shape == x.shape and res.index.shape == (n,) and res.lam.shape == (n,)
    assert res.boxes is None or res.boxes.shape == (n, 4)
    assert torch.isfinite(res.loss(torch.randn(n, 10), y))


@pytest.mark.parametrize("method", NEW_METHODS + ["saliencymix"])
def test_deterministic_under_a_seed(method):
    x, y = batch(8, seed=3)
    params = {"variant": "paper", "prob": 1.0} if method == "saliencymix" else {}
    params = {"prob": 1.0} if method == "snapmix" else params
    # n = 2: 16-px cells hold the 9-px patch at 8 x 8 places (a fresh model's least salient cell is often a
    # corner, where a containing patch has a single place)
    params = {"n": 2} if method == "cutout_saliency" else params
    a = build(method, **params)(x, y, ctx_for(5, make_model()))
    b = build(method, **params)(x, y, ctx_for(5, make_model()))
    c = build(method, **params)(x, y, ctx_for(6, make_model()))
    assert torch.equal(a.images, b.images) and torch.equal(a.lam, b.lam) and torch.equal(a.index, b.index)
    if method not in ("ricap",):  # RICAP with two different seeds may still tile identically only by chance
        assert not torch.equal(a.images, c.images)


def test_model_dependent_methods_without_model_fail_clearly():
    x, y = batch(4)
    for method in ["snapmix", "salfmix", "cutout_saliency", "hybridmix_v3"]:
        kwargs = {"prob": 1.0} if method == "snapmix" else {}
        with pytest.raises(ValueError, match="needs the model being trained"):
            build(method, **kwargs)(x, y, ctx_for(0, None))


@pytest.mark.parametrize(
    "method,params,match",
    [
        ("salfmix", {"r": 0.0}, "salfmix.r"),
        ("salfmix", {"n": 0}, "salfmix.n"),
        ("salfmix", {"n": 64}, "exceeds the image side"),
        ("hybridmix_v3", {"first_epoch": 0}, "first_epoch"),
        ("resizemix", {"alpha": 0.9, "beta": 0.5}, "alpha <= beta"),
        ("ricap", {"beta": 0.0}, "ricap.beta"),
        ("snapmix", {"prob": 1.5}, "snapmix.prob"),
        (
            "saliencymix",
            {"variant": "paper", "style": "corner_to_corner"},
            "style = .corner_to_corner.*one of salient_to_corresponding",
        ),
        ("saliencymix", {"style": "salient_to_salient"}, "needs variant: paper"),
        ("hybridmix_v2", {"saliencymix": "nope"}, "saliencymix = .nope.*one of official, paper"),
    ],
)
def test_bad_parameters_are_refused_by_name(method, params, match):
    with pytest.raises(ValueError, match=match):
        build(method, **params)


# --- the K-label MixResult ---------------------------------------------------------------------------------


def test_k_label_loss_and_correct_use_every_part():
    logits = torch.randn(3, 5)
    labels = torch.tensor([0, 1, 2])
    indices = torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    weights = torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.3, 0.3], [0.2, 0.5, 0.6]])
    res = MixResult(torch.zeros(3, 3, 2, 2), indices[1], weights[0], indices=indices, weights=weights)
    ce = lambda t: F.cross_entropy(logits, t, reduction="none")  # noqa: E731
    expected = sum(weights[k] * ce(labels[indices[k]]) for k in range(3)).mean()
    assert torch.allclose(res.loss(logits, labels), expected)
    pred = logits.argmax(1)
    expected_correct = sum((weights[k] * (pred == labels[indices[k]]).float()).sum() for k in range(3))
    assert torch.allclose(res.correct(logits, labels), expected_correct)


# --- ResizeMix ---------------------------------------------------------------------------------------------


def test_resizemix_pastes_the_nearest_resized_partner_fully_inside_and_lam_is_area():
    x, y = batch(9, seed=1)
    for seed in range(5):
        aug = build("resizemix")
        res = aug(x, y, ctx_for(seed))
        scale = np.random.default_rng(seed)
        scale.random()
        s = float(scale.uniform(0.1, 0.8))
        small = F.interpolate(x[res.index], scale_factor=s, mode="nearest")
        ph, pw = small.shape[2:]
        assert (res.boxes[:, 2] - res.boxes[:, 0] == ph).all() and (res.boxes[:, 3] - res.boxes[:, 1] == pw).all()
        assert (res.boxes[:, :2] >= 0).all() and (res.boxes[:, 2:] <= 32).all()
        for i in range(9):
            y1, x1, y2, x2 = res.boxes[i].tolist()
            assert torch.equal(res.images[i, :, y1:y2, x1:x2], small[i])
        outside = ~box_masks(res.boxes, 32, 32)
        assert torch.equal(torch.where(outside, res.images, 0), torch.where(outside, x, 0))
        assert torch.allclose(res.lam, torch.full((9,), 1 - ph * pw / 1024))
    assert len({tuple(b) for b in res.boxes.tolist()}) > 1  # positions are per sample


def test_resizemix_scale_bounds_set_the_patch_side():
    x, y = batch(4)
    res = build("resizemix", alpha=0.5, beta=0.5)(x, y, ctx_for(0))
    assert ((res.boxes[:, 2] - res.boxes[:, 0]) == 16).all()
    sides = {
        int(
            build("resizemix", alpha=0.1, beta=0.3)(x, y, ctx_for(s))
            .boxes[0, 2:]
            .sub(build("resizemix", alpha=0.1, beta=0.3)(x, y, ctx_for(s)).boxes[0, :2])[0]
        )
        for s in range(20)
    }
    assert min(sides) >= 3 and max(sides) <= 9


# --- RICAP -------------------------------------------------------------------------------------------------


def distinct(n: int) -> torch.Tensor:
    """Image i is constant i (so every pixel names its source image)."""
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()


def test_ricap_parts_show_their_source_and_weights_are_area_fractions():
    n = 7
    x, y = distinct(n), torch.arange(n) % 10
    for seed in range(6):
        res = build("ricap")(x, y, ctx_for(seed))
        assert res.indices.shape == (4, n) and res.weights.shape == (4, n)
        assert torch.allclose(res.weights.sum(0), torch.ones(n))
        for k in range(4):
            y1, x1, y2, x2 = res.part_boxes[k, 0].tolist()
            area = (y2 - y1) * (x2 - x1)
            assert torch.allclose(res.weights[k], torch.full((n,), area / 1024))
            for i in range(n):
                assert (res.images[i, :, y1:y2, x1:x2] == res.indices[k, i]).all()
        own = (res.indices == torch.arange(n)).float()
        assert torch.allclose(res.lam, (res.weights * own).sum(0))


def test_ricap_beta_moves_the_boundary():
    x, y = distinct(4), torch.zeros(4, dtype=torch.long)

    def mean_edge_distance(beta):
        d = []
        for s in range(40):
            b = build("ricap", beta=beta)(x, y, ctx_for(s)).part_boxes[0, 0]
            d += [min(b[2].item(), 32 - b[2].item()), min(b[3].item(), 32 - b[3].item())]
        return np.mean(d)

    assert mean_edge_distance(0.05) < 4 < mean_edge_distance(20.0)


@pytest.mark.parametrize(
    "method,params",
    [("ricap", {}), ("resizemix", {}), ("snapmix", {}), ("hybridmix_v1", {"alpha": 1.0, "mode": "per_batch"})],
)
def test_probability_of_mixing_a_batch_matches_its_setting(method, params):
    x, y = batch(4)
    model = make_model() if method == "snapmix" else tiny_model()
    ctx = ctx_for(0, model)
    draws = 150
    mixed = 0
    for _ in range(draws):
        res = build(method, prob=0.3, **params)(x, y, ctx)
        # a partner's label in play (HybridMix's SalfMix always changes the pixels; its prob is T_t's)
        mixed += int(res.indices is not None or bool((res.lam != 1).any()))
    assert abs(mixed / draws - 0.3) < 0.12  # 3 standard deviations; prob applied twice (0.09) or inverted fails


# --- model probes: CAMs and gradient saliency, state preserved ---------------------------------------------


def test_cam_matches_the_classifier_on_the_trunk_and_leaves_the_model_untouched():
    model = make_model()
    x, y = batch(6)
    model(x).sum().backward()  # gradients that the probe must not touch
    before = state_of(model)
    cams = class_activation_maps(model, x, y)
    assert_same_state(before, model)
    with torch.no_grad():
        snapshot = copy.deepcopy(model)
        feats = F.relu(snapshot.features(x))  # computed on a copy: its BN statistics may move
        raw = torch.einsum("nchw,nc->nhw", feats, model.linear.weight[y]) + model.linear.bias[y][:, None, None]
        up = F.interpolate(raw[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
        up = up - up.flatten(1).amin(1)[:, None, None]
        expected = up / up.sum((1, 2), keepdim=True)
    assert torch.allclose(cams, expected, atol=1e-6)
    assert torch.allclose(cams.sum((1, 2)), torch.ones(6))


def test_cam_works_on_wideresnet_and_refuses_a_model_without_a_pooled_trunk():
    torch.manual_seed(0)
    wrn = WideResNet(10, 1, 10, drop_rate=0.0).train()
    x, y = batch(3)
    cams = class_activation_maps(wrn, x, y)
    assert cams.shape == (3, 32, 32) and torch.allclose(cams.sum((1, 2)), torch.ones(3))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with pytest.raises(ValueError, match="class activation maps need"):
        class_activation_maps(mlp, x, y)


def test_gradient_saliency_is_max_abs_input_gradient_and_preserves_state():
    model = make_model()
    x, y = batch(5)
    model.eval()  # the probe keeps whichever mode the model is in
    before = state_of(model)
    sal = input_gradient_saliency(model, x, y)
    assert_same_state(before, model)
    xx = x.clone().requires_grad_(True)
    F.cross_entropy(copy.deepcopy(model)(xx), y, reduction="sum").backward()
    assert torch.allclose(sal, xx.grad.abs().amax(1))


@pytest.mark.parametrize("method", ["salfmix", "cutout_saliency", "hybridmix_v2"])
def test_extra_passes_leave_bn_statistics_modes_and_gradients_unchanged(method):
    model = make_model()
    x, y = batch(8)
    model(x).sum().backward()
    before = state_of(model)
    build(method)(x, y, ctx_for(0, model))
    assert_same_state(before, model)
    # the training step that follows sees exactly the gradients it would have seen without the probe
    twin = copy.deepcopy(model)
    out, twin_out = model(x), twin(x)
    assert torch.equal(out, twin_out)


def _bn_statistics(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches_tracked" in k}


def test_snapmix_cam_pass_updates_bn_statistics_as_the_released_code():
    """SnapMix code utils/mixmethod.py get_spm: a no-grad forward of the model in train mode, so BatchNorm's
    running statistics move by exactly one forward of the batch; parameters and gradients do not."""
    model = make_model()
    x, y = batch(8)
    model(x).sum().backward()
    twin = copy.deepcopy(model)
    before = _bn_statistics(model)
    grads = [p.grad.clone() for p in model.parameters()]
    res = build("snapmix", prob=1.0)(x, y, ctx_for(0, model))
    assert res.boxes is not None
    after = _bn_statistics(model)
    assert all(int(after[k]) == int(before[k]) + 1 for k in after if "num_batches_tracked" in k)
    assert any(not torch.equal(after[k], before[k]) for k in after if "running_mean" in k)
    with torch.no_grad():
        twin(x)  # the released code's pass: one train-mode forward of the unmixed batch
    for k, v in _bn_statistics(twin).items():
        torch.testing.assert_close(after[k], v)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert all(m.training for m in model.modules())
    # the preview's map (saliency_map) still leaves the model as it found it
    before = state_of(model)
    build("snapmix", prob=1.0).saliency_map(x, y, ctx_for(0, model))
    assert_same_state(before, model)


def test_salfmix_probe_leaves_bn_statistics_untouched_while_snapmix_moves_them():
    x, y = batch(8)
    salf, snap = make_model(), make_model()
    build("salfmix")(x, y, ctx_for(0, salf))
    build("snapmix", prob=1.0)(x, y, ctx_for(0, snap))
    fresh = _bn_statistics(make_model())
    assert all(torch.equal(v, fresh[k]) for k, v in _bn_statistics(salf).items())
    assert any(not torch.equal(v, fresh[k]) for k, v in _bn_statistics(snap).items())


def test_snapmix_cam_on_a_torchvision_resnet_uses_the_last_convolutional_stage():
    """torchvision's ResNet pools with an nn.AdaptiveAvgPool2d module whose output (N x C x 1 x 1) is 4-D too;
    the CAM must come from layer4's feature maps (SnapMix code networks/resnet_ft.py: conv5 = layer4), not from
    the pooled map, which is uniform and collapses SnapMix's label weights to area ratios."""
    torch.manual_seed(0)
    model = build_model("resnet18", 10, architecture="imagenet").train()
    x, y = batch(4, size=128)
    cams = class_activation_maps(model, x, y)
    assert torch.isfinite(cams).all()
    assert (cams.flatten(1).std(1) > 0).all()  # not uniform
    with torch.no_grad():
        reference = copy.deepcopy(model)
        trunk = nn.Sequential(*list(reference.children())[:-2])  # conv1 .. layer4, as resnet_ft.py's conv3/4/5
        fms = F.relu(trunk(x))
        raw = F.conv2d(fms, model.fc.weight[:, :, None, None], model.fc.bias)[torch.arange(4), y]
        up = F.interpolate(raw[:, None], size=(128, 128), mode="bilinear", align_corners=False)[:, 0]
        up = up - up.flatten(1).amin(1)[:, None, None]
        expected = up / up.sum((1, 2), keepdim=True)
    torch.testing.assert_close(cams, expected, rtol=1e-4, atol=1e-7)
    # the label weights are CAM mass, not the box's area ratio
    res = build("snapmix", prob=1.0)(x, y, ctx_for(3, model))
    ty1, tx1, ty2, tx2 = res.boxes[0].tolist()
    area = 1 - (ty2 - ty1) * (tx2 - tx1) / 128**2
    assert torch.isfinite(res.lam).all() and not torch.allclose(res.lam, torch.full_like(res.lam, area), atol=1e-4)


def test_cam_skips_a_pooling_module_in_a_sequential_net():
    model = tiny_model()  # conv, BN, ReLU, AdaptiveAvgPool2d(1), Flatten, Linear
    x, y = batch(3)
    cams = class_activation_maps(model, x, y)
    with torch.no_grad():
        fms = copy.deepcopy(model)[:3](x)  # the ReLU's output, before the pooling module
        raw = torch.einsum("nchw,nc->nhw", fms, model[-1].weight[y]) + model[-1].bias[y][:, None, None]
        raw = raw - raw.flatten(1).amin(1)[:, None, None]
        expected = raw / raw.sum((1, 2), keepdim=True)  # 32 x 32 features: no resize
    torch.testing.assert_close(cams, expected, rtol=1e-4, atol=1e-7)


# --- SnapMix -----------------------------------------------------------------------------------------------


def test_snapmix_weights_are_cam_mass_in_the_boxes_and_the_patch_is_the_resized_source():
    model = make_model()
    x, y = batch(10, seed=2)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    cams = class_activation_maps(model, x, y)
    checked_same = checked_diff = 0
    for seed in range(8):
        res = build("snapmix", prob=1.0)(x, y, ctx_for(seed, model))
        if res.boxes is None:
            continue
        ty1, tx1, ty2, tx2 = res.boxes[0].tolist()
        sy1, sx1, sy2, sx2 = res.source_boxes[0].tolist()
        assert (res.boxes == res.boxes[0]).all()  # one box per batch, as released
        a = 1 - cams[:, ty1:ty2, tx1:tx2].sum((1, 2))
        b = cams[res.index, sy1:sy2, sx1:sx2].sum((1, 2))
        same = y == y[res.index]
        assert torch.allclose(res.lam, torch.where(same, a + b, a), atol=1e-5)
        assert torch.allclose(res.lam_b, torch.where(same, a + b, b), atol=1e-5)
        checked_same += int(same.sum())
        checked_diff += int((~same).sum())
        patch = F.interpolate(
            x[res.index, :, sy1:sy2, sx1:sx2], size=(ty2 - ty1, tx2 - tx1), mode="bilinear", align_corners=True
        )
        assert torch.allclose(res.images[:, :, ty1:ty2, tx1:tx2], patch)
        outside = ~box_masks(res.boxes, 32, 32)
        assert torch.equal(torch.where(outside, res.images, 0), torch.where(outside, x, 0))
    assert checked_same > 0 and checked_diff > 0
    # weights need not sum to 1
    assert not torch.allclose(res.lam + res.lam_b, torch.ones(10))


def test_snapmix_constant_cam_falls_back_to_the_area_ratio():
    # a trunk whose feature maps are constant in space: every CAM is flat, its normalisation is NaN
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Identity()
            self.linear = nn.Linear(4, 10)
            nn.init.zeros_(self.linear.bias)

        def forward(self, x):
            f = self.body(torch.zeros(x.shape[0], 4, 4, 4))
            return self.linear(f.mean((2, 3)))

    x, y = batch(4)
    y = torch.tensor([0, 1, 2, 3])
    res = build("snapmix", prob=1.0)(x, y, ctx_for(1, Wrapped()))
    area = 1 - (res.boxes[0, 2] - res.boxes[0, 0]) * (res.boxes[0, 3] - res.boxes[0, 1]) / 1024
    assert torch.allclose(res.lam, torch.full((4,), float(area)))
    assert torch.allclose(res.lam_b, torch.full((4,), float(1 - area)))


# --- SalfMix and Cutout with saliency ----------------------------------------------------------------------


def cells_of(model, x, y, n):
    sal = input_gradient_saliency(model, x, y)
    k = 32 // n
    pooled = F.avg_pool2d(sal[:, None], k)[:, 0].flatten(1)
    most, least = pooled.argmax(1), pooled.argmin(1)
    return (most // n) * k, (most % n) * k, (least // n) * k, (least % n) * k, k


@pytest.mark.parametrize("n,r", [(4, 0.3), (2, 0.6), (8, 0.3), (4, 0.1)])
def test_salfmix_patches_contain_the_most_and_least_salient_cells(n, r):
    model = make_model()
    x, y = batch(9, seed=4)
    my, mx, ly, lx, k = cells_of(model, x, y, n)
    res = build("salfmix", n=n, r=r)(x, y, ctx_for(0, model))
    side = int(32 * r)
    assert ((res.boxes[:, 2:] - res.boxes[:, :2]) == side).all()  # r sets the patch side
    if side >= k:
        assert contains(res.source_boxes, my, mx, my + k, mx + k).all()
        assert contains(res.boxes, ly, lx, ly + k, lx + k).all()
    else:  # a patch smaller than a cell lies inside it
        assert contains(torch.stack([my, mx, my + k, mx + k], 1), *res.source_boxes.T).all()
        assert contains(torch.stack([ly, lx, ly + k, lx + k], 1), *res.boxes.T).all()
    for i in range(9):
        a, b, c, d = res.boxes[i].tolist()
        e, f, g, h = res.source_boxes[i].tolist()
        assert torch.equal(res.images[i, :, a:c, b:d], x[i, :, e:g, f:h])  # P_l <- P_m of the same image
    outside = ~box_masks(res.boxes, 32, 32)
    assert torch.equal(torch.where(outside, res.images, 0), torch.where(outside, x, 0))
    assert torch.equal(res.lam, torch.ones(9)) and torch.equal(res.index, torch.arange(9))


def test_salfmix_placement_is_random_among_containing_positions():
    model = tiny_model()
    x, y = batch(4, seed=4)
    tops = {tuple(build("salfmix")(x, y, ctx_for(s, model)).source_boxes.flatten().tolist()) for s in range(12)}
    assert len(tops) > 3
    holes = {tuple(build("cutout_saliency", n=2)(x, y, ctx_for(s, model)).boxes.flatten().tolist()) for s in range(12)}
    assert len(holes) > 3


def test_salfmix_without_saliency_needs_no_model_and_places_patches_anywhere():
    x, y = batch(64, seed=1)
    res = build("salfmix", saliency=False)(x, y, ctx_for(0, None))
    assert ((res.boxes[:, 2:] - res.boxes[:, :2]) == 9).all()
    assert res.boxes[:, 0].min() == 0 or res.boxes[:, 0].max() == 23
    assert len(set(res.boxes[:, 0].tolist())) > 8 and len(set(res.source_boxes[:, 1].tolist())) > 8


def test_cutout_saliency_zeroes_the_least_salient_patch():
    model = make_model()
    x, y = batch(6, seed=2)
    _, _, ly, lx, k = cells_of(model, x, y, 4)
    res = build("cutout_saliency")(x, y, ctx_for(0, model))
    assert contains(res.boxes, ly, lx, ly + k, lx + k).all()
    inside = box_masks(res.boxes, 32, 32).expand_as(x)
    assert (res.images[inside] == 0).all()
    assert torch.equal(res.images[~inside], x[~inside])
    assert torch.equal(res.lam, torch.ones(6))


# --- HybridMix ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version,second,params,second_params",
    [
        ("hybridmix_v1", "mixup", {"alpha": 0.7}, {"alpha": 0.7}),
        ("hybridmix_v2", "saliencymix", {"saliencymix": "paper", "beta": 1.0}, {"variant": "paper", "beta": 1.0}),
        ("hybridmix_v2", "saliencymix", {"saliencymix": "official", "beta": 1.0}, {"variant": "official", "beta": 1.0}),
        ("hybridmix_v3", "cutmix", {"beta": 1.0}, {"beta": 1.0}),
    ],
)
def test_hybridmix_per_batch_equals_salfmix_then_its_two_image_method(version, second, params, second_params):
    model = make_model()
    x, y = batch(8, seed=6)
    got = build(version, r=0.4, mode="per_batch", **params)(x, y, ctx_for(3, model))
    ctx = ctx_for(3, model)
    self_mixed = build("salfmix", r=0.4)(x, y, ctx)
    want = build(second, prob=1.0, **second_params)(self_mixed.images, y, ctx)
    assert torch.equal(got.images, want.images)
    assert torch.equal(got.lam, want.lam) and torch.equal(got.index, want.index)
    assert not torch.equal(got.images, build(second, prob=1.0, **second_params)(x, y, ctx_for(3, model)).images)


@pytest.mark.parametrize("version", ["hybridmix_v1", "hybridmix_v2", "hybridmix_v3"])
def test_hybridmix_per_sample_follows_algorithm_2(version):
    """SalfMix Algorithm 2, lines 7-13: each sample d draws its own partner z (with replacement), its own lam and,
    for v2/v3, its own box; x~_d = T_t(SalfMix(x_d), SalfMix(x_z)). Checked against the definition: the pixels
    inside each box come from the self-mixed partner, lam is the kept share, and the draws differ per sample."""
    model = make_model()
    x, y = batch(32, seed=9)
    aug = build(version, r=0.25)
    res = aug(x, y, ctx_for(5, model))
    z = res.index
    assert len(set(z.tolist())) < 32  # drawn with replacement (a permutation would have no repeat)
    # the same draws, replayed step by step with Algorithm 2's pieces
    ctx = ctx_for(5, model)
    saliency = aug.salfmix.saliency_map(x, y, ctx)
    partner = torch.randint(0, 32, (32,), generator=ctx.generator)
    assert torch.equal(partner, z)
    x1 = aug.salfmix.self_mix(x, saliency, ctx.generator).images
    x2 = aug.salfmix.self_mix(x[partner], saliency[partner], ctx.generator).images
    if version == "hybridmix_v1":
        lam = res.lam[:, None, None, None]
        assert torch.allclose(res.images, lam * x1 + (1 - lam) * x2, atol=1e-6)
        assert len(set(res.lam.tolist())) > 16  # one lam per sample, not per batch
    else:
        inside = box_masks(res.boxes, 32, 32).expand_as(x)
        assert torch.equal(res.images[inside], x2[inside]) and torch.equal(res.images[~inside], x1[~inside])
        area = (res.boxes[:, 2] - res.boxes[:, 0]) * (res.boxes[:, 3] - res.boxes[:, 1])
        assert torch.allclose(res.lam, 1 - area.float() / 1024)
        assert len({tuple(b) for b in res.boxes.tolist()}) > 16  # one box per sample
    assert (z != torch.arange(32)).any()


def test_hybridmix_leaves_the_first_epoch_clean_and_first_epoch_moves_that():
    model = make_model()
    x, y = batch(6)
    res = build("hybridmix_v3")(x, y, ctx_for(0, model, epoch=1))
    assert torch.equal(res.images, x) and torch.equal(res.lam, torch.ones(6))
    assert not torch.equal(build("hybridmix_v3")(x, y, ctx_for(0, model, epoch=2)).images, x)
    late = build("hybridmix_v3", first_epoch=4)
    assert torch.equal(late(x, y, ctx_for(0, model, epoch=3)).images, x)
    assert not torch.equal(late(x, y, ctx_for(0, model, epoch=4)).images, x)


def test_hybridmix_reports_its_mode_and_saliencymix_variant():
    assert build("hybridmix_v2").describe()["variant"] == "per_sample, saliencymix paper"
    assert (
        build("hybridmix_v2", mode="per_batch", saliencymix="official").describe()["variant"]
        == "per_batch, saliencymix official"
    )
    assert build("hybridmix_v3").describe()["variant"] == "per_sample"
    with pytest.raises(ValueError, match="Algorithm 2 mixes per sample"):
        build("hybridmix_v2", saliencymix="official")


def test_saliencymix_per_sample_is_hybridmix_v2s_saliencymix():
    """The SaliencyMix the SalfMix tables set against HybridMix v2 (alias saliencymix_per_sample): Algorithm 2's
    pairing, as HybridMix v2's T_t mixes, without SalfMix: each sample its own partner drawn with replacement, its
    own lam ~ Beta, a box around the peak of its partner's uint8 saliency map, every sample mixed at prob 1;
    HybridMix v2 is the same pairing of SalfMix's self-mixed images (test_hybridmix_per_sample_follows_algorithm_2)."""
    x, y = batch(32, seed=9)
    aug = build("saliencymix", variant="paper", mode="per_sample", prob=1.0)
    assert aug.describe()["variant"] == "paper, per_sample"
    res = aug(x, y, ctx_for(5))
    z = res.index
    assert len(set(z.tolist())) < 32 and (z != torch.arange(32)).any()  # with replacement, not a permutation
    ctx = ctx_for(5)
    assert torch.equal(torch.randint(0, 32, (32,), generator=ctx.generator), z)  # Algorithm 2, line 8
    lam = torch.from_numpy(ctx.rng.beta(1.0, 1.0, size=32).astype(np.float32))  # each sample's own lam
    peaks = saliency_maps(ctx.denormalize(x[z])).flatten(1).argmax(1)
    cut = (32 * torch.sqrt(1 - lam)).long()
    assert torch.equal(res.boxes[:, 2] - res.boxes[:, 0], torch.minimum(cut, res.boxes[:, 2] - res.boxes[:, 0]))
    for box, peak, side in zip(res.boxes.tolist(), peaks.tolist(), cut.tolist()):
        y1, x1, y2, x2 = box
        if side > 1:  # a box of at least 2 pixels holds its partner's peak
            assert y1 <= peak // 32 < y2 and x1 <= peak % 32 < x2
    inside = box_masks(res.boxes, 32, 32).expand_as(x)
    assert torch.equal(res.images[inside], x[z][inside]) and torch.equal(res.images[~inside], x[~inside])
    area = (res.boxes[:, 2] - res.boxes[:, 0]) * (res.boxes[:, 3] - res.boxes[:, 1])
    assert torch.allclose(res.lam, 1 - area.float() / 1024) and len(set(res.lam.tolist())) > 16
    # prob is per sample: about half of the samples stay clean at 0.5
    half = build("saliencymix", variant="paper", mode="per_sample", prob=0.5)(x, y, ctx_for(6))
    clean = int((half.lam == 1).sum())
    assert 6 <= clean <= 26
    with pytest.raises(ValueError, match="mode per_sample is HybridMix v2's per-sample SaliencyMix: it needs variant"):
        build("saliencymix", variant="official", mode="per_sample")


# --- SaliencyMix ablation styles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "style",
    [
        "salient_to_corresponding",
        "salient_to_salient",
        "salient_to_nonsalient",
        "nonsalient_to_salient",
        "nonsalient_to_nonsalient",
    ],
)
@pytest.mark.parametrize("method", ["fine_grained", "spectral_residual"])
def test_saliencymix_styles_cut_and_paste_at_the_named_points(style, method):
    x, y = batch(6, seed=7)
    ctx = ctx_for(2)
    maps = saliency_maps(ctx.denormalize(x), method).flatten(1)
    res = build("saliencymix", variant="paper", prob=1.0, saliency=method, style=style)(x, y, ctx)
    src_kind, dst_kind = style.split("_to_")
    point = lambda kind: maps.argmax(1) if kind == "salient" else maps.argmin(1)  # noqa: E731
    src = point(src_kind)[res.index]
    src_boxes = res.boxes if res.source_boxes is None else res.source_boxes
    py, px = src // 32, src % 32
    assert contains(src_boxes, py, px, py + 1, px + 1).all() or (src_boxes[:, 2] == src_boxes[:, 0]).any()
    if dst_kind != "corresponding":
        dst = point(dst_kind)
        assert contains(res.boxes, dst // 32, dst % 32, dst // 32 + 1, dst % 32 + 1).all()
    for i in range(6):
        a, b, c, d = res.boxes[i].tolist()
        e, f, g, h = src_boxes[i].tolist()
        assert torch.equal(res.images[i, :, a:c, b:d], x[res.index[i], :, e:g, f:h])
    area = (res.boxes[:, 2] - res.boxes[:, 0]) * (res.boxes[:, 3] - res.boxes[:, 1])
    assert torch.allclose(res.lam, 1 - area.float() / 1024)


def test_salfmix_without_average_pooling_takes_the_salient_pixel_not_the_salient_cell():
    """SalfMix Table 10 (section 6.5): without average pooling the extreme cells are single pixels. A map whose
    hottest pixel lies in a cell of low mean: pooled, R_m is the warm 8x8 cell; unpooled, that pixel."""
    from augrepro.augment.salfmix import extreme_cells

    saliency = torch.zeros(1, 32, 32)
    saliency[0, 16:24, 0:8] = 1.0  # a warm cell, mean 1.0
    saliency[0, 5, 30] = 10.0  # one hot pixel: its cell's mean is 10 / 64
    most, _, k = extreme_cells(saliency, build("salfmix").cells(32))
    assert (most.tolist(), k) == ([[16, 0]], 8)
    most, _, k = extreme_cells(saliency, build("salfmix", pool=False).cells(32))
    assert (most.tolist(), k) == ([[5, 30]], 1)
    assert build("hybridmix_v3", pool=False).salfmix.cells(64) == 64  # 64 x 64 on Tiny-ImageNet


@pytest.mark.parametrize("method", ["salfmix", "cutout_saliency", "hybridmix_v1", "hybridmix_v3"])
def test_the_salfmix_family_leaves_the_first_epoch_clean(method):
    """One rule for the SalfMix family (SalfMix Algorithm 2, line 6: only for e > 1): nothing in epoch 1."""
    model = make_model()
    x, y = batch(6)
    first = build(method)(x, y, ctx_for(0, model, epoch=1))
    assert torch.equal(first.images, x) and torch.equal(first.lam, torch.ones(6))
    assert not torch.equal(build(method)(x, y, ctx_for(0, model, epoch=2)).images, x)
