"""ImageNet (ILSVRC2012) from a folder the user gives (data.imagenet_path); never downloaded.

The folder holds either
(a) the official tarballs ``ILSVRC2012_img_train.tar`` (one ``<wnid>.tar`` per class inside),
    ``ILSVRC2012_img_val.tar`` (``ILSVRC2012_val_%08d.JPEG``, flat) and
    ``ILSVRC2012_devkit_t12.tar.gz`` (``data/meta.mat`` and
    ``data/ILSVRC2012_validation_ground_truth.txt``: one ILSVRC2012_ID per validation image, in
    file-number order); they are extracted safely into ``train/<wnid>/`` and ``val/<wnid>/``; or
(b) those class folders already extracted: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``.

Either way the counts are verified against the spec (1000 classes, 1,281,167 train and 50,000 val
images for the real ImageNet) and the result is a list of files with labels; class indices follow
the sorted wnids, as ImageFolder orders them (SaliencyMix-ImageNet/train.py, CutMix-PyTorch).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np

from augrepro.data.datasets import DatasetSpec
from augrepro.data.extract import UnsafeArchiveError, check_member_name, check_tar_member
from augrepro.data.prepared import PreparedData
from augrepro.io import atomic_folder

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
TARBALLS = (TRAIN_TAR, VAL_TAR, DEVKIT)
_IMAGE_SUFFIXES = (".jpeg", ".jpg")
_VAL_NAME = re.compile(r"^ILSVRC2012_val_(\d{8})\.JPEG$")
_LIST = 10  # how many missing names an error message lists


class ImageNetLayoutError(ValueError):
    """data.imagenet_path does not hold a complete ImageNet in either accepted layout."""


def _some(names, n: int = _LIST) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


# ---------------------------------------------------------------------------------------------
# the devkit
# ---------------------------------------------------------------------------------------------


def read_devkit(devkit: str | os.PathLike, num_classes: int) -> tuple[dict[int, str], dict[str, str], list[int]]:
    """``(ILSVRC2012_ID -> wnid, wnid -> words, validation ground truth IDs in file order)``.

    meta.mat's ``synsets`` holds every WordNet node of the challenge; the leaf ones
    (num_children == 0) are the classes, numbered by ILSVRC2012_ID (devkit readme.txt).
    """
    from scipy.io import loadmat

    devkit = Path(devkit)
    meta_bytes = truth_bytes = None
    try:
        with tarfile.open(devkit, "r:*") as tar:
            for member in tar:
                check_member_name(member.name, devkit)
                if not member.isfile():
                    continue
                leaf = PurePosixPath(member.name)
                if leaf.name == "meta.mat" and leaf.parent.name == "data":
                    meta_bytes = _contents(tar, member).read()
                elif leaf.name == "ILSVRC2012_validation_ground_truth.txt":
                    truth_bytes = _contents(tar, member).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ImageNetLayoutError(
            f"{devkit}: not a readable tar archive ({exc}); replace it with the official file"
        ) from exc
    if meta_bytes is None or truth_bytes is None:
        missing = [
            n
            for n, b in (("data/meta.mat", meta_bytes), ("data/ILSVRC2012_validation_ground_truth.txt", truth_bytes))
            if b is None
        ]
        raise ImageNetLayoutError(f"{devkit}: {', '.join(missing)} missing; is it ILSVRC2012_devkit_t12.tar.gz?")

    synsets = loadmat(io.BytesIO(meta_bytes), squeeze_me=True)["synsets"]
    id_to_wnid: dict[int, str] = {}
    words: dict[str, str] = {}
    for row in np.atleast_1d(synsets):
        if int(row["num_children"]) == 0:
            wnid = str(row["WNID"])
            id_to_wnid[int(row["ILSVRC2012_ID"])] = wnid
            words[wnid] = str(row["words"])
    if len(id_to_wnid) != num_classes:
        raise ImageNetLayoutError(f"{devkit}: meta.mat lists {len(id_to_wnid)} leaf synsets, expected {num_classes}")
    truth = [int(t) for t in truth_bytes.decode().split()]
    unknown = sorted({t for t in truth if t not in id_to_wnid})
    if unknown:
        raise ImageNetLayoutError(f"{devkit}: ground truth uses ILSVRC2012_IDs not in meta.mat: {unknown[:_LIST]}")
    return id_to_wnid, words, truth


# ---------------------------------------------------------------------------------------------
# extraction of the tarballs (streamed: the train tarball is about 140 GB)
# ---------------------------------------------------------------------------------------------


def _contents(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    """A member's contents; tarfile has none for anything but a regular file (the callers check isfile first)."""
    handle = tar.extractfile(member)
    if handle is None:
        raise UnsafeArchiveError(f"{tar.name!r}: member {member.name!r} is not a regular file")
    return handle


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with _contents(tar, member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _flat_image(member: tarfile.TarInfo, archive: str) -> str:
    check_tar_member(member, archive)
    if not member.isfile() or "/" in member.name.strip("/") or member.name.startswith("./"):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is not a plain image file at the top level")
    return member.name


def extract_train(train_tar: Path, dest: Path, classes: set[str], log=print) -> None:
    """``ILSVRC2012_img_train.tar`` (one ``<wnid>.tar`` per class) -> ``dest/<wnid>/*.JPEG``."""
    done = 0
    try:
        with tarfile.open(train_tar, "r|") as outer:
            for member in outer:
                check_tar_member(member, train_tar)
                if member.isdir():
                    continue
                wnid = PurePosixPath(member.name).stem
                if PurePosixPath(member.name).suffix != ".tar" or wnid not in classes:
                    raise ImageNetLayoutError(
                        f"{train_tar}: unexpected member {member.name!r} (expected <wnid>.tar of a devkit class)"
                    )
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as inner:
                    for image in inner:
                        name = _flat_image(image, f"{train_tar}:{member.name}")
                        _write_member(inner, image, dest / wnid / name)
                done += 1
                if done % 100 == 0:
                    log(f"extracted {done} training classes")
    except (tarfile.TarError, EOFError) as exc:
        raise ImageNetLayoutError(f"{train_tar}: not a readable tar archive ({exc}); is it complete?") from exc


def extract_val(val_tar: Path, dest: Path, id_to_wnid: dict[int, str], truth: list[int]) -> None:
    """``ILSVRC2012_img_val.tar`` -> ``dest/<wnid>/ILSVRC2012_val_%08d.JPEG`` by the ground truth."""
    try:
        with tarfile.open(val_tar, "r|") as tar:
            for member in tar:
                name = _flat_image(member, str(val_tar))
                m = _VAL_NAME.match(name)
                if not m or not 1 <= int(m.group(1)) <= len(truth):
                    raise ImageNetLayoutError(
                        f"{val_tar}: unexpected member {name!r} (expected ILSVRC2012_val_00000001.JPEG .. "
                        f"ILSVRC2012_val_{len(truth):08d}.JPEG)"
                    )
                _write_member(tar, member, dest / id_to_wnid[truth[int(m.group(1)) - 1]] / name)
    except (tarfile.TarError, EOFError) as exc:
        raise ImageNetLayoutError(f"{val_tar}: not a readable tar archive ({exc}); is it complete?") from exc


# ---------------------------------------------------------------------------------------------
# class folders: scan and verify
# ---------------------------------------------------------------------------------------------


def _scan(split_dir: Path) -> tuple[dict[str, list[str]], int]:
    """``({wnid: sorted image names}, number of images lying directly in split_dir)``."""
    classes: dict[str, list[str]] = {}
    loose = 0
    with os.scandir(split_dir) as entries:
        for entry in entries:
            if entry.is_dir():
                with os.scandir(entry.path) as files:
                    classes[entry.name] = sorted(
                        f.name for f in files if f.is_file() and os.path.splitext(f.name)[1].lower() in _IMAGE_SUFFIXES
                    )
            elif os.path.splitext(entry.name)[1].lower() in _IMAGE_SUFFIXES:
                loose += 1
    return classes, loose


def verify_folders(root: Path, spec: DatasetSpec) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """Check ``root/train`` and ``root/val`` against the spec; one error lists every problem."""
    problems: list[str] = []
    splits: dict[str, dict[str, list[str]]] = {}
    for split, expected_n in (("train", spec.expected_train), ("val", spec.expected_test)):
        folder = root / split
        if not folder.is_dir():
            problems.append(f"{split}/ is missing")
            splits[split] = {}
            continue
        classes, loose = _scan(folder)
        splits[split] = classes
        if loose:
            problems.append(
                f"{split}/ holds {loose:,} images directly instead of in class folders "
                + (
                    "(regroup them by the devkit's ground truth, or give the three tarballs instead)"
                    if split == "val"
                    else ""
                )
            )
        if len(classes) != spec.num_classes:
            problems.append(f"{split}/ has {len(classes)} class folders, expected {spec.num_classes}")
        empty = [w for w, names in classes.items() if not names]
        if empty:
            problems.append(f"{split}/ has empty class folders: {_some(empty)}")
        n = sum(len(v) for v in classes.values())
        if expected_n is not None and n != expected_n:
            gap = f"{expected_n - n:,} missing" if n < expected_n else f"{n - expected_n:,} too many"
            problems.append(f"{split}/ holds {n:,} images, expected {expected_n:,} ({gap})")
    train, val = splits["train"], splits["val"]
    if train and val:
        if set(train) - set(val):
            problems.append(f"val/ lacks the class folders {_some(set(train) - set(val))}")
        if set(val) - set(train):
            problems.append(f"train/ lacks the class folders {_some(set(val) - set(train))}")
    if problems:
        raise ImageNetLayoutError(f"ImageNet at {root} is incomplete: " + "; ".join(problems))
    return sorted(train), train, val


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def _layout_error(source: Path, spec: DatasetSpec) -> ImageNetLayoutError:
    present = [t for t in TARBALLS if (source / t).is_file()]
    have = ", ".join(sorted(p.name for p in source.iterdir())[:_LIST]) or "nothing"
    hint = f"it has {have}"
    if present:
        hint += f"; of the tarballs, {', '.join(t for t in TARBALLS if t not in present)} are missing"
    return ImageNetLayoutError(
        f"data.imagenet_path = {source} holds neither (a) {', '.join(TARBALLS)} nor (b) extracted train/<wnid>/*.JPEG "
        f"and val/<wnid>/*.JPEG folders ({spec.num_classes} classes, {spec.expected_train or 0:,} training and "
        f"{spec.expected_test or 0:,} validation images); {hint}. See resources/datasets.md"
    )


def read_imagenet(
    spec: DatasetSpec, source: str | os.PathLike, images_dir: str | os.PathLike, log=print
) -> PreparedData:
    """Verify ImageNet at ``source`` and return its file lists (extracting tarballs into ``images_dir``)."""
    source = Path(source)
    if not source.is_dir():
        raise ImageNetLayoutError(f"data.imagenet_path = {source} is not a folder; point it at your ImageNet copy")
    words: dict[str, str] | None = None
    if all((source / t).is_file() for t in TARBALLS):
        id_to_wnid, words, truth = read_devkit(source / DEVKIT, spec.num_classes)
        if spec.expected_test is not None and len(truth) != spec.expected_test:
            raise ImageNetLayoutError(
                f"{source / DEVKIT}: ground truth for {len(truth):,} validation images, expected {spec.expected_test:,}"
            )
        images_dir = Path(images_dir)
        images_dir.parent.mkdir(parents=True, exist_ok=True)
        if images_dir.is_dir():
            try:  # an earlier run extracted everything: never extract 150 GB twice
                data = _listing(images_dir.resolve(), spec, words, log)
                log(f"reused the complete extraction in {images_dir}")
                return data
            except ImageNetLayoutError as exc:
                log(f"{images_dir} is not a complete extraction ({exc}); extracting again")

        def fill(tmp: Path) -> None:
            log(f"extracting {source / TRAIN_TAR} into {images_dir}/train (streamed; long)")
            extract_train(source / TRAIN_TAR, tmp / "train", set(id_to_wnid.values()), log=log)
            log(f"extracting {source / VAL_TAR} into {images_dir}/val by the devkit's ground truth")
            extract_val(source / VAL_TAR, tmp / "val", id_to_wnid, truth)
            verify_folders(tmp, spec)  # before the rename: a bad extraction leaves nothing behind

        atomic_folder(images_dir, fill)
        root = images_dir.resolve()
    elif (source / "train").is_dir() or (source / "val").is_dir():
        root = source.resolve()
        if (source / DEVKIT).is_file():
            _, words, _ = read_devkit(source / DEVKIT, spec.num_classes)
    else:
        raise _layout_error(source, spec)

    return _listing(root, spec, words, log)


def _listing(root: Path, spec: DatasetSpec, words: dict[str, str] | None, log) -> PreparedData:
    classes, train, val = verify_folders(root, spec)
    index = {w: i for i, w in enumerate(classes)}

    def listing(split: str, table: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        files = [f"{root}/{split}/{w}/{name}" for w in classes for name in table[w]]
        labels = np.concatenate([np.full(len(table[w]), index[w], dtype=np.int64) for w in classes])
        return np.asarray(files, dtype=str), labels

    train_files, train_y = listing("train", train)
    test_files, test_y = listing("val", val)
    log(
        f"ImageNet at {root}: {len(classes)} classes, {len(train_files):,} training, {len(test_files):,} validation images"
    )
    return PreparedData(
        None,
        train_y,
        None,
        test_y,
        classes,
        train_files=train_files,
        test_files=test_files,
        class_words=None if words is None else [words.get(w, "") for w in classes],
    )
