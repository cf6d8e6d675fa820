"""Preparation: archive -> one ``data.npz`` per dataset.

Pixel datasets (demo, CIFAR-10/100, Tiny-ImageNet) hold uint8 arrays, int64 labels and the class
names, and load in well under a second for CIFAR. ImageNet is too large for that: its ``data.npz``
holds the image file lists instead (``kind`` = "files"), with a common ``root`` folder.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augrepro.data.datasets import DatasetSpec
from augrepro.data.extract import extract_tar, extract_zip

KINDS = ("pixels", "files")


@dataclass
class PreparedData:
    train_x: np.ndarray | None  # N x 3 x H x W uint8; None for a file dataset
    train_y: np.ndarray  # N int64
    test_x: np.ndarray | None
    test_y: np.ndarray
    classes: list[str]
    # File datasets (ImageNet): absolute image paths, one per label; None for pixel datasets.
    train_files: np.ndarray | None = None
    test_files: np.ndarray | None = None
    # Human-readable words per class (Tiny-ImageNet's words.txt, ImageNet's devkit), if known.
    class_words: list[str] | None = None

    @property
    def kind(self) -> str:
        return "files" if self.train_x is None else "pixels"


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


def _atomic_savez(path: Path, compressed: bool, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        (np.savez_compressed if compressed else np.savez)(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_prepared(data: PreparedData, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, then rename)."""
    path = Path(path)
    extra = {} if data.class_words is None else {"class_words": np.asarray(data.class_words, dtype=str)}
    if data.kind == "pixels":
        # Uncompressed: loading is a plain read (CIFAR-10: about 180 MB in well under a second).
        _atomic_savez(
            path,
            compressed=False,
            kind=np.asarray("pixels"),
            train_x=data.train_x,
            train_y=data.train_y,
            test_x=data.test_x,
            test_y=data.test_y,
            classes=np.asarray(data.classes, dtype=str),
            **extra,
        )
        return
    files = [str(f) for f in data.train_files] + [str(f) for f in data.test_files]
    if not files:
        raise ValueError("a file dataset with no files cannot be saved")
    root = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
    if not os.path.isabs(root):
        raise ValueError(f"image paths must be absolute, got e.g. {files[0]!r}")
    cut = len(root.rstrip(os.sep)) + 1

    def relative(paths) -> np.ndarray:
        return np.asarray([str(p)[cut:] for p in paths], dtype=str)

    # Compressed: 1.3 million relative paths in fixed-width unicode are mostly padding.
    _atomic_savez(
        path,
        compressed=True,
        kind=np.asarray("files"),
        root=np.asarray(root),
        train_files=relative(data.train_files),
        train_y=data.train_y,
        test_files=relative(data.test_files),
        test_y=data.test_y,
        classes=np.asarray(data.classes, dtype=str),
        **extra,
    )


def load_prepared(path: str | os.PathLike) -> PreparedData:
    """Read a ``data.npz`` written by :func:`save_prepared` (either kind)."""
    with np.load(path, allow_pickle=False) as f:
        kind = str(f["kind"]) if "kind" in f.files else "pixels"
        classes = [str(c) for c in f["classes"]]
        words = [str(w) for w in f["class_words"]] if "class_words" in f.files else None
        if kind == "pixels":
            return PreparedData(f["train_x"], f["train_y"], f["test_x"], f["test_y"], classes, class_words=words)
        if kind != "files":
            raise ValueError(f"{path}: unknown kind {kind!r} (expected one of {KINDS}); prepare it again")
        root = str(f["root"]).rstrip(os.sep) + os.sep

        def absolute(name: str) -> np.ndarray:
            return np.asarray([root + p for p in f[name].tolist()], dtype=str)

        return PreparedData(
            None,
            f["train_y"],
            None,
            f["test_y"],
            classes,
            train_files=absolute("train_files"),
            test_files=absolute("test_files"),
            class_words=words,
        )


