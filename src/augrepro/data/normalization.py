"""The input normalization of a run: per-channel ``mean`` and ``std`` of images in [0, 1].

One object for every place that normalizes or undoes it: the loaders (``augrepro.data.loader``,
``augrepro.data.jpeg``), the engine, the methods' ``Context.denormalize``, the previews and the evaluations (FGSM,
detection). (The file pipelines' torchvision ``Normalize``, run by DataLoader workers on each image, is the released
code's own transform and stays as it is.) Its values come from the protocol's ``normalize``
({mean, std}: the statistics its source code uses) or else the dataset's usual ones (:meth:`Normalization.of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from augrepro.transfer import device_tensor


class Normalization:
    """``(x - mean) / std`` per channel. ``mean`` and ``std``: 3 floats each (RGB); ``mean_tensor`` and
    ``std_tensor``: the same as 1 x 3 x 1 x 1 float32 tensors on ``device``."""

    def __init__(self, mean, std, device: torch.device | str = "cpu") -> None:
        means, stds = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        if len(means) != 3 or len(stds) != 3:
            raise ValueError(f"normalization: expected 3 means and 3 stds (RGB), got {means} and {stds}")
        self.mean: tuple[float, float, float] = means
        self.std: tuple[float, float, float] = stds
        self.device = torch.device(device)
        self.mean_tensor = device_tensor(self.mean, self.device).view(1, 3, 1, 1)
        self.std_tensor = device_tensor(self.std, self.device).view(1, 3, 1, 1)

    @classmethod
    def of(cls, norm: Mapping[str, Any] | None, spec) -> Normalization:
        """The protocol's normalization (its ``normalize``, :attr:`augrepro.resolved.Protocol.normalize`: the
        source's mean and std) or, when it sets none, the dataset's usual one (``spec``: its DatasetSpec)."""
        if norm:
            return cls(norm["mean"], norm["std"])
        return cls(spec.mean, spec.std)

    def to(self, device: torch.device | str) -> Normalization:
        """The same normalization with its tensors on ``device``."""
        return self if torch.device(device) == self.device else Normalization(self.mean, self.std, device)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """(x / 255 - mean) / std for uint8 images; (x - mean) / std for float images in [0, 1] (what the
        random-resized-crop pipelines return). Float32 out."""
        if x.dtype == torch.uint8:
            return (x.float().div_(255.0) - self.mean_tensor) / self.std_tensor
        if not x.is_floating_point():
            raise ValueError(f"expected uint8 images or float images in [0, 1], got {x.dtype}")
        return (x.float() - self.mean_tensor) / self.std_tensor

    def undo(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized images back to [0, 1]: x * std + mean (within float rounding)."""
        return x * self.std_tensor + self.mean_tensor

    def to_uint8(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized images back to uint8 (exact for images that came from uint8)."""
        return self.undo(x).mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)

    def __repr__(self) -> str:
        return f"Normalization(mean={self.mean}, std={self.std}, device={str(self.device)!r})"
