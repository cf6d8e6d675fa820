"""The detector of the detection transfer (its recipe: :mod:`augrepro.studies.evaluations`): torchvision's Faster R-CNN with a
finished run's ResNet as its backbone. The backbone's weights are the classification run's checkpoint (never
retrained from scratch); the rest of the detector is new. What is fixed here, for both recipes, with its source:

* ``head: c4`` (default): the ResNet's stem to ``layer3`` is the trunk (stride 16), the RPN runs on its
  output, the recipe's ``roi_pool`` pools ``roi_size`` x ``roi_size`` regions (:class:`RoIPooler`: RoIAlign,
  Detectron2's ROIAlignV2, or faster-rcnn.pytorch's crop-and-resize) and ``layer4`` plus global average pooling
  is the box head, the design of the Faster R-CNN ResNet in He et al. (2016), of faster-rcnn.pytorch's
  ``resnet.py`` (the CutMix paper's detection code) and of Detectron2's ``R50-C4`` VOC configuration (its VOC
  baseline in MODEL_ZOO.md); ``head: fpn``: torchvision's ``fasterrcnn_resnet50_fpn`` design (FPN over
  ``layer1``-``layer4``, torchvision's MultiScaleRoIAlign).
* The stem and ``layer1`` are frozen and every BatchNorm is frozen with the checkpoint's statistics
  (faster-rcnn.pytorch: ``RESNET.FIXED_BLOCKS = 1``, ``TRAIN.BN_TRAIN = False``; Detectron2: ``FREEZE_AT: 2``,
  ``NORM: FrozenBN``; torchvision's default ``trainable_backbone_layers = 3``).
* Input normalization: the backbone run's own mean and std (what its weights were trained with).
* RoI sampling: ``rois_per_image`` RoIs per image (the recipe's), a quarter positive (faster-rcnn.pytorch
  ``FG_FRACTION``, Detectron2 ``POSITIVE_FRACTION``); RPN 256 anchors per image, half positive. At test time the
  recipe's ``test_score_thresh``, per-class ``test_nms`` and ``detections_per_image`` (faster-rcnn.pytorch
  test_net.py: thresh 0.0, TEST.NMS 0.3, max_per_image 100; Detectron2: 0.05, 0.5, 100).
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d

from augrepro.studies.evaluations import ROI_POOLS


def _freeze_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Every BatchNorm2d replaced by a FrozenBatchNorm2d holding its statistics and affine parameters."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            _freeze_batchnorm(child)
    return module


def _channels(layer: torch.nn.Sequential) -> int:
    """Output channels of a torchvision ResNet stage (its last block's last BatchNorm)."""
    block = layer[-1]
    bn = getattr(block, "bn3", None) or getattr(block, "bn2", None)
    if not isinstance(bn, torch.nn.BatchNorm2d | FrozenBatchNorm2d):
        raise TypeError(f"{type(block).__name__} is not a torchvision ResNet block (no bn3 or bn2 BatchNorm)")
    return int(bn.weight.shape[0])


class _Trunk(torch.nn.Module):
    """C4 trunk: the ResNet's stem, layer1, layer2 and layer3 (stride 16)."""

    def __init__(self, resnet) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1, resnet.layer2, resnet.layer3
        )
        self.out_channels = _channels(resnet.layer3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Res5Head(torch.nn.Module):
    """C4 box head: layer4 on the pooled 14 x 14 regions, then global average pooling."""

    def __init__(self, resnet) -> None:
        super().__init__()
        self.layer4 = resnet.layer4
        self.out_channels = _channels(resnet.layer4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.layer4(x), 1), 1)


