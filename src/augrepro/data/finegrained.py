"""CUB-200-2011, Stanford Cars and FGVC-Aircraft: official archives -> extracted images + a verified file index.

Preparation extracts every archive of the dataset safely (``augrepro.data.extract``: absolute paths, ``..``,
links and devices refuse the whole archive) side by side into a temporary sibling of ``images_dir``, reads the
official train/test split there, checks it (every listed image exists, labels in range, the class count, the
official image counts of the spec), and only then renames the folder into place; ``data.npz`` (written by
``augrepro.data.prepare``) holds the file lists and labels, as for ImageNet. Class indices follow the
released SnapMix code's dataset readers (Shaoli-Huang/SnapMix@245bda4, datasets/):

- ``cub200`` (``CUB_200_2011.tgz``): ``CUB_200_2011/images.txt`` (id, path under ``images/``),
  ``image_class_labels.txt`` (id, class id 1..200), ``train_test_split.txt`` (id, 1 = training, 0 = test),
  ``classes.txt`` (class id, name); label = class id - 1 (datasets/cub.py: ``data['label'] - 1``, split by
  ``train_flag``).
- ``cars`` (``car_devkit.tgz``, ``cars_train.tgz``, ``cars_test.tgz``, ``cars_test_annos_withlabels.mat``):
  ``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat`` (``annotations``: ``fname``,
  ``class`` 1..196), images in ``cars_train/`` and ``cars_test/``, names from ``devkit/cars_meta.mat``
  (``class_names``); label = class - 1 (datasets/car.py, read with scipy.io.loadmat).
- ``aircraft`` (``fgvc-aircraft-2013b.tar.gz``): ``fgvc-aircraft-2013b/data/images_variant_trainval.txt``
  (training) and ``images_variant_test.txt`` (test), lines ``<image id> <variant>``, images
  ``data/images/<id>.jpg``; classes are the variants sorted by name (datasets/aircraft.py: ``np.unique`` of the
  variant names), checked against ``data/variants.txt``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from augrepro.data.datasets import DatasetSpec
from augrepro.data.extract import extract_tar_into
from augrepro.data.prepared import PreparedData
from augrepro.io import atomic_folder

LAYOUTS = ("cub200", "cars", "aircraft")
_LIST = 5  # how many examples an error message names


class FineGrainedLayoutError(ValueError):
    """An archive does not hold the official files of its dataset, or they disagree with each other."""


def _some(names) -> str:
    names = sorted(str(n) for n in names)
    return ", ".join(names[:_LIST]) + (f" and {len(names) - _LIST} more" if len(names) > _LIST else "")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FineGrainedLayoutError(f"{path.name} is missing from the archive (expected at {path})")
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def _id_table(path: Path) -> dict[str, str]:
    """``<id> <value>`` lines (the value may hold spaces) -> {id: value}; a repeated id is refused."""
    table: dict[str, str] = {}
    for line in _lines(path):
        key, _, value = line.partition(" ")
        if not value.strip():
            raise FineGrainedLayoutError(f"{path.name}: malformed line {line!r} (expected '<id> <value>')")
        if key in table:
            raise FineGrainedLayoutError(f"{path.name}: id {key} appears twice")
        table[key] = value.strip()
    return table


# --- the three layouts: (train files, train labels, test files, test labels, class names), paths relative ---


def read_cub(root: Path):
    base = root / "CUB_200_2011"
    images = _id_table(base / "images.txt")
    labels = _id_table(base / "image_class_labels.txt")
    split = _id_table(base / "train_test_split.txt")
    classes = _id_table(base / "classes.txt")
    for name, table in (("image_class_labels.txt", labels), ("train_test_split.txt", split)):
        if set(table) != set(images):
            raise FineGrainedLayoutError(
                f"CUB_200_2011/{name} and images.txt list different image ids "
                f"(only in images.txt: {_some(set(images) - set(table)) or 'none'}; only in {name}: "
                f"{_some(set(table) - set(images)) or 'none'})"
            )
    try:
        class_ids = sorted(int(c) for c in classes)
    except ValueError:
        raise FineGrainedLayoutError("CUB_200_2011/classes.txt: class ids must be integers") from None
    if class_ids != list(range(1, len(class_ids) + 1)):
        raise FineGrainedLayoutError(f"CUB_200_2011/classes.txt: class ids are not 1..{len(class_ids)}")
    bad_flags = sorted({v for v in split.values()} - {"0", "1"})
    if bad_flags:
        raise FineGrainedLayoutError(
            f"CUB_200_2011/train_test_split.txt: flags {bad_flags}; expected 1 (train) or 0 (test)"
        )
    out: dict[str, tuple[list[str], list[int]]] = {"1": ([], []), "0": ([], [])}
    for image_id in sorted(images, key=int):
        label = int(labels[image_id]) - 1  # SnapMix code datasets/cub.py: data['label'] - 1
        out[split[image_id]][0].append(f"CUB_200_2011/images/{images[image_id]}")
        out[split[image_id]][1].append(label)
    names = [classes[str(c)] for c in class_ids]
    return out["1"][0], out["1"][1], out["0"][0], out["0"][1], names


def _cars_annotations(path: Path, folder: str) -> tuple[list[str], list[int]]:
    from scipy.io import loadmat

    if not path.is_file():
        raise FineGrainedLayoutError(f"{path.name} is missing (expected at {path})")
    try:
        annotations = np.atleast_1d(loadmat(path, squeeze_me=True)["annotations"])
        files = [f"{folder}/{str(a['fname'])}" for a in annotations]
        labels = [int(a["class"]) - 1 for a in annotations]  # SnapMix code datasets/car.py: label - 1
    except (KeyError, ValueError, TypeError) as exc:
        raise FineGrainedLayoutError(
            f"{path.name}: expected a struct array 'annotations' with fields fname and class ({exc})"
        ) from exc
    return files, labels


def read_cars(root: Path):
    from scipy.io import loadmat

    train_files, train_y = _cars_annotations(root / "devkit" / "cars_train_annos.mat", "cars_train")
    test_files, test_y = _cars_annotations(root / "cars_test_annos_withlabels.mat", "cars_test")
    meta = root / "devkit" / "cars_meta.mat"
    if not meta.is_file():
        raise FineGrainedLayoutError(f"devkit/cars_meta.mat is missing from car_devkit.tgz (expected at {meta})")
    names = [str(n) for n in np.atleast_1d(loadmat(meta, squeeze_me=True)["class_names"])]
    return train_files, train_y, test_files, test_y, names


def read_aircraft(root: Path):
    data = root / "fgvc-aircraft-2013b" / "data"
    variants = _lines(data / "variants.txt")
    classes = sorted(set(variants))  # SnapMix code datasets/aircraft.py: np.unique of the variant names
    index = {v: i for i, v in enumerate(classes)}
    splits = []
    for name in ("images_variant_trainval.txt", "images_variant_test.txt"):
        table = _id_table(data / name)
        unknown = sorted(set(table.values()) - set(index))
        if unknown:
            raise FineGrainedLayoutError(
                f"fgvc-aircraft-2013b/data/{name}: variants not in variants.txt: {_some(unknown)}"
            )
        ids = list(table)
        splits.append(([f"fgvc-aircraft-2013b/data/images/{i}.jpg" for i in ids], [index[table[i]] for i in ids]))
    (train_files, train_y), (test_files, test_y) = splits
    return train_files, train_y, test_files, test_y, classes


_READERS = {"cub200": read_cub, "cars": read_cars, "aircraft": read_aircraft}


# --- extraction and the verified index ----------------------------------------------------------------------


def _check(root: Path, spec: DatasetSpec, listing) -> None:
    train_files, train_y, test_files, test_y, classes = listing
    problems = []
    overlap = set(train_files) & set(test_files)
    if overlap:
        problems.append(f"{len(overlap):,} images are in both splits (e.g. {_some(overlap)})")
    for split, files, expected in (
        ("training", train_files, spec.expected_train),
        ("test", test_files, spec.expected_test),
    ):
        missing = [f for f in files if not (root / f).is_file()]
        if missing:
            problems.append(
                f"{len(missing):,} {split} images listed by the split files are missing (e.g. {_some(missing)})"
            )
        if len(set(files)) != len(files):
            problems.append(f"the {split} split lists an image twice")
        if expected is not None and len(files) != expected:
            problems.append(f"{len(files):,} {split} images, expected {expected:,}")
    if len(classes) != spec.num_classes:
        problems.append(f"{len(classes)} classes, expected {spec.num_classes}")
    labels = list(train_y) + list(test_y)
    if labels and (min(labels) < 0 or max(labels) >= len(classes)):
        problems.append(f"labels outside 0..{len(classes) - 1}")
    elif len(set(train_y)) != len(classes):
        problems.append(f"the training split covers {len(set(train_y))} of the {len(classes)} classes")
    if problems:
        raise FineGrainedLayoutError(f"{spec.name}: " + "; ".join(problems))


def read_finegrained(
    spec: DatasetSpec, archives: str | os.PathLike | list, images_dir: str | os.PathLike, log=print
) -> PreparedData:
    """Extract ``archives`` (the dataset's files, found by name) into ``images_dir`` and list the official splits.

    The extraction lands in a temporary sibling and replaces ``images_dir`` only once the split files are read
    and verified against it: a refused archive, a missing image or a wrong count leaves nothing behind."""
    if spec.layout not in _READERS:
        raise ValueError(f"{spec.name}: layout {spec.layout!r} is not a fine-grained layout ({', '.join(LAYOUTS)})")
    paths = [Path(a) for a in (archives if isinstance(archives, (list, tuple)) else [archives])]
    by_name = {p.name: p for p in paths}
    missing = [a.name for a in spec.archives() if a.name not in by_name]
    if missing:
        raise FineGrainedLayoutError(
            f"{spec.name}: {', '.join(missing)} not given; its files are {', '.join(a.name for a in spec.archives())}"
        )
    images_dir = Path(images_dir)
    listing = {}

    def fill(tmp: Path) -> None:
        for entry in spec.archives():
            path = by_name[entry.name]
            if entry.name.endswith((".tgz", ".tar.gz", ".tar")):
                log(f"extracting {path}")
                extract_tar_into(path, tmp)
            else:  # a plain file of the dataset (Stanford Cars' test labels)
                shutil.copyfile(path, tmp / entry.name)
        listing["value"] = _READERS[spec.layout](tmp)
        _check(tmp, spec, listing["value"])

    atomic_folder(images_dir, fill)
    root = images_dir.resolve()
    train_files, train_y, test_files, test_y, classes = listing["value"]
    log(
        f"{spec.name} at {root}: {len(classes)} classes, {len(train_files):,} training, {len(test_files):,} test images"
    )
    return PreparedData(
        None,
        np.asarray(train_y, dtype=np.int64),
        None,
        np.asarray(test_y, dtype=np.int64),
        list(classes),
        train_files=np.asarray([f"{root}/{f}" for f in train_files], dtype=str),
        test_files=np.asarray([f"{root}/{f}" for f in test_files], dtype=str),
    )
