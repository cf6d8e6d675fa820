"""CIFAR-10/100 (and the demo, in CIFAR-10's layout): read the extracted python-version folder into uint8 arrays.

``cifar-10-batches-py/`` holds ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` (pickles of ``data``: N x 3072
uint8 in CHW order, ``labels``) and ``batches.meta`` (``label_names``); ``cifar-100-python/`` holds ``train``,
``test`` (``fine_labels``) and ``meta`` (``fine_label_names``) (https://www.cs.toronto.edu/~kriz/cifar.html).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from augrepro.data.prepared import PreparedData


def _get(record: dict, key: str):
    """CIFAR pickles are Python 2 pickles: loaded with encoding="bytes" their keys are bytes."""
    if key.encode() in record:
        return record[key.encode()]
    return record[key]


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"expected file {path} is missing from the archive")
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _decode(names) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_cifar_folder(folder: Path, layout: str, image_size: int = 32) -> PreparedData:
    """Read an extracted CIFAR-10/100 python-version folder (or the demo, in CIFAR-10 layout)."""
    if layout == "cifar10":
        train_files, test_files, meta_file = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta"
        label_key, names_key = "labels", "label_names"
    elif layout == "cifar100":
        train_files, test_files, meta_file = ["train"], ["test"], "meta"
        label_key, names_key = "fine_labels", "fine_label_names"
    else:
        raise ValueError(f"unknown CIFAR layout {layout!r}")

    def read(files):
        xs, ys = [], []
        for name in files:
            record = _load_pickle(folder / name)
            data = np.asarray(_get(record, "data"), dtype=np.uint8)
            xs.append(data.reshape(len(data), 3, image_size, image_size))
            ys.append(np.asarray(_get(record, label_key), dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    train_x, train_y = read(train_files)
    test_x, test_y = read(test_files)
    classes = _decode(_get(_load_pickle(folder / meta_file), names_key))
    return PreparedData(train_x, train_y, test_x, test_y, classes)
