"""Pascal VOC for detection transfer: the devkit tarballs -> a verified annotation index.

The detection studies train on VOC 2007 + 2012 trainval and test on VOC 2007 test (CutMix paper section 4.3
and App. C; SaliencyMix paper section 4.2; SalfMix section 5.4). The three official tarballs
(``augrepro.data.datasets.DATASETS["voc"]``) each hold ``VOCdevkit/VOC20xx/`` with ``Annotations/<id>.xml``,
``ImageSets/Main/{trainval,test}.txt`` and ``JPEGImages/<id>.jpg`` (torchvision datasets/voc.py reads the
same tree).

Preparation extracts each tarball safely into its own folder under ``images/`` (beside ``data.npz``), reads
the image ids of its split, parses every annotation and checks it, and only then renames the extracted
folder into place and writes the index: a malformed XML file (named in the error), an unknown class, a box
with xmax < xmin, a missing image or annotation refuses the whole preparation, and nothing half-prepared is
left behind.

Conventions (what the index stores):

* Boxes are in continuous 0-based pixel coordinates ``(xmin - 1, ymin - 1, xmax, ymax)`` of the 1-based,
  inclusive integers of the XML files, as Detectron2's ``data/datasets/pascal_voc.py`` converts them (its
  evaluator adds the 1 back; the VOC devkit's ``+ 1`` in widths and areas then equals plain continuous
  geometry on these boxes, see ``augrepro.evaluate.voc_map``).
* ``difficult`` is kept for every object (0 where the tag is missing, as faster-rcnn.pytorch's
  ``_load_pascal_annotation``): the metric ignores difficult objects; training uses them (Detectron2's
  pascal_voc.py: "We include 'difficult' samples in training"; faster-rcnn.pytorch keeps them too).
* Class indices follow ``VOC_CLASSES`` (torchvision's and Detectron2's order); a detector adds 1 for its
  background class.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augrepro.data.datasets import DatasetSpec
from augrepro.data.extract import extract_tar
from augrepro.data.prepared import npz_kind
from augrepro.io import atomic_folder, atomic_savez

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

# Which split each official archive gives: (archive, year folder, ImageSets/Main list, our split).
PARTS = (
    ("VOCtrainval_06-Nov-2007.tar", "VOC2007", "trainval", "train"),
    ("VOCtrainval_11-May-2012.tar", "VOC2012", "trainval", "train"),
    ("VOCtest_06-Nov-2007.tar", "VOC2007", "test", "test"),
)


class VocAnnotationError(ValueError):
    """An annotation file of the archive is malformed; the message names the file and the field."""


@dataclass
class VocIndex:
    """The annotation index of the prepared VOC data (``data.npz`` of kind ``detection``).

    Image ``i`` is ``root/files[i]`` (``width[i]`` x ``height[i]``), with the objects
    ``box_start[i]:box_start[i + 1]`` of ``boxes`` (N x 4, float32), ``labels`` (int64 into ``classes``) and
    ``difficult`` (bool). ``train`` and ``test`` are image indices.
    """

    root: str
    files: np.ndarray
    image_ids: np.ndarray
    width: np.ndarray
    height: np.ndarray
    box_start: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray
    train: np.ndarray
    test: np.ndarray
    classes: list[str]

    def path(self, i: int) -> str:
        return os.path.join(self.root, str(self.files[i]))

    def objects(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes, labels, difficult) of image ``i``."""
        a, b = int(self.box_start[i]), int(self.box_start[i + 1])
        return self.boxes[a:b], self.labels[a:b], self.difficult[a:b]


