"""The device-resident loader: the whole split as a uint8 tensor on the training device.

The training input pipeline (a ``augrepro.data.pipeline_spec.PipelineSpec`` run by ``augrepro.data.pipelines``:
padded random crop, random resized crop, flips, colour jitter) and normalization run as batched tensor ops, as in airbench; no DataLoader
workers. All randomness comes from the caller's ``torch.Generator`` (on the CPU, so that the stream is
the same on every device and can be saved in a checkpoint): in training, the run's ``order`` stream for the
epoch's order and its ``pipeline`` stream for the batches (``augrepro.train.streams``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from augrepro.data.file_pipelines import compose, file_pipeline
from augrepro.data.normalization import Normalization
from augrepro.data.pipelines import Pipeline, resize_center_crop
from augrepro.transfer import to_device


class DeviceData:
    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        device: torch.device | str = "cpu",
        eval_transform: dict | None = None,
    ) -> None:
        """``eval_transform`` ({resize, crop}): the deterministic resize and centre crop that evaluation, and
        training without a pipeline, apply (a protocol that trains at another size than the data's)."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected N x 3 x H x W uint8 images, got {tuple(images.shape)} {images.dtype}")
        self.eval_transform = dict(eval_transform) if eval_transform else None
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.long)
        self.normalization = Normalization(mean, std, self.device)

    def __len__(self) -> int:
        return len(self.labels)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """The random order of one epoch (drawn on the CPU generator, so it can be saved and replayed)."""
        return torch.randperm(len(self), generator=generator)

    @staticmethod
    def _pipeline(pipeline: Pipeline | None) -> Pipeline | None:
        if pipeline is None or isinstance(pipeline, Pipeline):
            return pipeline
        raise TypeError(f"pipeline: expected an augrepro.data.pipelines.Pipeline or None, got {pipeline!r}")

    def batch(
        self,
        order: torch.Tensor,
        step: int,
        batch_size: int,
        generator: torch.Generator,
        pipeline: Pipeline | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``step`` of an epoch in ``order``: the training ``pipeline`` (None: none), then normalize."""
        pipeline = self._pipeline(pipeline)
        idx = to_device(order[step * batch_size : (step + 1) * batch_size], self.device)
        x = self.images[idx]
        if pipeline is not None:
            x = pipeline(x, generator)
        else:
            x = self._fixed(x)
        return self.normalization.apply(x), self.labels[idx]

    def _fixed(self, x: torch.Tensor) -> torch.Tensor:
        if self.eval_transform is None:
            return x
        return resize_center_crop(x, self.eval_transform["resize"], self.eval_transform["crop"])

    def iterate(
        self,
        order: torch.Tensor,
        start_step: int,
        batch_size: int,
        generator: torch.Generator,
        pipeline: Pipeline | None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``start_step``, ``start_step + 1``, ... of the epoch in ``order``."""
        pipeline = self._pipeline(pipeline)
        for step in range(start_step, -(-len(order) // batch_size)):
            yield self.batch(order, step, batch_size, generator, pipeline)

    def train_batches(
        self, batch_size: int, generator: torch.Generator, pipeline: Pipeline | None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch in random order; keeps the last partial batch (DataLoader's drop_last=False)."""
        return self.iterate(self.epoch_order(generator), 0, batch_size, generator, pipeline)

    def eval_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Images ``start``..``stop`` (default: all) in order, in batches."""
        stop = len(self) if stop is None else stop
        for first in range(start, stop, batch_size):
            last = min(first + batch_size, stop)
            x = self._fixed(self.images[first:last])
            yield self.normalization.apply(x), self.labels[first:last]


# --- ImageNet: images decoded from files by DataLoader workers -----------------------------------


class _FileDataset(torch.utils.data.Dataset):
    def __init__(self, files, labels, transform) -> None:
        self.files, self.labels, self.transform = list(files), torch.as_tensor(labels, dtype=torch.long), transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.files[i]) as img:
            return self.transform(img.convert("RGB")), self.labels[i]


def _in_own_stream(batches: Iterator, seed: int) -> Iterator:
    """``batches`` fetched in this process with torch's global CPU generator set to a stream of their own (seeded
    with ``seed``) and put back after each batch: the transforms then draw neither from nor into the global
    stream that the training step's own draws (dropout, a method's extra pass) come from."""
    state = torch.Generator().manual_seed(seed).get_state()
    while True:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(state)
            batch = next(batches, None)
            state = torch.get_rng_state()
        if batch is None:
            return
        yield batch


class FileData:
    """A split of image files (ImageNet, the fine-grained datasets), decoded and augmented by DataLoader workers.

    Same interface as :class:`DeviceData` for the engine: ``epoch_order``, ``iterate``, ``eval_batches``.
    The epoch's order comes from the caller's generator; worker augmentation is seeded from it too.
    ``pipeline``: the protocol's file pipeline (``augrepro.data.pipeline_spec``; None: ImageNet's), whose training
    ops apply when ``train`` and its evaluation transform otherwise, as the workers' torchvision Compose
    (``augrepro.data.file_pipelines.compose``).
    """

    def __init__(
        self, files, labels, mean, std, device, train: bool, workers: int, pipeline: dict | None = None
    ) -> None:
        self.device = torch.device(device)
        self.train = train
        self.spec = file_pipeline(pipeline or {"name": "imagenet"})
        self.dataset = _FileDataset(files, labels, compose(self.spec, train, mean, std))
        self.workers = workers

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

    def iterate(self, order, start_step: int, batch_size: int, generator: torch.Generator, pipeline=None):
        """Batches ``start_step``.. of the epoch in ``order`` (``pipeline`` is ignored: the workers' transforms
        crop and flip, drawing from torch's generator in each worker, seeded by the DataLoader from one draw of
        ``generator``; with no workers, from a stream seeded by that draw in this process)."""
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        batches = iter(self._loader(order[start_step * batch_size :], batch_size, torch.Generator().manual_seed(seed)))
        if self.workers == 0:
            batches = _in_own_stream(batches, seed)
        for x, y in batches:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def describe(self) -> dict:
        return {
            "decode": "workers",
            "decoder": "PIL in DataLoader workers",
            "workers": self.workers,
            "train": f"{self.spec.name}: training ops (file_pipelines.compose)" if self.train else None,
            "eval": f"{self.spec.name}: evaluation transform (file_pipelines.compose)",
        }

    def eval_batches(self, batch_size: int, start: int = 0, stop: int | None = None):
        """Images ``start``..``stop`` (default: all) in order, in batches."""
        for x, y in self._loader(range(start, len(self) if stop is None else stop), batch_size, None):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
