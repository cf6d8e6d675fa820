"""Tests of the RegNet-200M of SalfMix Table 6 (regnet200m): size, shapes, training, RegNetX-200MF structure."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.regnet import ResBottleneckBlock

from augrepro.models import MODELS, build_model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def regnet100() -> nn.Module:
    torch.manual_seed(0)
    return build_model("regnet200m", 100).eval()


def test_registered():
    assert "regnet200m" in MODELS.names()


def test_parameter_count():
    # SalfMix section 5.2 / Table 6: "2.3 million"; yhhhli/RegNet-Pytorch README (CIFAR10): 2.31 M, with its
    # 10-class head. Our model equals that code's (same tensors, same outputs), 2,319,482 parameters.
    c10, c100 = n_params(build_model("regnet200m", 10)), n_params(build_model("regnet200m", 100))
    assert c10 == 2_319_482
    assert abs(c10 - 2.3e6) <= 0.01 * 2.3e6
    # The CIFAR-100 head adds 90 x (368 + 1): 2,352,692, 2.3 % above the printed 2.3 M (see notes/regnet.md).
    assert c100 - c10 == 90 * (368 + 1)
    assert c100 == 2_352_692
    assert abs(c100 - 2.3e6) <= 0.025 * 2.3e6


@pytest.mark.parametrize("size, final", [(32, 4), (64, 8)])
def test_forward_shapes(regnet100, size, final):
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = regnet100.features(x)
        out = regnet100(x)
    assert feats.shape == (3, 368, final, final)
    assert out.shape == (3, 100)
    assert torch.isfinite(out).all()


def test_regnetx_200mf_structure(regnet100):
    # RegNetX-200MF (pycls configs/dds_baselines/regnetx/RegNetX-200MF_dds_8gpu.yaml: d 13, w0 24, wa 36.44,
    # wm 2.49, g 8; b 1, no SE): stages of widths 24, 56, 152, 368 and depths 1, 1, 4, 7.
    stages = list(regnet100.trunk_output.children())
    blocks = [list(stage.children()) for stage in stages]
    assert [len(b) for b in blocks] == [1, 1, 4, 7]
    assert all(isinstance(block, ResBottleneckBlock) for stage in blocks for block in stage)
    widths = [stage[0].f.c[0].out_channels for stage in blocks]
    assert widths == [24, 56, 152, 368]
    for stage, w in zip(blocks, widths):
        for block in stage:
            a, b, c = block.f.a[0], block.f.b[0], block.f.c[0]
            assert a.out_channels == b.out_channels == c.in_channels == w  # bottleneck ratio 1
            assert b.groups == w // 8 and b.kernel_size == (3, 3)  # group width 8
            assert not hasattr(block.f, "se")  # RegNetX: no squeeze-and-excitation
    assert [stage[0].f.b[0].stride[0] for stage in blocks] == [1, 2, 2, 2]  # CIFAR: first stage stride 1
    stem = regnet100.stem[0]
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.stride) == (3, 32, (3, 3), (1, 1))
    assert not any(isinstance(m, nn.MaxPool2d) for m in regnet100.modules())
    assert regnet100.fc.in_features == 368 and regnet100.fc.out_features == 100


def test_final_bn_of_each_branch_starts_at_zero(regnet100):
    # yhhhli reglayers.py AnyNet.__init__: the residual branch's last BN (final_bn) has gamma 0; the others 1.
    fresh = build_model("regnet200m", 100)
    final = [block.f.c[1] for block in fresh.modules() if isinstance(block, ResBottleneckBlock)]
    assert len(final) == 13 and all((bn.weight == 0).all() for bn in final)
    others = [m for m in fresh.modules() if isinstance(m, nn.BatchNorm2d) and all(m is not f for f in final)]
    assert all((bn.weight == 1).all() for bn in others)


def test_training_steps_decrease_loss_and_reach_every_parameter():
    torch.manual_seed(0)
    model = build_model("regnet200m", 100).train()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 100, (8,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    # after the zero gammas have moved, every parameter gets a non-zero gradient
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    dead = [name for name, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert dead == []


def test_class_activation_maps_find_the_trunk(regnet100):
    # The pooling is functional, so the CAM hooks see the 4x4 trunk output, not a 1x1 pooled map.
    from augrepro.augment.probe import class_activation_maps

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    cams = class_activation_maps(regnet100, x, torch.tensor([1, 2]))
    assert cams.shape == (2, 32, 32)
    assert torch.isfinite(cams).all()
    torch.testing.assert_close(cams.sum((1, 2)), torch.ones(2))
