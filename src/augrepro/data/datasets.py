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
    """One downloaded file of a dataset: its exact name, where it is fetched from, its md5."""

    name: str
    url: str
    md5: str | None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    # How the papers' tables print the dataset (the report's column headings; augrepro.data.datasets.dataset_label
    # adds "+" for a CIFAR-style key with the traditional augmentation).
    label: str
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
    # "imagenet" (ILSVRC2012 tarballs + devkit, or extracted train/ and val/ class folders), "cub200", "cars",
    # "aircraft" (augrepro.data.finegrained), "voc" (the Pascal VOC devkit tarballs: Annotations/,
    # ImageSets/Main/, JPEGImages/; augrepro.data.voc).
    layout: str
    inner_dir: str
    # Images in the official splits (what the plan's cost estimate counts; preparation checks them where
    # ``expected_*`` is set).
    train_images: int = 0
    test_images: int = 0
    # Cutout's hole length when neither the protocol nor the study sets one (Cutout README: 16 on CIFAR-10,
    # 8 on CIFAR-100; half the image side elsewhere, the ratio of SalfMix section 5.1).
    cutout_length: int = 16
    # What the prepared data.npz holds: "pixels" (uint8 arrays), "files" (image paths; ImageNet, the fine-grained
    # datasets) or "detection" (an annotation index of image files with boxes; Pascal VOC, never a grid's).
    kind: str = "pixels"
    # Image counts that preparation must find (None: not checked; CIFAR and Tiny-ImageNet are
    # pinned by their md5 instead). ImageNet has no archive checksum, so its counts are checked.
    expected_train: int | None = None
    expected_test: int | None = None
    # Further files of a dataset made of several (Stanford Cars: devkit, training images, test images, test
    # labels; Pascal VOC: 2007 test, 2012 trainval); ``archive``/``url``/``md5`` above are the first one. Each
    # is downloaded and verified on its own, under its own official name.
    more_archives: tuple[Archive, ...] = ()
    # Set when the official URLs no longer serve the files: why, and where to get them; the download then
    # needs data.local_dir or data.mirror (resources/datasets.md).
    urls_gone: str = ""

    @property
    def downloadable(self) -> bool:
        """False for datasets that are never downloaded (ImageNet needs an account)."""
        return self.url != "user:"

    def archives(self) -> tuple[Archive, ...]:
        """Every file the dataset is made of, the first archive first."""
        return (Archive(self.archive, self.url, self.md5), *self.more_archives)

    def archive_named(self, name: str) -> Archive:
        for entry in self.archives():
            if entry.name == name:
                return entry
        names = ", ".join(a.name for a in self.archives())
        raise ValueError(f"{self.name}: no archive named {name!r}; its files are {names}")


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
        label="demo",
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
        label="CIFAR-10",
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
        label="CIFAR-100",
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
        label="TinyImageNet-200",
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
        label="ImageNet",
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
}


# --- fine-grained datasets (SnapMix Tables 1 and 2): file lists of the official splits ----------------------
# image_size 448: the crop of the SnapMix code (utils/conf.py --cropsize 448); the images themselves vary in
# size and are decoded from files (augrepro.data.finegrained, augrepro.data.file_pipelines). Cutout's default
# hole is half that side, the box of the SnapMix code's cutout (utils/mixmethod.py: lam 0.75).

# CUB-200-2011 (Wah et al. 2011), on CaltechDATA (formerly www.vision.caltech.edu/visipedia-data). Caltech prints
# no md5; this is the one public loaders check (TDeVries/cub2011_dataset cub2011.py, tgz_md5). Counts: the
# train_test_split.txt: 5,994 training and 5,794 test images (11,788), 200 classes.
DATASETS["cub200"] = DatasetSpec(
    name="cub200",
    label="CUB-200-2011",
    num_classes=200,
    image_size=448,
    mean=_IMAGENET_MEAN,
    std=_IMAGENET_STD,
    archive="CUB_200_2011.tgz",
    url="https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
    md5="97eceeb196236b17998738112f37df78",
    layout="cub200",
    inner_dir="CUB_200_2011",
    cutout_length=224,
    kind="files",
    expected_train=5_994,
    expected_test=5_794,
    train_images=5_994,
    test_images=5_794,
)
# Stanford Cars (Krause et al. 2013): the four files torchvision's StanfordCars expected, with its md5s
# (torchvision 0.15.2 datasets/stanford_cars.py download()). Counts: its docstring, "8,144 training images and
# 8,041 testing images", 196 classes.
DATASETS["cars"] = DatasetSpec(
    name="cars",
    label="Stanford Cars",
    num_classes=196,
    image_size=448,
    mean=_IMAGENET_MEAN,
    std=_IMAGENET_STD,
    archive="car_devkit.tgz",
    url="https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",
    md5="c3b158d763b6e2245038c8ad08e45376",
    layout="cars",
    inner_dir="",
    cutout_length=224,
    kind="files",
    expected_train=8_144,
    expected_test=8_041,
    train_images=8_144,
    test_images=8_041,
    more_archives=(
        Archive(
            "cars_train.tgz",
            "https://ai.stanford.edu/~jkrause/car196/cars_train.tgz",
            "065e5b463ae28d29e77c1b4b166cfe61",
        ),
        Archive(
            "cars_test.tgz", "https://ai.stanford.edu/~jkrause/car196/cars_test.tgz", "4ce7ebf6a94d07f1952d94dd34c4d501"
        ),
        Archive(
            "cars_test_annos_withlabels.mat",
            "https://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",
            "b0a2b23655a3edd16d84508592a98d10",
        ),
    ),
    urls_gone=(
        "the official Stanford Cars URLs (ai.stanford.edu/~jkrause/cars/) no longer serve the files (torchvision's "
        "StanfordCars says so and points to pytorch/vision#7545 for copies); put car_devkit.tgz, cars_train.tgz, "
        "cars_test.tgz and cars_test_annos_withlabels.mat in data.local_dir, or set data.mirror to a host serving "
        "them (names and md5s in resources/datasets.md)"
    ),
)
# FGVC-Aircraft 2013b (Maji et al. 2013), the variant level: 100 classes, images_variant_trainval.txt (6,667) and
# images_variant_test.txt (3,333). Oxford prints no md5; this is the one public loaders check
# (mlverse/torchvision R/dataset-fgvc.R).
DATASETS["aircraft"] = DatasetSpec(
    name="aircraft",
    label="FGVC-Aircraft",
    num_classes=100,
    image_size=448,
    mean=_IMAGENET_MEAN,
    std=_IMAGENET_STD,
    archive="fgvc-aircraft-2013b.tar.gz",
    url="https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
    md5="d4acdd33327262359767eeaa97a4f732",
    layout="aircraft",
    inner_dir="fgvc-aircraft-2013b",
    cutout_length=224,
    kind="files",
    expected_train=6_667,
    expected_test=3_333,
    train_images=6_667,
    test_images=3_333,
)


