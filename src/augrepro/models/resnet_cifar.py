"""CIFAR-style ResNets (3x3 stem, no max-pool)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from augrepro.models.registry import MODELS


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes * self.expansion:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes * self.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes * self.expansion:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes * self.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet of the SaliencyMix CIFAR code (kuangliu style): 3x3 stem with ``widths[0]`` channels,
    no max-pool, one stage per entry of ``widths``, global average pooling, linear classifier."""

    def __init__(self, block, num_blocks, num_classes: int, widths=(64, 128, 256, 512)) -> None:
        super().__init__()
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages = []
        for i, (width, n) in enumerate(zip(widths, num_blocks)):
            stages.append(self._make_layer(block, width, n, 1 if i == 0 else 2))
        self.layers = nn.Sequential(*stages)
        self.linear = nn.Linear(widths[-1] * block.expansion, num_classes)

    def _make_layer(self, block, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(F.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Global average pooling equals the released code's avg_pool2d(4) at 32x32 and also
        # serves 64x64 inputs (Tiny-ImageNet).
        out = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.linear(out)


# He et al. 2016, section 4.2: the CIFAR ResNet with n=1 (6n+2 = 8 layers, 16/32/64 channels), here with a
# stride-2 stem so that it runs at half resolution. Not in any published table: the demo's model, fast on a CPU.
@MODELS.register("resnet8", label="ResNet-8")
def resnet8(num_classes: int) -> nn.Module:
    model = ResNet(BasicBlock, [1, 1, 1], num_classes, widths=(16, 32, 64))
    model.conv1 = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
    return model


# SaliencyMix code, SaliencyMix_CIFAR/model/resnet.py: ResNet18 = BasicBlock [2, 2, 2, 2].
@MODELS.register("resnet18", label="ResNet-18")
def resnet18(num_classes: int) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


# SaliencyMix code, SaliencyMix_CIFAR/model/resnet.py: ResNet50 = Bottleneck [3, 4, 6, 3].
@MODELS.register("resnet50", label="ResNet-50")
def resnet50(num_classes: int) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


# SaliencyMix code, SaliencyMix_CIFAR/model/resnet.py: ResNet101 = Bottleneck [3, 4, 23, 3].
@MODELS.register("resnet101", label="ResNet-101")
def resnet101(num_classes: int) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)
