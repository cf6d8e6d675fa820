"""The device-resident loader: the whole split as a uint8 tensor on the training device.

Random crop (zero padding), horizontal flip and normalization run as batched tensor ops, as in
airbench; no DataLoader workers. All randomness comes from the caller's ``torch.Generator`` (on
the CPU, so that the stream is the same on every device and can be saved in a checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from augrepro.transfer import to_device


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

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """The random order of one epoch (drawn on the CPU generator, so it can be saved and replayed)."""
        return torch.randperm(len(self), generator=generator)

    def batch(
        self,
        order: torch.Tensor,
        step: int,
        batch_size: int,
        generator: torch.Generator,
        crop_padding: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``step`` of an epoch in ``order``: crop and flip (when ``crop_padding`` is set), normalize."""
        idx = to_device(order[step * batch_size : (step + 1) * batch_size], self.device)
        x = self.images[idx]
        if crop_padding is not None:
            x = random_crop_flip(x, crop_padding, generator)
        return self.normalize(x), self.labels[idx]

    def iterate(
        self, order: torch.Tensor, start_step: int, batch_size: int, generator: torch.Generator, crop_padding
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``start_step``, ``start_step + 1``, ... of the epoch in ``order``."""
        for step in range(start_step, self.num_batches(batch_size)):
            yield self.batch(order, step, batch_size, generator, crop_padding)

    def train_batches(
        self, batch_size: int, generator: torch.Generator, crop_padding: int | None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch in random order; keeps the last partial batch (DataLoader's drop_last=False)."""
        return self.iterate(self.epoch_order(generator), 0, batch_size, generator, crop_padding)

    def eval_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            yield self.normalize(self.images[start : start + batch_size]), self.labels[start : start + batch_size]


def random_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding, fill 0) then RandomHorizontalFlip(0.5), per sample, batched."""
    n, c, h, w = x.shape
    offsets = to_device(torch.randint(0, 2 * padding + 1, (2, n), generator=generator), x.device)
    flip = to_device(torch.rand(n, generator=generator) < 0.5, x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # n x h
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # n x w
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


# --- ImageNet: images decoded from files by DataLoader workers -----------------------------------

# PCA lighting noise of the CutMix/SaliencyMix ImageNet code (utils.Lighting, alphastd 0.1; AlexNet's
# eigen-decomposition of ImageNet's RGB covariance).
_EIGVAL = (0.2175, 0.0188, 0.0045)
_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


class _Lighting:
    def __init__(self, alphastd: float = 0.1) -> None:
        self.alphastd = alphastd
        self.eigval = torch.tensor(_EIGVAL)
        self.eigvec = torch.tensor(_EIGVEC)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        alpha = torch.randn(3) * self.alphastd
        rgb = (self.eigvec * alpha * self.eigval).sum(1)
        return img + rgb.view(3, 1, 1)


def imagenet_transforms(train: bool, mean, std, size: int = 224):
    """SaliencyMix-ImageNet/train.py (from CutMix): RandomResizedCrop(224), flip, ColorJitter(0.4, 0.4, 0.4),
    lighting 0.1, normalize; evaluation Resize(256), CenterCrop(224)."""
    from torchvision import transforms as T

    if train:
        return T.Compose(
            [
                T.RandomResizedCrop(size),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
                _Lighting(0.1),
                T.Normalize(mean, std),
            ]
        )
    return T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])


class _FileDataset(torch.utils.data.Dataset):
    def __init__(self, files, labels, transform) -> None:
        self.files, self.labels, self.transform = list(files), torch.as_tensor(labels, dtype=torch.long), transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.files[i]) as img:
            return self.transform(img.convert("RGB")), self.labels[i]


class FileData:
    """A split of image files (ImageNet), decoded and augmented by DataLoader workers.

    Same interface as :class:`DeviceData` for the engine: ``epoch_order``, ``iterate``, ``eval_batches``.
    The epoch's order comes from the caller's generator; worker augmentation is seeded from it too.
    """

    def __init__(self, files, labels, mean, std, device, train: bool, workers: int) -> None:
        self.device = torch.device(device)
        self.dataset = _FileDataset(files, labels, imagenet_transforms(train, mean, std))
        self.workers = workers
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return len(self.dataset)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        return torch.randperm(len(self), generator=generator)

    def _loader(self, indices, batch_size: int, generator: torch.Generator | None):
        return torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.dataset, indices.tolist() if hasattr(indices, "tolist") else indices),
            batch_size=batch_size,
            shuffle=False,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            generator=generator,
            persistent_workers=False,
        )

    def iterate(self, order, start_step: int, batch_size: int, generator: torch.Generator, crop_padding=None):
        """Batches ``start_step``.. of the epoch in ``order`` (crop_padding is unused: the transforms crop)."""
        seed_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        for x, y in self._loader(order[start_step * batch_size :], batch_size, seed_gen):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def eval_batches(self, batch_size: int):
        for x, y in self._loader(range(len(self)), batch_size, None):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
