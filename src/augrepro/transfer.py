"""Copies of freshly drawn CPU tensors (random indices, offsets, flips, boxes) to the training device."""

from __future__ import annotations

import torch


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t.to(device)`` without making the host wait for the GPU. A blocking copy from the CPU to CUDA
    synchronizes the stream (ATen's memcpy_and_sync), so every training step would wait for all queued
    work of the previous one; and an asynchronous copy is only truly asynchronous from page-locked memory.
    So a CPU tensor bound for CUDA is staged in pinned memory (PyTorch's caching host allocator keeps that
    block until the copy has run) and copied with ``non_blocking``. Other devices: a plain ``.to``."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def device_tensor(data, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``torch.tensor(data, dtype=dtype, device=device)`` (small host values such as a box or a mean)
    without the stream synchronization of a blocking host-to-device copy; see ``to_device``."""
    return to_device(torch.tensor(data, dtype=dtype), device)
