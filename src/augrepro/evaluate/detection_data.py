"""Pascal VOC for the detection transfer (its recipe: :mod:`augrepro.studies.evaluations`): the images of the prepared VOC index
(:mod:`augrepro.data.voc`) with their targets, and the training order. Horizontal flip with probability 0.5 during
training (faster-rcnn.pytorch ``TRAIN.USE_FLIPPED``, Detectron2 ``RandomFlip``); difficult objects are used in
training and ignored by the metric (both codes). The images and flips of an iteration are a function of (detection
seed, iteration) alone, so that a resumed fine-tuning continues the same stream.
"""

from __future__ import annotations

import numpy as np
import torch


class VocImages(torch.utils.data.Dataset):
    """Images of the VOC index (uint8 decoded by torchvision) with their targets (labels + 1: 0 is the
    background); ``flips[i]`` mirrors image i horizontally (boxes too)."""

    def __init__(self, index, indices) -> None:
        self.index = index
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item):
        k, flip = item if isinstance(item, tuple) else (item, False)
        from torchvision.io import ImageReadMode, decode_image, read_file

        i = int(self.indices[k])
        image = decode_image(read_file(self.index.path(i)), mode=ImageReadMode.RGB)
        boxes, labels, _ = self.index.objects(i)
        boxes = torch.as_tensor(np.array(boxes), dtype=torch.float32).reshape(-1, 4)
        if flip:
            image = image.flip(-1)
            width = image.shape[-1]
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
        return image, {"boxes": boxes, "labels": torch.as_tensor(np.array(labels), dtype=torch.int64) + 1}, i


def iteration_batch(n: int, batch_size: int, seed: int, iteration: int) -> list[tuple[int, bool]]:
    """The (image, flip) pairs of one training iteration: a function of (seed, iteration) alone. Images come
    in a fresh random order each pass over the training set (seeded by the pass), flips from the iteration's
    own generator."""
    out = []
    first = iteration * batch_size
    flips = torch.rand(batch_size, generator=torch.Generator().manual_seed(seed * 1_000_003 + iteration + 7)) < 0.5
    for j in range(batch_size):
        epoch, pos = divmod(first + j, n)
        perm = torch.randperm(
            n, generator=torch.Generator().manual_seed(seed * 1_000_003 + 1_000_000_007 * (epoch + 1))
        )
        out.append((int(perm[pos]), bool(flips[j])))
    return out


def collate(items):
    """A DataLoader batch of (image, target, index) items as three lists (the images differ in size)."""
    return [it[0] for it in items], [it[1] for it in items], [it[2] for it in items]


class IterationSampler(torch.utils.data.Sampler):
    """The batches of iterations ``start`` to ``stop`` (:func:`iteration_batch`)."""

    def __init__(self, n, batch_size, seed, start, stop) -> None:
        self.n, self.batch_size, self.seed, self.start, self.stop = n, batch_size, seed, start, stop

    def __iter__(self):
        for it in range(self.start, self.stop):
            yield iteration_batch(self.n, self.batch_size, self.seed, it)

    def __len__(self) -> int:
        return self.stop - self.start
