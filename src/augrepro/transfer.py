"""Copies of freshly drawn CPU tensors (random indices, offsets, flips) to the training device."""

from __future__ import annotations

import torch


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t.to(device)`` without waiting for the GPU: a blocking copy from the CPU to CUDA synchronizes the
    stream (ATen's memcpy_and_sync), so every training step would wait for all queued work of the previous
    one. ``non_blocking`` is safe for these pageable CPU tensors: the driver stages the data before the
    call returns. A CPU ``device`` returns ``t`` itself."""
    return t.to(device, non_blocking=True)


def device_tensor(data, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``torch.tensor(data, dtype=dtype, device=device)`` (small host values such as a box or a mean)
    without the stream synchronization of a blocking host-to-device copy; see ``to_device``."""
    return to_device(torch.tensor(data, dtype=dtype), device)
