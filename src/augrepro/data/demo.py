"""The embedded demo dataset: built offline and deterministically from data inside scikit-learn.

Ten classes (the digits 0-9 of scikit-learn's handwritten digits, 8x8) drawn at a random place,
scale, colour and opacity onto 32x32 crops of the two photographs that ship with scikit-learn
(``china.jpg``, ``flower.jpg``). The digit's box covers at most 35 % of the image, so where
a mixing method cuts its patch matters. Train and test use disjoint digit samples.

The result is written as a CIFAR-10-style python archive (``demo-batches-py/data_batch_1..5``,
``test_batch``, ``batches.meta``; pickles with the same byte-string keys as the real CIFAR-10
files), so that the demo goes through the same download rule, extraction and loader as CIFAR.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from augrepro.io import atomic_open

SEED = 20210503
TRAIN_SIZE = 3000
TEST_SIZE = 1000
CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TRAIN_DIGIT_POOL = 1300  # digits[:1300] feed the training set, digits[1300:] the test set


def _resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """Separable bilinear resize of a 2-D array to size x size (align-corners=False)."""
    h, w = img.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    wy = (ys - y0)[:, None]
    wx = (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _background(photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A 32x32 crop of a photo: a (32k)x(32k) window, k in 1..5, block-averaged to 32x32."""
    photo = photos[rng.integers(len(photos))]
    k = int(rng.integers(1, 6))
    side = 32 * k
    y = int(rng.integers(0, photo.shape[0] - side + 1))
    x = int(rng.integers(0, photo.shape[1] - side + 1))
    crop = photo[y : y + side, x : x + side].astype(np.float64)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = crop.reshape(32, k, 32, k, 3).mean(axis=(1, 3))
    return crop.mean(axis=(0, 1)) + 0.6 * (crop - crop.mean(axis=(0, 1)))  # softened clutter


def _compose(digit: np.ndarray, bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(14, 20))  # 14..19 px: at most 35 % of the 32x32 area
    alpha = np.clip(_resize_bilinear(digit / 16.0, size) * 2.5, 0.0, 1.0) * rng.uniform(0.75, 1.0)
    y = int(rng.integers(0, 32 - size + 1))
    x = int(rng.integers(0, 32 - size + 1))
    out = bg.copy()
    region = out[y : y + size, x : x + size]
    # A colour that stands out from the local background: its complement, jittered.
    colour = np.clip(255.0 - region.mean(axis=(0, 1)) + rng.normal(0.0, 40.0, size=3), 0, 255)
    out[y : y + size, x : x + size] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
    out += rng.normal(0.0, 4.0, size=out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def build_arrays(train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE, seed: int = SEED):
    """Return (train_x, train_y, test_x, test_y); x as N x 3 x 32 x 32 uint8 (CIFAR's CHW order)."""
    from sklearn.datasets import load_digits, load_sample_images

    digits = load_digits()
    photos = [np.asarray(p) for p in load_sample_images().images]
    rng = np.random.default_rng(seed)
    pools = {
        "train": np.arange(_TRAIN_DIGIT_POOL),
        "test": np.arange(_TRAIN_DIGIT_POOL, len(digits.target)),
    }
    out = []
    for split, n in (("train", train_size), ("test", test_size)):
        pool = pools[split]
        by_class = [pool[digits.target[pool] == c] for c in range(10)]
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = np.empty((n, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            digit = digits.images[rng.choice(by_class[label])]
            images[i] = _compose(digit, _background(photos, rng), rng).transpose(2, 0, 1)
        out += [images, labels.astype(np.int64)]
    return tuple(out)


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def _batch(images: np.ndarray, labels: np.ndarray, label: str, start: int) -> bytes:
    record = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": images.reshape(len(images), -1),
        b"filenames": [f"demo_{start + i:05d}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(record, protocol=2)


def build_archive(path: str | os.PathLike, train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE) -> Path:
    """Write the demo archive (byte-identical on every run) to ``path`` atomically."""
    path = Path(path)
    train_x, train_y, test_x, test_y = build_arrays(train_size, test_size)
    inner = "demo-batches-py"
    with atomic_open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                for b, idx in enumerate(np.array_split(np.arange(train_size), 5), start=1):
                    payload = _batch(train_x[idx], train_y[idx], f"training batch {b} of 5", int(idx[0]))
                    _add_bytes(tar, f"{inner}/data_batch_{b}", payload)
                _add_bytes(tar, f"{inner}/test_batch", _batch(test_x, test_y, "testing batch 1 of 1", 0))
                meta = {
                    b"num_cases_per_batch": train_size // 5,
                    b"label_names": [n.encode() for n in CLASS_NAMES],
                    b"num_vis": 3072,
                }
                _add_bytes(tar, f"{inner}/batches.meta", pickle.dumps(meta, protocol=2))
    return path
