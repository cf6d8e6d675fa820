"""The device-resident loader: the whole split as a uint8 tensor on the training device.

Random crop (zero padding), horizontal flip and normalization run as batched tensor ops, as in
airbench; no DataLoader workers. All randomness comes from the caller's ``torch.Generator`` (on
the CPU, so that the stream is the same on every device and can be saved in a checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class DeviceData:
    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        device: torch.device | str = "cpu",
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected N x 3 x H x W uint8 images, got {tuple(images.shape)} {images.dtype}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.long)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def normalize(self, x_uint8: torch.Tensor) -> torch.Tensor:
        return (x_uint8.float().div_(255.0) - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of normalize: back to uint8 (exact for images that came from uint8)."""
        return (x * self.std + self.mean).mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def train_batches(
        self, batch_size: int, generator: torch.Generator, crop_padding: int | None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch in random order; keeps the last partial batch (DataLoader's drop_last=False)."""
        order = torch.randperm(len(self), generator=generator).to(self.device)
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size]
            x = self.images[idx]
            if crop_padding is not None:
                x = random_crop_flip(x, crop_padding, generator)
            yield self.normalize(x), self.labels[idx]

    def eval_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            yield self.normalize(self.images[start : start + batch_size]), self.labels[start : start + batch_size]


def random_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding, fill 0) then RandomHorizontalFlip(0.5), per sample, batched."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # n x h
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # n x w
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]