class RoIPooler(MultiScaleRoIAlign):
    """The C4 head's RoI pooling of the trunk's one feature map (stride 16), as torchvision's ``box_roi_pool``
    (a MultiScaleRoIAlign, which FasterRCNN requires, on the level ``"0"``; given the proposals of each image in its
    resized coordinates):

    * ``align``: RoIAlign with ``size`` x ``size`` bins and adaptive sampling (sampling ratio 0), without the
      half-pixel shift: faster-rcnn.pytorch's ``ROIAlign((POOLING_SIZE, POOLING_SIZE), 1/16, 0)`` (branch
      pytorch-1.0, lib/model/roi_layers/roi_align.py) and torchvision's MultiScaleRoIAlign (``aligned=False``);
    * ``align_v2``: the same with the half-pixel shift (``aligned=True``): Detectron2's ``ROIAlignV2``
      (detectron2/modeling/poolers.py), its C4 default (config/defaults.py ROI_BOX_HEAD.POOLER_TYPE);
    * ``crop``: faster-rcnn.pytorch master's crop-and-resize (lib/model/faster_rcnn/faster_rcnn.py, POOLING_MODE
      crop): a ``2 size`` x ``2 size`` grid of bilinear samples from the box's first corner to its last
      (lib/model/utils/net_utils.py _affine_grid_gen: affine_grid, corners aligned; zero outside the map), then
      2 x 2 max-pooling (config.py CROP_RESIZE_WITH_MAX_POOL True)."""

    STRIDE = 16  # the C4 trunk's (faster-rcnn.pytorch: rois / 16.0)

    def __init__(self, mode: str, size: int) -> None:
        super().__init__(["0"], int(size), sampling_ratio=0)
        if mode not in ROI_POOLS:
            raise ValueError(f"roi_pool {mode!r}; valid: {', '.join(ROI_POOLS)}")
        self.mode, self.size = mode, int(size)

    def forward(self, features, proposals: list[torch.Tensor], image_shapes=None) -> torch.Tensor:
        x = features["0"] if isinstance(features, dict) else features
        if self.mode != "crop":
            from torchvision.ops import roi_align

            return roi_align(
                x, proposals, self.size, 1.0 / self.STRIDE, sampling_ratio=0, aligned=self.mode == "align_v2"
            )
        return torch.nn.functional.max_pool2d(self._crop(x, proposals, 2 * self.size), 2, 2)

    def _crop(self, x: torch.Tensor, proposals: list[torch.Tensor], grid: int) -> torch.Tensor:
        """grid x grid bilinear samples spanning each box corner to corner (align_corners: -1 and 1 are the centres
        of the first and last feature cells), one grid_sample call per image."""
        channels, height, width = x.shape[1:]
        steps = torch.linspace(0.0, 1.0, grid, device=x.device, dtype=x.dtype)
        out = []
        for image, boxes in enumerate(proposals):
            b = boxes.to(x.dtype) / self.STRIDE
            xs = b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * steps  # R x grid, in feature cells
            ys = b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * steps
            gx = xs * (2.0 / max(width - 1, 1)) - 1.0
            gy = ys * (2.0 / max(height - 1, 1)) - 1.0
            n = len(b)
            points = torch.stack([gx[:, None, :].expand(n, grid, grid), gy[:, :, None].expand(n, grid, grid)], -1)
            sampled = torch.nn.functional.grid_sample(
                x[image : image + 1],
                points.reshape(1, n * grid, grid, 2),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=True,
            )  # 1 x C x (n grid) x grid
            out.append(sampled.reshape(channels, n, grid, grid).permute(1, 0, 2, 3))
        return torch.cat(out) if out else x.new_zeros(0, channels, grid, grid)


def build_detector(
    resnet: torch.nn.Module, recipe: dict[str, Any], mean, std, num_classes: int = 21
) -> torch.nn.Module:
    """Faster R-CNN (torchvision) around a torchvision ResNet whose weights it takes over; ``num_classes``
    includes the background."""
    import torchvision
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    if not isinstance(resnet, torchvision.models.ResNet):
        raise ValueError(
            f"the detection backbone must be a torchvision (ImageNet-style) ResNet, not {type(resnet).__name__}: "
            "train the backbone runs with a protocol of architecture: imagenet"
        )
    _freeze_batchnorm(resnet)  # in place
    for module in (resnet.conv1, resnet.layer1):  # stem and layer1 frozen; bn1 is frozen above
        for param in module.parameters():
            param.requires_grad_(False)
    common = dict(
        num_classes=None,
        min_size=tuple(recipe["min_size"]),
        max_size=recipe["max_size"],
        image_mean=list(mean),
        image_std=list(std),
        box_score_thresh=recipe["test_score_thresh"],
        box_nms_thresh=recipe["test_nms"],
        box_detections_per_img=recipe["detections_per_image"],
        box_batch_size_per_image=recipe["rois_per_image"],
        box_positive_fraction=0.25,
        rpn_batch_size_per_image=256,
    )
    ratios = (0.5, 1.0, 2.0)
    if recipe["head"] == "c4":
        trunk = _Trunk(resnet)
        head = _Res5Head(resnet)
        anchors = AnchorGenerator(sizes=(tuple(recipe["anchor_sizes"]),), aspect_ratios=(ratios,))
        model = FasterRCNN(
            trunk,
            rpn_anchor_generator=anchors,
            box_roi_pool=RoIPooler(recipe["roi_pool"], recipe["roi_size"]),
            box_head=head,
            box_predictor=FastRCNNPredictor(head.out_channels, num_classes),
            # 12000 / 6000 proposals before NMS (train / test): faster-rcnn.pytorch and Detectron2 Base-RCNN-C4;
            # after NMS: the recipe's proposals_train / proposals_test
            rpn_pre_nms_top_n_train=12000,
            rpn_pre_nms_top_n_test=6000,
            rpn_post_nms_top_n_train=recipe["proposals_train"],
            rpn_post_nms_top_n_test=recipe["proposals_test"],
            **common,
        )
    else:
        from torchvision.models.detection.backbone_utils import BackboneWithFPN

        stages = [_channels(getattr(resnet, f"layer{i}")) for i in range(1, 5)]
        fpn = BackboneWithFPN(
            resnet,
            return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
            in_channels_list=stages,
            out_channels=256,
            extra_blocks=torchvision.ops.feature_pyramid_network.LastLevelMaxPool(),
        )
        sizes = tuple((s,) for s in recipe["anchor_sizes"])
        anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(ratios,) * len(sizes))
        model = FasterRCNN(
            fpn,
            rpn_anchor_generator=anchors,
            rpn_post_nms_top_n_train=recipe["proposals_train"],
            rpn_post_nms_top_n_test=recipe["proposals_test"],
            box_predictor=FastRCNNPredictor(1024, num_classes),  # torchvision's TwoMLPHead: 1024 features
            **common,
        )
    return model
