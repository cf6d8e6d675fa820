"""RegNetX-200MF (Radosavovic et al. 2020, "Designing network design spaces") for CIFAR, as in the code the
SalfMix paper names for its RegNet-200M (SalfMix paper §5.2; yhhhli/RegNet-Pytorch@6035ff8,
CIFAR10/models/regnet.py and reglayers.py): torchvision's RegNet blocks with a 3x3 stride-1 stem of 32
channels (conv, BN, ReLU; no max-pool), stage strides 1, 2, 2, 2, no SE, and the last BN of every residual
branch initialised to zero. Stage widths 24, 56, 152, 368, depths 1, 1, 4, 7, group width 8."""

from __future__ import annotations

import torch
import torch.nn as nn
from torchvision.models.regnet import BlockParams, RegNet, ResBottleneckBlock
from torchvision.ops.misc import Conv2dNormActivation

from augrepro.models.registry import MODELS


def _cifar_stem(width_in: int, width_out: int, norm_layer, activation_layer) -> nn.Module:
    # yhhhli CIFAR10/models/reglayers.py ResStemCifar: 3x3 stride 1, BN, ReLU (ImageNet: stride 2).
    return Conv2dNormActivation(
        width_in, width_out, kernel_size=3, stride=1, norm_layer=norm_layer, activation_layer=activation_layer
    )


class RegNetCifar(RegNet):
    """torchvision RegNet with the CIFAR stem; pooling is functional, so the trunk's output is the last
    4-D submodule output (what class activation maps hook, augrepro.augment.probe)."""

    def __init__(self, block_params: BlockParams, num_classes: int, stem_width: int = 32) -> None:
        super().__init__(block_params, num_classes=num_classes, stem_width=stem_width, stem_type=_cifar_stem)
        del self.avgpool
        # yhhhli reglayers.py AnyNet.__init__: BN marked final_bn (the residual branch's last BN) gets gamma 0.
        for module in self.modules():
            if isinstance(module, ResBottleneckBlock):
                nn.init.zeros_(module.f.c[1].weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk_output(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


# yhhhli/RegNet-Pytorch CIFAR10/models/regnet.py regnet_200M_config (= pycls RegNetX-200MF): 2.32 M params (10 classes).
@MODELS.register("regnet200m", label="RegNet-200M")
def regnet200m(num_classes: int) -> nn.Module:
    params = BlockParams.from_init_params(depth=13, w_0=24, w_a=36.44, w_m=2.49, group_width=8)
    params.strides = [1] + params.strides[1:]  # CIFAR: first stage keeps 32x32 (yhhhli README, CIFAR10 section)
    return RegNetCifar(params, num_classes)
