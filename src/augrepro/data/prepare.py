"""Preparation: archive -> one ``.npz`` of uint8 arrays that a training job loads in well under a second."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augrepro.data.datasets import DatasetSpec
from augrepro.data.extract import extract_tar


@dataclass
class PreparedData:
    train_x: np.ndarray  # N x 3 x H x W uint8
    train_y: np.ndarray  # N int64
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]


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


def save_prepared(data: PreparedData, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(
            tmp,
            train_x=data.train_x,
            train_y=data.train_y,
            test_x=data.test_x,
            test_y=data.test_y,
            classes=np.asarray(data.classes),
        )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_prepared(path: str | os.PathLike) -> PreparedData:
    with np.load(path, allow_pickle=False) as f:
        return PreparedData(
            f["train_x"], f["train_y"], f["test_x"], f["test_y"], [str(c) for c in f["classes"]]
        )


def validate(data: PreparedData, spec: DatasetSpec) -> None:
    """Refuse a prepared dataset whose shapes or labels do not fit the spec."""
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        expected = (3, spec.image_size, spec.image_size)
        if x.ndim != 4 or x.shape[1:] != expected or x.dtype != np.uint8:
            raise ValueError(f"{spec.name} {split} images: expected N x {expected} uint8, got {x.shape} {x.dtype}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"{spec.name} {split}: {len(x)} images but {len(y)} labels")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise ValueError(f"{spec.name} {split}: labels outside 0..{spec.num_classes - 1}")
    if len(data.classes) != spec.num_classes:
        raise ValueError(f"{spec.name}: {len(data.classes)} class names, expected {spec.num_classes}")


def prepare(spec: DatasetSpec, archive: str | os.PathLike, out_npz: str | os.PathLike) -> PreparedData:
    """Extract ``archive`` safely into a temporary folder, read it, validate it, write ``out_npz``."""
    out_npz = Path(out_npz)
    work = Path(tempfile.mkdtemp(prefix=".extract.", dir=out_npz.parent if out_npz.parent.exists() else None))
    try:
        folder = extract_tar(archive, work / "x")
        if not (folder / spec.inner_dir).is_dir():
            raise ValueError(f"{archive}: expected folder {spec.inner_dir!r} inside the archive; is it the right file?")
        data = read_cifar_folder(folder / spec.inner_dir, spec.layout, spec.image_size)
        validate(data, spec)
        save_prepared(data, out_npz)
        return data
    finally:
        shutil.rmtree(work, ignore_errors=True)
