"""Pre-activation ResNets (He et al. 2016, "Identity mappings in deep residual networks"), CIFAR-style:
3x3 stem with 64 channels, no max-pool; the SalfMix paper's models (SalfMix §5.1: PreActResNet-18, -50, -101
with 11 M, 24 M and 43 M parameters).

Two options, per source (a protocol's ``model_options``):

* ``final_bn``: He et al.'s pre-activation network ends with BN + ReLU before the pooling (the default, the paper
  the SalfMix text cites); the PreActResNet of kuangliu/pytorch-cifar and of the PuzzleMix code has none
  (PuzzleMix models/preresnet.py: layer4 -> avg_pool -> linear);
* ``stem_stride``: PuzzleMix's code strides its 3x3 stem by 2 on 64 x 64 Tiny-ImageNet (main.py: stride = 2
  for tiny-imagenet), so its stages see 32 x 32 as on CIFAR.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from augrepro.models.registry import MODELS


class PreActBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes * 4:
            self.shortcut = nn.Conv2d(in_planes, planes * 4, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes: int, final_bn: bool = True, stem_stride: int = 1) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, stem_stride, 1, bias=False)
        stages = []
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            layers = []
            for s in [1 if i == 0 else 2] + [1] * (n - 1):
                layers.append(block(self.in_planes, planes, s))
                self.in_planes = planes * block.expansion
            stages.append(nn.Sequential(*layers))
        self.layers = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(self.in_planes) if final_bn else None
        self.linear = nn.Linear(self.in_planes, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.conv1(x))
        return F.relu(self.bn(out)) if self.bn is not None else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


# SalfMix §5.1: PreActResNet-18, 11 M parameters.
@MODELS.register("preactresnet18", label="PreActResNet-18")
def preactresnet18(num_classes: int, final_bn: bool = True, stem_stride: int = 1) -> nn.Module:
    return PreActResNet(PreActBlock, [2, 2, 2, 2], num_classes, final_bn=final_bn, stem_stride=stem_stride)


# SalfMix §5.1: PreActResNet-50, 24 M parameters.
@MODELS.register("preactresnet50", label="PreActResNet-50")
def preactresnet50(num_classes: int, final_bn: bool = True, stem_stride: int = 1) -> nn.Module:
    return PreActResNet(PreActBottleneck, [3, 4, 6, 3], num_classes, final_bn=final_bn, stem_stride=stem_stride)


# SalfMix §5.1: PreActResNet-101, 43 M parameters.
@MODELS.register("preactresnet101", label="PreActResNet-101")
def preactresnet101(num_classes: int, final_bn: bool = True, stem_stride: int = 1) -> nn.Module:
    return PreActResNet(PreActBottleneck, [3, 4, 23, 3], num_classes, final_bn=final_bn, stem_stride=stem_stride)
