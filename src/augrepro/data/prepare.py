"""Preparation: a dataset's official archive(s) -> one verified ``data.npz`` (:mod:`augrepro.data.prepared`).

:func:`prepare` picks the reader of the dataset's layout in :data:`READERS` (layout -> reader), checks what it
read against the spec (:func:`validate`) and writes ``data.npz`` atomically. The pixel datasets' archives are
extracted safely (``augrepro.data.extract``) into a temporary folder, removed afterwards; the file datasets'
images are extracted into ``images_dir`` (ImageNet, ``augrepro.data.imagenet``; CUB, Cars, Aircraft,
``augrepro.data.finegrained``). Pascal VOC is prepared into an annotation index (``augrepro.data.voc``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from augrepro.data.cifar import read_cifar_folder
from augrepro.data.datasets import DatasetSpec
from augrepro.data.extract import extract_tar, extract_zip
from augrepro.data.finegrained import LAYOUTS as FINEGRAINED_LAYOUTS
from augrepro.data.finegrained import read_finegrained
from augrepro.data.imagenet import read_imagenet
from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.data.tinyimagenet import read_tinyimagenet_folder
from augrepro.data.voc import VocIndex, prepare_voc


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


@contextmanager
def _extracted(extract, spec: DatasetSpec, archive, out_npz: Path) -> Iterator[Path]:
    """``archive`` extracted by ``extract`` into a temporary folder beside ``out_npz`` (removed afterwards): its
    ``spec.inner_dir``, checked to be there."""
    work = Path(tempfile.mkdtemp(prefix=".extract.", dir=out_npz.parent if out_npz.parent.exists() else None))
    try:
        folder = extract(archive, work / "x")
        if not (folder / spec.inner_dir).is_dir():
            raise ValueError(f"{archive}: expected folder {spec.inner_dir!r} inside the archive; is it the right file?")
        yield folder / spec.inner_dir
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_cifar(spec: DatasetSpec, archive, out_npz: Path, images_dir: Path, log) -> PreparedData:
    with _extracted(extract_tar, spec, archive, out_npz) as folder:
        return read_cifar_folder(folder, spec.layout, spec.image_size)


def _read_tinyimagenet(spec: DatasetSpec, archive, out_npz: Path, images_dir: Path, log) -> PreparedData:
    with _extracted(extract_zip, spec, archive, out_npz) as folder:
        return read_tinyimagenet_folder(folder, spec.image_size)


def _read_imagenet(spec: DatasetSpec, archive, out_npz: Path, images_dir: Path, log) -> PreparedData:
    return read_imagenet(spec, archive, images_dir, log=log)


def _read_finegrained(spec: DatasetSpec, archive, out_npz: Path, images_dir: Path, log) -> PreparedData:
    return read_finegrained(spec, archive, images_dir, log=log)


Reader = Callable[[DatasetSpec, object, Path, Path, Callable[[str], None]], PreparedData]
# layout -> reader(spec, archive(s), out_npz, images_dir, log): the dataset as read, not yet validated
READERS: dict[str, Reader] = {
    "cifar10": _read_cifar,  # also the demo's layout
    "cifar100": _read_cifar,
    "tinyimagenet": _read_tinyimagenet,
    "imagenet": _read_imagenet,
    **{layout: _read_finegrained for layout in FINEGRAINED_LAYOUTS},
}


def prepare(
    spec: DatasetSpec,
    archive: str | os.PathLike,
    out_npz: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    log=print,
) -> PreparedData | VocIndex:
    """Read ``archive`` with the reader of ``spec.layout`` (:data:`READERS`), validate it, write ``out_npz``.

    Pixel datasets' archives are extracted safely into a temporary folder. For ImageNet, ``archive`` is the folder
    given by data.imagenet_path; tarballs found there are extracted into ``images_dir`` (default: ``images/``
    beside ``out_npz``), class folders are used where they are. For the fine-grained datasets
    (``augrepro.data.finegrained``), ``archive`` is the dataset's file, or the list of its files (Stanford Cars),
    extracted into ``images_dir``. For Pascal VOC, ``archive`` is the list of its archives; the result is an
    annotation index (``augrepro.data.voc.prepare_voc``), not a :class:`PreparedData`.
    """
    out_npz = Path(out_npz)
    if spec.layout == "voc":  # an annotation index, validated and written by its own module
        return prepare_voc(spec, archive, out_npz, images_dir, log=log)
    if spec.layout not in READERS:
        raise ValueError(f"{spec.name}: unknown layout {spec.layout!r}; known: {', '.join(sorted(READERS))}, voc")
    images = Path(images_dir) if images_dir is not None else out_npz.parent / "images"
    data = READERS[spec.layout](spec, archive, out_npz, images, log)
    validate(data, spec)
    save_prepared(data, out_npz)
    return data
