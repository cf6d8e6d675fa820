"""WideResNet (Zagoruyko & Komodakis 2016), as in the SaliencyMix/Cutout code's wide_resnet.py."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from augrepro.models.registry import MODELS


class WideBasic(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-(dropout)-BN-ReLU-conv3x3, 1x1 shortcut on shape change."""

    def __init__(self, in_planes: int, planes: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.drop_rate = drop_rate
        self.equal = in_planes == planes and stride == 1
        self.shortcut = None if self.equal else nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.drop_rate > 0:
            y = F.dropout(y, p=self.drop_rate, training=self.training)
        y = self.conv2(y)
        return y + (x if self.shortcut is None else self.shortcut(o))  # None exactly when self.equal


class WideResNet(nn.Module):
    def __init__(self, depth: int, widen: int, num_classes: int, drop_rate: float) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError("WideResNet depth must be 6n+4")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        blocks, in_planes = [], widths[0]
        for i, width in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(WideBasic(in_planes, width, (1 if i == 0 else 2) if j == 0 else 1, drop_rate))
                in_planes = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.linear = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.blocks(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


# SaliencyMix code: WideResNet(depth=28, widen_factor=10, dropRate=0.3) on CIFAR (36.5 M params).
@MODELS.register("wrn28_10", label="WideResNet-28-10")
def wrn28_10(num_classes: int) -> nn.Module:
    return WideResNet(28, 10, num_classes, drop_rate=0.3)
