"""The prepared dataset: :class:`PreparedData` and its ``data.npz`` format.

Pixel datasets (demo, CIFAR-10/100, Tiny-ImageNet) hold uint8 arrays, int64 labels and the class names, and
load in well under a second for CIFAR. File datasets (ImageNet, CUB, Cars, Aircraft) are too large for that:
their ``data.npz`` holds the image file lists instead (``kind`` = "files"), relative to a common ``root``
folder. Keys: ``kind``, ``classes``, ``train_y``, ``test_y``, then ``train_x``/``test_x`` (pixels) or ``root``,
``train_files``/``test_files`` (files), and ``class_words`` when the class names have words. Written by
:func:`save_prepared` (``augrepro.data.prepare`` makes them from the official archives), read by
:func:`load_prepared`. (Pascal VOC's ``data.npz`` is an annotation index of kind ``detection``:
``augrepro.data.voc``.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from augrepro.io import atomic_savez

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

    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """A pixel dataset's (train_x, test_x)."""
        if self.train_x is None or self.test_x is None:
            raise ValueError(f"a {self.kind} dataset has no pixel arrays (its images are train_files and test_files)")
        return self.train_x, self.test_x

    def file_lists(self) -> tuple[np.ndarray, np.ndarray]:
        """A file dataset's (train_files, test_files): the image paths, one per label."""
        if self.train_files is None or self.test_files is None:
            raise ValueError(f"a {self.kind} dataset has no image files (its images are train_x and test_x)")
        return self.train_files, self.test_files


def npz_kind(f, path: str | os.PathLike) -> str:
    """The ``kind`` of an opened prepared ``data.npz`` (``pixels``, ``files`` or ``detection``)."""
    if "kind" not in f.files:
        raise ValueError(
            f"{path}: no 'kind' key, so not a data.npz written by augrepro's preparation; prepare it again"
        )
    return str(f["kind"])


def save_prepared(data: PreparedData, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` atomically (``augrepro.io``: temporary name, then rename)."""
    extra = {} if data.class_words is None else {"class_words": np.asarray(data.class_words, dtype=str)}
    if data.kind == "pixels":
        # Uncompressed: loading is a plain read (CIFAR-10: about 180 MB in well under a second).
        atomic_savez(
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
    train_files, test_files = data.file_lists()
    files = [str(f) for f in train_files] + [str(f) for f in test_files]
    if not files:
        raise ValueError("a file dataset with no files cannot be saved")
    root = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
    if not os.path.isabs(root):
        raise ValueError(f"image paths must be absolute, got e.g. {files[0]!r}")
    cut = len(root.rstrip(os.sep)) + 1

    def relative(paths) -> np.ndarray:
        return np.asarray([str(p)[cut:] for p in paths], dtype=str)

    # Compressed: 1.3 million relative paths in fixed-width unicode are mostly padding.
    atomic_savez(
        path,
        compressed=True,
        kind=np.asarray("files"),
        root=np.asarray(root),
        train_files=relative(train_files),
        train_y=data.train_y,
        test_files=relative(test_files),
        test_y=data.test_y,
        classes=np.asarray(data.classes, dtype=str),
        **extra,
    )


def load_prepared(path: str | os.PathLike) -> PreparedData:
    """Read a ``data.npz`` written by :func:`save_prepared` (either kind)."""
    with np.load(path, allow_pickle=False) as f:
        kind = npz_kind(f, path)
        if kind not in KINDS:
            raise ValueError(f"{path}: unknown kind {kind!r} (expected one of {KINDS}); prepare it again")
        classes = [str(c) for c in f["classes"]]
        words = [str(w) for w in f["class_words"]] if "class_words" in f.files else None
        if kind == "pixels":
            return PreparedData(f["train_x"], f["train_y"], f["test_x"], f["test_y"], classes, class_words=words)
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
