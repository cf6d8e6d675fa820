"""Dataset specifications: archive names, checksums, class counts and normalization.

A *dataset key* is a dataset name with an optional trailing ``+``: ``cifar10+`` means CIFAR-10
with the traditional random crop and horizontal flip, as in the "+" columns of the SaliencyMix
CIFAR table (seed 001); ``cifar10`` means no crop and no flip.
"""

from __future__ import annotations

from dataclasses import dataclass

from augrepro.registry import UnknownNameError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    image_size: int
    # Per-channel normalization in [0, 1] units.
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # Archive as downloaded (file name, official URL, md5); url "embedded:" = built locally.
    archive: str
    url: str
    md5: str | None
    # Layout of the archive: "cifar10" (data_batch_1..5/test_batch/batches.meta, key b"labels")
    # or "cifar100" (train/test/meta, key b"fine_labels").
    layout: str
    inner_dir: str
    # Zero padding of the traditional random crop (RandomCrop(32, padding=4) in the released code).
    crop_padding: int = 4
    # Cutout's hole length for this dataset (Cutout README: 16 on CIFAR-10, 8 on CIFAR-100).
    cutout_length: int = 16


# Normalization of the SaliencyMix CIFAR code (SaliencyMix_CIFAR/saliencymix.py):
# mean (125.3, 123.0, 113.9)/255, std (63.0, 62.1, 66.7)/255.
_CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
_CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)

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
    ),
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}"
        ) from None


def parse_dataset_key(key: str) -> tuple[str, bool]:
    """``"cifar10+"`` -> ``("cifar10", True)``; the name is checked against DATASETS."""
    traditional = key.endswith("+")
    name = key[:-1] if traditional else key
    get_spec(name)
    return name, traditional
