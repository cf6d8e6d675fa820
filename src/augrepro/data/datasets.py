"""Dataset specifications: archive names, checksums, class counts and normalization.

A *dataset key* is a dataset name with an optional trailing ``+``: ``cifar10+`` means CIFAR-10 with the
protocol's traditional augmentation (its ``pipeline``: pad-and-crop plus flip in the SaliencyMix CIFAR code,
as in the "+" columns of its CIFAR table), ``cifar10`` means none (``augrepro.runs.parse_dataset_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from augrepro import runs
from augrepro.registry import UnknownNameError

_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Archive:
    """One file a dataset is delivered in: its official file name, URL and published md5."""

    name: str
    url: str
    md5: str | None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    image_size: int
    # Per-channel normalization in [0, 1] units.
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # Archive as downloaded (file name, official URL, md5); url "embedded:" = built locally,
    # url "user:" = never downloaded (ImageNet: the user points data.imagenet_path at it).
    archive: str
    url: str
    md5: str | None
    # Layout of the archive: "cifar10" (data_batch_1..5/test_batch/batches.meta, key b"labels"),
    # "cifar100" (train/test/meta, key b"fine_labels"), "tinyimagenet" (the official zip),
    # "imagenet" (ILSVRC2012 tarballs + devkit, or extracted train/ and val/ class folders), "voc" (the
    # Pascal VOC devkit tarballs: Annotations/, ImageSets/Main/, JPEGImages/; augrepro.data.voc).
    layout: str
    inner_dir: str
    # Images in the official splits (what the plan's cost estimate counts; preparation checks them where
    # ``expected_*`` is set).
    train_images: int = 0
    test_images: int = 0
    # Cutout's hole length when neither the protocol nor the study sets one (Cutout README: 16 on CIFAR-10,
    # 8 on CIFAR-100; half the image side elsewhere, the ratio of SalfMix section 5.1).
    cutout_length: int = 16
    # What the prepared data.npz holds: "pixels" (uint8 arrays), "files" (image paths; ImageNet) or
    # "detection" (an annotation index of image files with boxes; Pascal VOC, never a classification grid's).
    kind: str = "pixels"
    # Image counts that preparation must find (None: not checked; CIFAR and Tiny-ImageNet are
    # pinned by their md5 instead). ImageNet has no archive checksum, so its counts are checked.
    expected_train: int | None = None
    expected_test: int | None = None
    # A dataset delivered in several archives (Pascal VOC: 2007 trainval, 2007 test, 2012 trainval): the
    # archives after the first (which is ``archive``, ``url``, ``md5``). Each is downloaded and verified on
    # its own, under its own official name.
    extra_archives: tuple[Archive, ...] = ()

    @property
    def downloadable(self) -> bool:
        """False for datasets that are never downloaded (ImageNet needs an account)."""
        return self.url != "user:"

    @property
    def archives(self) -> tuple[Archive, ...]:
        """Every archive of the dataset, the first one first."""
        return (Archive(self.archive, self.url, self.md5), *self.extra_archives)

    def archive_named(self, name: str) -> Archive:
        """The archive whose official file name is ``name``; an unknown name lists the valid ones."""
        for archive in self.archives:
            if archive.name == name:
                return archive
        valid = ", ".join(repr(a.name) for a in self.archives)
        raise ValueError(f"{self.name}: archive must be named {valid}, not {name!r}")


# Normalization of the SaliencyMix CIFAR code (SaliencyMix_CIFAR/saliencymix.py):
# mean (125.3, 123.0, 113.9)/255, std (63.0, 62.1, 66.7)/255.
_CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
_CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
# Normalization of the released "ImageNet" script, which reads Tiny-ImageNet
# (SaliencyMix-ImageNet/train.py: Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])).
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

DATASETS: dict[str, DatasetSpec] = {
    # Built offline from data shipped in scikit-learn (see augrepro.data.demo); CIFAR-10 layout.
    "demo": DatasetSpec(
        name="demo",
        num_classes=10,
        image_size=32,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        archive="augrepro-demo-python.tar.gz",
        url="embedded:",
        md5=None,
        layout="cifar10",
        inner_dir="demo-batches-py",
        cutout_length=16,
        train_images=3000,
        test_images=1000,
    ),
    # https://www.cs.toronto.edu/~kriz/cifar.html (python version and its published md5).
    "cifar10": DatasetSpec(
        name="cifar10",
        num_classes=10,
        image_size=32,
        mean=_CIFAR_MEAN,
        std=_CIFAR_STD,
        archive="cifar-10-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        layout="cifar10",
        inner_dir="cifar-10-batches-py",
        cutout_length=16,
        train_images=50_000,
        test_images=10_000,
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        num_classes=100,
        image_size=32,
        mean=_CIFAR_MEAN,
        std=_CIFAR_STD,
        archive="cifar-100-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        layout="cifar100",
        inner_dir="cifar-100-python",
        cutout_length=8,
        train_images=50_000,
        test_images=10_000,
    ),
    # http://cs231n.stanford.edu/tiny-imagenet-200.zip; the course page publishes no md5: this is
    # the value public loaders check (lvyilin/pytorch-fgvc-dataset, tiny_imagenet.py, and many
    # others); data.checksums.tinyimagenet overrides it. See resources/datasets.md.
    "tinyimagenet": DatasetSpec(
        name="tinyimagenet",
        num_classes=200,
        image_size=64,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        archive="tiny-imagenet-200.zip",
        url="http://cs231n.stanford.edu/tiny-imagenet-200.zip",
        md5="90528d7ca1a48142e341f4ef8d21d0de",
        layout="tinyimagenet",
        inner_dir="tiny-imagenet-200",
        # SalfMix section 5.1: "Cutout ... mask size is set to 0.5 ratio of the input image size".
        cutout_length=32,
        train_images=100_000,
        test_images=10_000,
    ),
    # ILSVRC2012 (https://image-net.org/challenges/LSVRC/2012/): never downloaded (it needs an
    # account); `archive` names the folder given by data.imagenet_path. Counts from the devkit's
    # readme.txt (ILSVRC2012_devkit_t12): 1,281,167 training images, 50,000 validation, 1000 synsets.
    "imagenet": DatasetSpec(
        name="imagenet",
        num_classes=1000,
        image_size=224,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        archive="ILSVRC2012",
        url="user:",
        md5=None,
        layout="imagenet",
        inner_dir="",
        # 0.5 of the 224 side, the ratio of SalfMix section 5.1.
        cutout_length=112,
        kind="files",
        expected_train=1_281_167,
        expected_test=50_000,
        train_images=1_281_167,
        test_images=50_000,
    ),
    # Pascal VOC for the detection-transfer studies (CutMix paper section 4.3 and App. C, SaliencyMix paper
    # section 4.2, SalfMix section 5.4): training on VOC 2007 + 2012 trainval, testing on VOC 2007 test. The
    # archives, URLs and md5s of torchvision's datasets/voc.py (DATASET_YEAR_DICT "2007", "2007-test", "2012").
    # Images have many sizes (``image_size`` is unused); 20 object classes; the prepared data is an annotation
    # index (augrepro.data.voc) with the extracted JPEGs beside it. Counts: VOC 2007 trainval 5,011 + VOC 2012
    # trainval 11,540 training images, VOC 2007 test 4,952 (the devkits' ImageSets/Main/{trainval,test}.txt);
    # the archives are pinned by their md5s, so the counts are not checked again.
    "voc": DatasetSpec(
        name="voc",
        num_classes=20,
        image_size=0,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        archive="VOCtrainval_06-Nov-2007.tar",
        url="http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",
        md5="c52e279531787c972589f7e41ab4ae64",
        extra_archives=(
            Archive(
                "VOCtest_06-Nov-2007.tar",
                "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",
                "b6e924de25625d8de591ea690078ad9f",
            ),
            Archive(
                "VOCtrainval_11-May-2012.tar",
                "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                "6cd6e144f989b92b3379bac3b3de84fd",
            ),
        ),
        layout="voc",
        inner_dir="VOCdevkit",
        kind="detection",
        train_images=5_011 + 11_540,
        test_images=4_952,
    ),
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}"
        ) from None


def with_checksum(spec: DatasetSpec, md5, archive: str | None = None) -> DatasetSpec:
    """``spec`` with the md5 of one archive replaced by ``md5`` (config data.checksums: a mirror that
    repackages an archive); ``None`` keeps the published value. ``archive`` names the archive of a dataset
    delivered in several (default: the first); ``md5`` may also map archive names to md5s (config
    data.checksums.voc), each replacing its archive's."""
    if md5 is None:
        return spec
    if isinstance(md5, dict):
        for name, value in md5.items():
            spec = with_checksum(spec, value, str(name))
        return spec
    if spec.extra_archives and archive is None:
        raise ValueError(
            f"data.checksums.{spec.name}: {spec.name} comes in {len(spec.archives)} archives; give one md5 per "
            f"archive name, e.g. {{{spec.extra_archives[0].name}: <md5>}}"
        )
    entry = spec.archive_named(archive) if archive is not None else spec.archives[0]
    key = f"data.checksums.{spec.name}" + (f".{entry.name}" if spec.extra_archives else "")
    md5 = str(md5).strip().lower()
    if not _MD5.match(md5):
        raise ValueError(
            f"{key} is {md5!r}, not an md5 (32 hexadecimal digits); "
            f"fix it, or remove the entry to use the published {entry.md5}"
        )
    if not spec.downloadable or spec.url == "embedded:":
        raise ValueError(f"{key}: {spec.name} has no archive to check; remove the entry")
    if entry.name == spec.archive:
        return replace(spec, md5=md5)
    return replace(spec, extra_archives=tuple(replace(a, md5=md5) if a.name == entry.name else a for a in spec.extra_archives))


def parse_dataset_key(key: str) -> tuple[str, bool]:
    """``"cifar10+"`` -> ``("cifar10", True)``; the name is checked against DATASETS."""
    name, traditional = runs.parse_dataset_key(key)
    get_spec(name)
    return name, traditional
