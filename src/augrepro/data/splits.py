"""A run's training and test splits, loaded from its prepared ``data.npz`` for the engine and the evaluations.

Pixel datasets live on the device as uint8 (``augrepro.data.loader.DeviceData``); file datasets (ImageNet, the
fine-grained ones) go through the protocol's file pipeline, decoded in batches on the device
(``augrepro.data.jpeg.JpegData``) or by DataLoader workers (``augrepro.data.loader.FileData``). Every split
normalizes with the run's :class:`~augrepro.data.normalization.Normalization`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from augrepro.data.file_pipelines import file_pipeline
from augrepro.data.jpeg import JpegData, choose_decode
from augrepro.data.loader import DeviceData, FileData
from augrepro.data.normalization import Normalization
from augrepro.data.prepared import PreparedData, load_prepared

if TYPE_CHECKING:
    from augrepro.resolved import Protocol


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None):
    return (x, y) if limit is None else (x[:limit], y[:limit])


def load_split(
    data: PreparedData,
    which: str,
    protocol: Protocol,
    traditional: bool,
    norm: Normalization,
    device,
    workers: int,
    decode_mode: str = "workers",
):
    """One split (``train`` or ``test``, the protocol's ``max_*_images`` applied) of prepared ``data``: pixel
    datasets live on the device as uint8; file datasets (ImageNet, the fine-grained ones) go through the
    protocol's file pipeline, ImageNet's decoded in batches on the device when ``decode_mode`` is ``device``
    (augrepro.data.jpeg), by DataLoader workers otherwise. The training transforms apply when ``traditional``
    (and only to the training split), the evaluation ones otherwise."""
    train = which == "train"
    limit = protocol.max_train_images if train else protocol.max_test_images
    mean, std = norm.mean, norm.std
    if data.kind == "files":
        train_files, test_files = data.file_lists()
        files, labels = _subset(*((train_files, data.train_y) if train else (test_files, data.test_y)), limit)
        if decode_mode == "device" and protocol.pipeline.get("name") == "imagenet":
            spec = file_pipeline(protocol.pipeline)
            return JpegData(files, labels, mean, std, device, train and traditional, readers=max(2, workers), spec=spec)
        return FileData(files, labels, mean, std, device, train and traditional, workers, protocol.pipeline)
    train_x, test_x = data.pixels()
    x, y = _subset(*((train_x, data.train_y) if train else (test_x, data.test_y)), limit)
    return DeviceData(torch.from_numpy(x), torch.from_numpy(y), mean, std, device, protocol.eval_transform)


def load_splits(
    data_path,
    protocol: Protocol,
    traditional: bool,
    norm: Normalization,
    device,
    workers: int,
    decode: str = "auto",
    log: Callable[[str], None] = print,
):
    """(train, test) of the run (:func:`load_split`); ``decode``: training.decode, for the file datasets."""
    data = load_prepared(data_path)
    mode = "workers"
    if data.kind == "files":
        mode, why = choose_decode(decode, device)
        log(f"image files decoded {'on ' + str(device) if mode == 'device' else 'by DataLoader workers'} ({why})")
    return tuple(
        load_split(data, which, protocol, traditional, norm, device, workers, mode) for which in ("train", "test")
    )
