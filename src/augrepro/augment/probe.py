"""Extra passes through the model being trained, for the methods that need it (SnapMix, SalfMix,
HybridMix, Cutout with saliency).

The interface a method needs from the model is only ``model(x) -> logits``: the extra pass runs in
the model's current mode (train mode during training: batch statistics). Whether the pass may move the
BatchNorm running statistics follows each method's source:

- SnapMix's class activation maps (``update_statistics=True`` in :class:`augrepro.augment.snapmix.SnapMix`)
  run as the released code runs them: a no-grad forward of the model in train mode, which updates the
  BatchNorm running mean/var and ``num_batches_tracked`` (SnapMix code utils/mixmethod.py ``get_spm``,
  called from trainer/comm_train.py after ``model.train()``);
- every other probe (SalfMix's gradient saliency, and the CAMs of a preview) leaves the model as it found
  it: :func:`preserved_state` restores every buffer and every module's train/eval flag.

Gradients are taken with ``torch.autograd.grad`` with respect to the input only, so no ``.grad`` is
written on the parameters. Class activation maps find the feature maps with forward hooks: the last 4-D
output of a submodule that is not a pooling layer (the last convolutional features; a pooling module
such as torchvision's ``avgpool`` returns the pooled N x C x 1 x 1 map, which is 4-D too) and the last
``nn.Linear`` called (the classifier after global average pooling); a built-in check refuses a model for
which the mean of the map does not reproduce the logit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Run a block through ``model`` and put its buffers and train/eval flags back afterwards."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, saved in buffers:
                buf.copy_(saved)
        for module, training in modes:
            module.training = training


# SalfMix paper §4.2, equations (2) and (3): g = dL(f(x), y)/dx with L the cross-entropy of
# the model being trained; M_ij = max_c |g(i, j, c)|.
def input_gradient_saliency(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """N x H x W map ``max_c |d CE / d x|`` from one extra forward/backward w.r.t. the input only.

    The loss is summed over the batch (a per-sample scale leaves each map's arg-max and arg-min unchanged).
    """
    x = images.detach().clone().requires_grad_(True)
    with preserved_state(model), torch.enable_grad():
        loss = F.cross_entropy(model(x), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad.abs().amax(1)


# Pooling layers: their 4-D output is a pooled map (N x C x 1 x 1 after global pooling), never the
# convolutional features that class activation maps need.
_POOLING = (
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.LPPool2d,
    nn.FractionalMaxPool2d,
)


def _features_and_classifier(model: nn.Module, images: torch.Tensor):
    """One forward with hooks: (logits, last 4-D output of a non-pooling submodule, last nn.Linear called)."""
    seen: dict[str, object] = {}

    def on_output(module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4 and not isinstance(module, _POOLING):
            seen["features"] = output
        if isinstance(module, nn.Linear):
            seen["linear"] = module

    handles = [m.register_forward_hook(on_output) for m in model.modules() if m is not model]
    try:
        logits = model(images)
    finally:
        for h in handles:
            h.remove()
    if "features" not in seen or "linear" not in seen:
        raise ValueError(
            f"{type(model).__name__}: class activation maps need a convolutional trunk ending in global average "
            "pooling and an nn.Linear classifier; this model has no such submodules"
        )
    return logits, seen["features"], seen["linear"]


# SnapMix (Shaoli-Huang/SnapMix@245bda4, utils/mixmethod.py get_spm): no-grad forward of the model being
# trained; CAM of each sample's target class = classifier weights (and bias) applied to ReLU(feature maps of
# the last convolutional stage: networks/resnet_ft.py returns conv5 = layer4's output); bilinear upsampling to
# the image size (align_corners=False); minus its minimum; divided by its sum.
@torch.no_grad()
def class_activation_maps(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, update_statistics: bool = False
) -> torch.Tensor:
    """N x H x W semantic percentage maps (each sums to 1; NaN where a map is constant).

    ``update_statistics``: let the pass move the BatchNorm running statistics, as the released SnapMix code
    does (its ``get_spm`` forward runs in train mode); False (default) restores every buffer and mode."""
    h, w = images.shape[2:]
    with contextlib.nullcontext() if update_statistics else preserved_state(model):
        logits, features, linear = _features_and_classifier(model, images)
    features = F.relu(features)
    weight = linear.weight[labels]  # N x C
    bias = linear.bias[labels] if linear.bias is not None else torch.zeros(len(labels), device=images.device)
    if features.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{type(model).__name__}: the last feature maps have {features.shape[1]} channels but the classifier "
            f"takes {weight.shape[1]}; class activation maps need pooling straight into the classifier"
        )
    cams = torch.einsum("nchw,nc->nhw", features, weight) + bias[:, None, None]
    own_logit = logits.gather(1, labels[:, None])[:, 0]
    if not torch.allclose(cams.mean((1, 2)), own_logit, rtol=1e-3, atol=1e-3 * (1 + own_logit.abs().max().item())):
        raise ValueError(
            f"{type(model).__name__}: the mean of the class activation map does not equal the logit, so the "
            "hooked feature maps are not what the classifier pools; give the model a trunk whose last submodule "
            "output is pooled straight into its nn.Linear classifier"
        )
    cams = F.interpolate(cams[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    cams = cams - cams.flatten(1).amin(1)[:, None, None]
    return cams / cams.sum((1, 2), keepdim=True)