# Pascal VOC for the detection-transfer studies (CutMix paper section 4.3 and App. C, SaliencyMix paper section
# 4.2, SalfMix section 5.4): training on VOC 2007 + 2012 trainval, testing on VOC 2007 test. The archives, URLs
# and md5s of torchvision's datasets/voc.py (DATASET_YEAR_DICT "2007", "2007-test", "2012"). Images have many
# sizes (``image_size`` is unused); 20 object classes; the prepared data is an annotation index
# (augrepro.data.voc) with the extracted JPEGs beside it. Counts: VOC 2007 trainval 5,011 + VOC 2012 trainval
# 11,540 training images, VOC 2007 test 4,952 (the devkits' ImageSets/Main/{trainval,test}.txt); the archives
# are pinned by their md5s, so the counts are not checked again.
DATASETS["voc"] = DatasetSpec(
    name="voc",
    label="Pascal VOC",
    num_classes=20,
    image_size=0,
    mean=_IMAGENET_MEAN,
    std=_IMAGENET_STD,
    archive="VOCtrainval_06-Nov-2007.tar",
    url="http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",
    md5="c52e279531787c972589f7e41ab4ae64",
    more_archives=(
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
)


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}") from None


def dataset_label(name: str, traditional: bool = False) -> str:
    """A dataset as the papers' tables head its column: its DatasetSpec's label, with "+" for the traditional
    augmentation in CIFAR-style tables (CIFAR-10+, as in the SaliencyMix and Cutout CIFAR tables; the datasets of
    the CIFAR layouts, the demo included). Other datasets always use their standard crop and flip, so they get no
    "+". An unregistered name is shown as it is, with "+" when traditional."""
    spec = DATASETS.get(str(name).lower())
    if spec is None:
        return str(name) + ("+" if traditional else "")
    return spec.label + ("+" if traditional and spec.layout in ("cifar10", "cifar100") else "")


def with_checksum(spec: DatasetSpec, md5: str | dict | None, archive: str | None = None) -> DatasetSpec:
    """``spec`` with an archive's md5 replaced (config data.checksums: a mirror that repackages an archive);
    ``None`` keeps the published value. ``md5`` is one md5 (the first archive's, or ``archive``'s), or, for a
    dataset of several files, a mapping of file name -> md5 (only ``archive``'s entry is applied when given)."""
    if md5 is None:
        return spec
    if not spec.downloadable or spec.url == "embedded:":
        raise ValueError(f"data.checksums.{spec.name}: {spec.name} has no archive to check; remove the entry")
    table = md5 if isinstance(md5, dict) else {archive or spec.archive: md5}
    for name in table:
        spec.archive_named(name)  # an unknown file name is refused, listing the dataset's files
    if archive is not None:
        table = {k: v for k, v in table.items() if k == archive}
    for name, value in table.items():
        value = str(value).strip().lower()
        entry = spec.archive_named(name)
        key = f"data.checksums.{spec.name}" + (f".{name}" if spec.more_archives else "")
        if not _MD5.match(value):
            raise ValueError(
                f"{key} is {value!r}, not an md5 (32 hexadecimal digits); fix it, or remove the entry to use "
                f"the published {entry.md5}"
            )
        if name == spec.archive:
            spec = replace(spec, md5=value)
        else:
            more = tuple(replace(a, md5=value) if a.name == name else a for a in spec.more_archives)
            spec = replace(spec, more_archives=more)
    return spec


def parse_dataset_key(key: str) -> tuple[str, bool]:
    """``"cifar10+"`` -> ``("cifar10", True)``; the name is checked against DATASETS."""
    name, traditional = runs.parse_dataset_key(key)
    get_spec(name)
    return name, traditional