def _text(node: ET.Element, tag: str, where: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise VocAnnotationError(f"{where}: <{tag}> is missing or empty")
    return child.text.strip()


def _number(node: ET.Element, tag: str, where: str) -> float:
    text = _text(node, tag, where)
    try:
        return float(text)
    except ValueError:
        raise VocAnnotationError(f"{where}: <{tag}> is {text!r}, not a number") from None


def parse_annotation(path: str | os.PathLike, name: str | None = None) -> dict:
    """One VOC annotation file: ``{"width", "height", "boxes" (0-based continuous), "labels", "difficult"}``.

    ``name`` is how errors name the file (default: its path). Raises :class:`VocAnnotationError` for XML that
    does not parse, a missing size or box field, an unknown class, a non-integer ``difficult``, or a box whose
    max is below its min.
    """
    where = name or str(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise VocAnnotationError(f"{where}: malformed XML ({exc}); the archive is damaged: download it again") from None
    except OSError as exc:
        raise VocAnnotationError(f"{where}: cannot be read ({exc})") from None
    if root.tag != "annotation":
        raise VocAnnotationError(f"{where}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise VocAnnotationError(f"{where}: <size> is missing")
    width, height = _number(size, "width", where + " <size>"), _number(size, "height", where + " <size>")
    if width <= 0 or height <= 0:
        raise VocAnnotationError(f"{where}: image size {width:g} x {height:g} is not positive")
    boxes, labels, difficult = [], [], []
    for k, obj in enumerate(root.findall("object")):
        at = f"{where} <object> {k + 1}"
        cls = _text(obj, "name", at).lower()
        if cls not in VOC_CLASSES:
            raise VocAnnotationError(f"{at}: unknown class {cls!r}; valid classes: {', '.join(VOC_CLASSES)}")
        diff_node = obj.find("difficult")
        diff_text = (diff_node.text or "").strip() if diff_node is not None else "0"
        if diff_text not in ("0", "1"):
            raise VocAnnotationError(f"{at}: <difficult> is {diff_text!r}, expected 0 or 1")
        box = obj.find("bndbox")
        if box is None:
            raise VocAnnotationError(f"{at}: <bndbox> is missing")
        x1, y1, x2, y2 = (_number(box, t, at + " <bndbox>") for t in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise VocAnnotationError(f"{at}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has its max below its min")
        boxes.append((x1 - 1.0, y1 - 1.0, x2, y2))  # Detectron2 pascal_voc.py: 1-based inclusive -> 0-based
        labels.append(VOC_CLASSES.index(cls))
        difficult.append(diff_text == "1")
    return {
        "width": int(round(width)),
        "height": int(round(height)),
        "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        "labels": np.asarray(labels, dtype=np.int64),
        "difficult": np.asarray(difficult, dtype=bool),
    }


def read_voc_folder(root: Path, log=print) -> VocIndex:
    """Read the extracted archives under ``root`` (one folder per archive, named like it without ``.tar``)."""
    root = Path(root)
    files: list[str] = []
    ids: list[str] = []
    widths: list[int] = []
    heights: list[int] = []
    starts = [0]
    boxes: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    difficult: list[np.ndarray] = []
    splits: dict[str, list[int]] = {"train": [], "test": []}
    for archive, year, listing, split in PARTS:
        base = Path(archive[: -len(".tar")]) / "VOCdevkit" / year
        list_file = root / base / "ImageSets" / "Main" / f"{listing}.txt"
        if not list_file.is_file():
            raise VocAnnotationError(
                f"{archive}: {base}/ImageSets/Main/{listing}.txt is missing; is it the right archive?"
            )
        image_ids = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
        if not image_ids:
            raise VocAnnotationError(f"{archive}: {base}/ImageSets/Main/{listing}.txt lists no image")
        for image_id in image_ids:
            xml = base / "Annotations" / f"{image_id}.xml"
            jpg = base / "JPEGImages" / f"{image_id}.jpg"
            if not (root / jpg).is_file():
                raise VocAnnotationError(f"{archive}: {jpg} is missing (listed in ImageSets/Main/{listing}.txt)")
            if not (root / xml).is_file():
                raise VocAnnotationError(f"{archive}: {xml} is missing (listed in ImageSets/Main/{listing}.txt)")
            ann = parse_annotation(root / xml, f"{archive}: {xml}")
            splits[split].append(len(files))
            files.append(str(jpg))
            ids.append(f"{year}/{image_id}")
            widths.append(ann["width"])
            heights.append(ann["height"])
            boxes.append(ann["boxes"])
            labels.append(ann["labels"])
            difficult.append(ann["difficult"])
            starts.append(starts[-1] + len(ann["labels"]))
        log(f"{archive}: {len(image_ids)} images of {year} {listing}")
    return VocIndex(
        root=str(root),
        files=np.asarray(files, dtype=str),
        image_ids=np.asarray(ids, dtype=str),
        width=np.asarray(widths, dtype=np.int32),
        height=np.asarray(heights, dtype=np.int32),
        box_start=np.asarray(starts, dtype=np.int64),
        boxes=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
        labels=np.concatenate(labels) if labels else np.zeros(0, np.int64),
        difficult=np.concatenate(difficult) if difficult else np.zeros(0, bool),
        train=np.asarray(splits["train"], dtype=np.int64),
        test=np.asarray(splits["test"], dtype=np.int64),
        classes=list(VOC_CLASSES),
    )


def save_voc_index(index: VocIndex, path: str | os.PathLike) -> None:
    """Write the index atomically (temporary name, then rename); ``root`` is stored as an absolute path."""
    atomic_savez(
        Path(path),
        kind=np.asarray("detection"),
        root=np.asarray(os.path.abspath(index.root)),
        files=index.files,
        image_ids=index.image_ids,
        width=index.width,
        height=index.height,
        box_start=index.box_start,
        boxes=index.boxes,
        labels=index.labels,
        difficult=index.difficult,
        train=index.train,
        test=index.test,
        classes=np.asarray(index.classes, dtype=str),
    )


def load_voc_index(path: str | os.PathLike) -> VocIndex:
    """Read an index written by :func:`save_voc_index`."""
    with np.load(path, allow_pickle=False) as f:
        kind = npz_kind(f, path)
        if kind != "detection":
            raise ValueError(f"{path}: prepared data of kind {kind!r}, not a detection index (prepare voc)")
        return VocIndex(
            root=str(f["root"]),
            files=f["files"],
            image_ids=f["image_ids"],
            width=f["width"],
            height=f["height"],
            box_start=f["box_start"],
            boxes=f["boxes"],
            labels=f["labels"],
            difficult=f["difficult"],
            train=f["train"],
            test=f["test"],
            classes=[str(c) for c in f["classes"]],
        )


def prepare_voc(spec: DatasetSpec, archives, out_npz: str | os.PathLike, images_dir=None, log=print) -> VocIndex:
    """Extract the VOC tarballs safely, parse and check every annotation, then put the images in place
    (``images_dir``, default ``images/`` beside ``out_npz``) and write the index to ``out_npz``."""
    out_npz = Path(out_npz)
    images = Path(images_dir) if images_dir is not None else out_npz.parent / "images"
    given = {Path(a).name: Path(a) for a in ([archives] if isinstance(archives, (str, os.PathLike)) else archives)}
    needed = [a.name for a in spec.archives()]
    unknown = sorted(set(given) - set(needed))
    if unknown:
        raise ValueError(f"{spec.name}: unexpected archive {unknown[0]!r}; the archives are {', '.join(needed)}")
    missing = [n for n in needed if n not in given]
    if missing:
        raise ValueError(f"{spec.name}: archive {missing[0]} is missing; preparation needs {', '.join(needed)}")
    found: dict[str, VocIndex] = {}

    def fill(tmp: Path) -> None:
        for name in needed:
            log(f"extracting {given[name]}")
            extract_tar(given[name], tmp / name[: -len(".tar")])
        found["index"] = read_voc_folder(tmp, log=log)

    atomic_folder(images, fill)  # nothing is renamed into place unless every annotation parsed and checked
    index = found["index"]
    index.root = str(images.resolve())
    save_voc_index(index, out_npz)
    log(
        f"{out_npz}: {len(index.train)} training and {len(index.test)} test images, {len(index.labels)} objects "
        f"({int(index.difficult.sum())} difficult)"
    )
    return index