def validate(data: PreparedData, spec: DatasetSpec) -> None:
    """Refuse a prepared dataset whose shapes, labels or counts do not fit the spec."""
    if data.kind != spec.kind:
        raise ValueError(f"{spec.name}: prepared data of kind {data.kind!r}, expected {spec.kind!r}")
    for split, x, files, y, expected_n in (
        ("train", data.train_x, data.train_files, data.train_y, spec.expected_train),
        ("test", data.test_x, data.test_files, data.test_y, spec.expected_test),
    ):
        if spec.kind == "pixels":
            expected = (3, spec.image_size, spec.image_size)
            if x is None or x.ndim != 4 or x.shape[1:] != expected or x.dtype != np.uint8:
                got = None if x is None else (x.shape, x.dtype)
                raise ValueError(f"{spec.name} {split} images: expected N x {expected} uint8, got {got}")
            n = len(x)
        else:
            if files is None:
                raise ValueError(f"{spec.name} {split}: no file list")
            n = len(files)
        if n != len(y) or n == 0:
            raise ValueError(f"{spec.name} {split}: {n} images but {len(y)} labels")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise ValueError(f"{spec.name} {split}: labels outside 0..{spec.num_classes - 1}")
        if expected_n is not None and n != expected_n:
            raise ValueError(f"{spec.name} {split}: {n:,} images, expected {expected_n:,}")
    if len(data.classes) != spec.num_classes:
        raise ValueError(f"{spec.name}: {len(data.classes)} class names, expected {spec.num_classes}")


def prepare(
    spec: DatasetSpec,
    archive: str | os.PathLike,
    out_npz: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    log=print,
) -> PreparedData:
    """Extract ``archive`` safely into a temporary folder, read it, validate it, write ``out_npz``.

    For ImageNet, ``archive`` is the folder given by data.imagenet_path; tarballs found there are
    extracted into ``images_dir`` (default: ``images/`` beside ``out_npz``), class folders are used
    where they are. For the fine-grained datasets (``augrepro.data.finegrained``), ``archive`` is the
    dataset's file, or the list of its files (Stanford Cars), extracted into ``images_dir``. For Pascal VOC,
    ``archive`` is the list of its archives; the result is an annotation index
    (``augrepro.data.voc.prepare_voc``), not a :class:`PreparedData`.
    """
    out_npz = Path(out_npz)
    if spec.layout == "voc":
        from augrepro.data.voc import prepare_voc

        return prepare_voc(spec, archive, out_npz, images_dir, log=log)
    if spec.kind == "files":
        from augrepro.data.finegrained import LAYOUTS, read_finegrained
        from augrepro.data.imagenet import read_imagenet

        images = Path(images_dir) if images_dir is not None else out_npz.parent / "images"
        if spec.layout in LAYOUTS:
            data = read_finegrained(spec, archive, images, log=log)
        else:
            data = read_imagenet(spec, archive, images, log=log)
        validate(data, spec)
        save_prepared(data, out_npz)
        return data
    work = Path(tempfile.mkdtemp(prefix=".extract.", dir=out_npz.parent if out_npz.parent.exists() else None))
    try:
        if spec.layout == "tinyimagenet":
            from augrepro.data.tinyimagenet import read_tinyimagenet_folder

            folder = extract_zip(archive, work / "x")
        elif spec.layout in ("cifar10", "cifar100"):
            folder = extract_tar(archive, work / "x")
        else:
            raise ValueError(f"{spec.name}: unknown layout {spec.layout!r}")
        if not (folder / spec.inner_dir).is_dir():
            raise ValueError(f"{archive}: expected folder {spec.inner_dir!r} inside the archive; is it the right file?")
        if spec.layout == "tinyimagenet":
            data = read_tinyimagenet_folder(folder / spec.inner_dir, spec.image_size)
        else:
            data = read_cifar_folder(folder / spec.inner_dir, spec.layout, spec.image_size)
        validate(data, spec)
        save_prepared(data, out_npz)
        return data
    finally:
        shutil.rmtree(work, ignore_errors=True)
