"""Colour jitter and PCA lighting as batched tensor ops on float images in [0, 1], per sample, with given
parameters (drawn by the caller): the colour ops of ``augrepro.data.pipelines``' jitter executor, and of the
DataLoader workers' CutMix-code ColorJitter (``augrepro.data.file_pipelines``), which runs them on one image.
The grey weights, the clamp and the lighting's eigen-decomposition come from ``augrepro.data.pipeline_spec``.
"""

from __future__ import annotations

import torch

from augrepro.data.pipeline_spec import JITTERS, LIGHTING_EIGVAL, LIGHTING_EIGVEC, TORCHVISION_GRAY
from augrepro.transfer import to_device


def _gray(x: torch.Tensor, weights: tuple[float, float, float] = TORCHVISION_GRAY) -> torch.Tensor:
    # torchvision transforms._functional_tensor.rgb_to_grayscale (float path); the CutMix code's weights with JITTERS
    r, g, b = x.unbind(1)
    return (weights[0] * r + weights[1] * g + weights[2] * b).unsqueeze(1)


def adjust_hue(x: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
    """Per sample hue rotation of float RGB in [0, 1] by ``hue`` (N,) turns, through HSV, as torchvision
    F.adjust_hue defines it (h = (h + hue) mod 1; ties of the maximum resolved red, green, blue)."""
    r, g, b = x.unbind(1)
    v = torch.maximum(torch.maximum(r, g), b)
    c = v - torch.minimum(torch.minimum(r, g), b)
    gray = c == 0
    c_safe = torch.where(gray, torch.ones_like(c), c)
    s = torch.where(gray, torch.zeros_like(c), c / torch.where(v == 0, torch.ones_like(v), v))
    sector = torch.where(v == r, (g - b) / c_safe, torch.where(v == g, (b - r) / c_safe + 2.0, (r - g) / c_safe + 4.0))
    h = torch.where(gray, torch.zeros_like(c), sector) / 6.0
    h = torch.remainder(h + hue.to(x.dtype)[:, None, None], 1.0)
    # HSV to RGB: channel_k = v - v s clamp(min(t, 4 - t), 0, 1) with t = (k + 6h) mod 6, k = 5, 3, 1
    out = []
    for k in (5.0, 3.0, 1.0):
        t = torch.remainder(k + 6.0 * h, 6.0)
        out.append(v - v * s * torch.minimum(t, 4.0 - t).clamp(0.0, 1.0))
    return torch.stack(out, 1)


def lighting(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Per sample PCA lighting noise (CutMix/SaliencyMix utils.Lighting, on ToTensor's float image):
    x + eigvec @ (alpha * eigval) per channel, alpha (N x 3) ~ N(0, alphastd); not clamped, as there."""
    vec = torch.tensor(LIGHTING_EIGVEC, dtype=torch.float32)
    rgb = (vec[None] * alpha.to(torch.float32).cpu()[:, None, :] * torch.tensor(LIGHTING_EIGVAL)[None, None]).sum(2)
    return x + to_device(rgb, x.device).to(x.dtype)[:, :, None, None]


def color_jitter(
    x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor, jitter: str = "torchvision"
) -> torch.Tensor:
    """torchvision ColorJitter on a float batch in [0, 1], per sample, with given parameters (``jitter: cutmix``:
    the CutMix code's, the same blends unclamped with its grey; :data:`JITTERS`).

    ``factors``: N x 4 (brightness, contrast, saturation factors; hue shift), ``order``: N x 4, a
    permutation of 0..3 per sample (torchvision's fn_idx: 0 brightness, 1 contrast, 2 saturation, 3 hue).
    A factor of 1 (0 for hue) leaves the image as it is, as a disabled op in torchvision. Both on the CPU:
    only the hue op's sample indices are needed on the host. Brightness blends with black, contrast with the
    mean of the grayscale image, saturation with the grayscale image, each clamped to [0, 1]
    (torchvision _functional_tensor._blend); hue: ``adjust_hue``."""
    weights, clamp = JITTERS[jitter]
    factors = factors.to(torch.float32).cpu()
    order = order.to(torch.int64).cpu()
    hue_on = bool((factors[:, 3] != 0).any())
    f_dev = to_device(factors, x.device)
    o_dev = to_device(order, x.device)
    zero = torch.zeros((), device=x.device, dtype=x.dtype)
    for slot in range(order.shape[1]):
        op = o_dev[:, slot]
        # brightness / contrast / saturation: one blend for the whole batch; a hue slot blends with factor 1
        f = torch.where(op < 3, f_dev.gather(1, op.clamp(max=2)[:, None]).squeeze(1), 1.0)
        f = f.to(x.dtype)[:, None, None, None]
        gray = _gray(x, weights)
        target = torch.where(
            (op == 0)[:, None, None, None],
            zero,
            torch.where((op == 1)[:, None, None, None], gray.mean(dim=(1, 2, 3), keepdim=True), gray),
        )
        x = f * x + (1.0 - f) * target
        if clamp:
            x = x.clamp_(0.0, 1.0)
        if hue_on:
            chosen = torch.nonzero(order[:, slot] == 3).squeeze(1)  # host side: the CPU order
            if chosen.numel():
                idx = to_device(chosen, x.device)
                x = x.index_copy(0, idx, adjust_hue(x.index_select(0, idx), f_dev[:, 3].index_select(0, idx)))
    return x
