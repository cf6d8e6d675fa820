"""PyramidNet (Han et al. 2017) for CIFAR, as used by the CutMix code (clovaai/CutMix-PyTorch pyramidnet.py):
widths grow by alpha / (3 n) per block, blocks end with BN and no ReLU, the shortcut is an average pool at
a stride and zero-padded channels."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from augrepro.models.registry import MODELS


class PyramidBasic(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.stride = stride

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        return self.bn3(self.conv2(F.relu(self.bn2(out))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _add_shortcut(self.residual(x), x, self.stride)


class PyramidBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(planes * 4)
        self.stride = stride

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return self.bn4(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _add_shortcut(self.residual(x), x, self.stride)


def _add_shortcut(out: torch.Tensor, x: torch.Tensor, stride: int) -> torch.Tensor:
    shortcut = F.avg_pool2d(x, 2, 2, ceil_mode=True) if stride != 1 else x
    extra = out.shape[1] - shortcut.shape[1]
    if extra:
        shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, extra))
    return out + shortcut


class PyramidNet(nn.Module):
    def __init__(self, depth: int, alpha: float, num_classes: int, bottleneck: bool) -> None:
        super().__init__()
        block = PyramidBottleneck if bottleneck else PyramidBasic
        n = (depth - 2) // (9 if bottleneck else 6)
        add = alpha / (3 * n)
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        width, in_planes, blocks = 16.0, 16, []
        for stage in range(3):
            for i in range(n):
                width += add
                planes = int(round(width))
                blocks.append(block(in_planes, planes, 2 if (stage > 0 and i == 0) else 1))
                in_planes = planes * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.bn_final = nn.BatchNorm2d(in_planes)
        self.linear = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn_final(self.blocks(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


# CutMix code (train.py: --depth 110 --alpha 64, bottleneck by default); 1.7 M parameters (SalfMix paper §5.2, Table 6).
@MODELS.register("pyramidnet110", label="PyramidNet-110")
def pyramidnet110(num_classes: int) -> nn.Module:
    return PyramidNet(110, 64, num_classes, bottleneck=True)


# CutMix paper Table 3 / code: PyramidNet-200 with alpha 240 (bottleneck blocks), 26.8 M parameters.
@MODELS.register("pyramidnet200", label="PyramidNet-200")
def pyramidnet200(num_classes: int) -> nn.Module:
    return PyramidNet(200, 240, num_classes, bottleneck=True)
