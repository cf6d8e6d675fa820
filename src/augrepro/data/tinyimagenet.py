"""Tiny-ImageNet-200: read the extracted official zip into uint8 arrays.

Layout of ``tiny-imagenet-200/`` (http://cs231n.stanford.edu/tiny-imagenet-200.zip):
``wnids.txt`` (the 200 class wnids), ``words.txt`` (wnid TAB words, for all of WordNet),
``train/<wnid>/images/<wnid>_<i>.JPEG`` (500 per class) with ``train/<wnid>/<wnid>_boxes.txt``,
``val/images/val_<i>.JPEG`` (10,000) labelled by ``val/val_annotations.txt``
(file TAB wnid TAB box), and ``test/images/`` (unlabelled, not used).

Class indices follow the sorted wnids, as ``torchvision.datasets.ImageFolder`` orders the class
folders in the released script (SaliencyMix-ImageNet/train.py reads train/ with ImageFolder).
The labelled validation set is the prepared ``test`` split, as in the SalfMix paper's tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augrepro.data.prepared import PreparedData

_IMAGE_SUFFIXES = (".jpeg", ".jpg")


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ValueError(f"{path.name} is missing from the Tiny-ImageNet archive (expected at {path})")
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def _decode_all(paths: list[Path], image_size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(paths), 3, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))  # some Tiny-ImageNet images are greyscale
        if rgb.shape != (image_size, image_size, 3):
            raise ValueError(f"{path}: image of {rgb.shape[1]}x{rgb.shape[0]}, expected {image_size}x{image_size}")
        out[i] = rgb.transpose(2, 0, 1)
    return out


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"folder {folder} is missing from the Tiny-ImageNet archive")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def read_tinyimagenet_folder(folder: Path, image_size: int = 64) -> PreparedData:
    """Read ``tiny-imagenet-200/``: train images by class folder, val images by val_annotations.txt."""
    folder = Path(folder)
    wnids = sorted(set(_read_lines(folder / "wnids.txt")))
    index = {w: i for i, w in enumerate(wnids)}

    words = None
    if (folder / "words.txt").is_file():
        table = {}
        for line in _read_lines(folder / "words.txt"):
            wnid, _, text = line.partition("\t")
            table[wnid.strip()] = text.strip()
        words = [table.get(w, "") for w in wnids]

    train_paths: list[Path] = []
    train_y: list[int] = []
    for wnid in wnids:
        images = _images_in(folder / "train" / wnid / "images")
        if not images:
            raise ValueError(f"train/{wnid}/images/ holds no JPEG images; the archive is incomplete")
        train_paths += images
        train_y += [index[wnid]] * len(images)

    annotations = {}
    for line in _read_lines(folder / "val" / "val_annotations.txt"):
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"val/val_annotations.txt: malformed line {line!r} (expected file TAB wnid ...)")
        if fields[1] not in index:
            raise ValueError(f"val/val_annotations.txt: {fields[0]} has class {fields[1]!r}, which is not in wnids.txt")
        annotations[fields[0]] = index[fields[1]]
    val_paths = _images_in(folder / "val" / "images")
    names = {p.name for p in val_paths}
    unlabelled = sorted(names - annotations.keys())
    missing = sorted(annotations.keys() - names)
    if unlabelled or missing:
        raise ValueError(
            "Tiny-ImageNet val/: "
            + (
                f"{len(unlabelled)} images without a line in val_annotations.txt (e.g. {unlabelled[:3]}); "
                if unlabelled
                else ""
            )
            + (f"{len(missing)} annotated images missing from val/images (e.g. {missing[:3]})" if missing else "")
        )

    return PreparedData(
        train_x=_decode_all(train_paths, image_size),
        train_y=np.asarray(train_y, dtype=np.int64),
        test_x=_decode_all(val_paths, image_size),
        test_y=np.asarray([annotations[p.name] for p in val_paths], dtype=np.int64),
        classes=wnids,
        class_words=words,
    )
