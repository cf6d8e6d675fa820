"""CUB-200-2011, Stanford Cars and FGVC-Aircraft from archives in their real layouts, served from 127.0.0.1.

Each test builds small archives with the official inner layout and file formats (the split text files, the
devkit's MATLAB structs), fetches them through the real download code from a local HTTP server (md5 checked)
and prepares them. The tiny archives hold a few images per class, so the tests override the official image
and class counts of the spec (``dataclasses.replace``); a test also checks that the real counts refuse them.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project, snakemake, write_config
from scipy.io import savemat
from test_datasets_real import _jpeg, _tar_bytes, quiet
from test_download import MirrorServer, md5_bytes

from augrepro.data import get_spec, load_prepared
from augrepro.data.datasets import with_checksum
from augrepro.data.download import ChecksumError, DownloadError, fetch
from augrepro.data.extract import UnsafeArchiveError
from augrepro.data.finegrained import FineGrainedLayoutError
from augrepro.data.prepare import prepare


def small_spec(name: str, files: dict[str, bytes], classes: int, train: int, test: int):
    """The registered spec with the fixture's counts and md5s (a test-only override)."""
    spec = get_spec(name)
    spec = dataclasses.replace(spec, num_classes=classes, expected_train=train, expected_test=test)
    return with_checksum(spec, {entry.name: md5_bytes(files[entry.name]) for entry in spec.archives()})


def _jpegs(rng, n: int) -> list[bytes]:
    return [_jpeg(rng, size=int(rng.integers(12, 24)), grey=bool(i == 1)) for i in range(n)]


# --- the three layouts ------------------------------------------------------------------------------------


def cub_archive(rng, extra: dict | None = None):
    """CUB_200_2011.tgz: images.txt, image_class_labels.txt, train_test_split.txt, classes.txt, images/ (3 classes)."""
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    rows = [(1, 1, 1), (2, 1, 0), (3, 2, 1), (4, 2, 1), (5, 3, 0), (6, 3, 1), (7, 2, 0)]  # id, class, is_train
    images = _jpegs(rng, len(rows))
    base = "CUB_200_2011"
    members = {"attributes.txt": b"1 has_bill_shape::curved\n"}  # the real tgz has it beside CUB_200_2011/
    paths = {i: f"{classes[c - 1]}/{classes[c - 1].split('.', 1)[1]}_{i:04d}_{i}.jpg" for i, c, _ in rows}
    members[f"{base}/images.txt"] = "".join(f"{i} {paths[i]}\n" for i, _, _ in rows).encode()
    members[f"{base}/image_class_labels.txt"] = "".join(f"{i} {c}\n" for i, c, _ in rows).encode()
    members[f"{base}/train_test_split.txt"] = "".join(f"{i} {t}\n" for i, _, t in rows).encode()
    members[f"{base}/classes.txt"] = "".join(f"{k + 1} {n}\n" for k, n in enumerate(classes)).encode()
    members[f"{base}/bounding_boxes.txt"] = "".join(f"{i} 1.0 2.0 10.0 8.0\n" for i, _, _ in rows).encode()
    members[f"{base}/README"] = b"CUB-200-2011\n"
    for (i, _, _), jpeg in zip(rows, images):
        members[f"{base}/images/{paths[i]}"] = jpeg
    members.update(extra or {})
    expected = {
        "train": ([f"{base}/images/{paths[i]}" for i, _, t in rows if t], [c - 1 for _, c, t in rows if t]),
        "test": ([f"{base}/images/{paths[i]}" for i, _, t in rows if not t], [c - 1 for _, c, t in rows if not t]),
        "classes": classes,
    }
    return {"CUB_200_2011.tgz": _tar_bytes(members, dirs=(base, f"{base}/images"))}, expected


_ANNOTATION = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]


def _mat(**variables) -> bytes:
    buf = io.BytesIO()
    savemat(buf, variables)
    return buf.getvalue()


def _annotations(labels: list[int] | None, n: int) -> np.ndarray:
    """The devkit's struct array (1 x n): bounding box, class (1-based; absent in cars_test_annos.mat), fname."""
    fields = _ANNOTATION if labels is not None else [f for f in _ANNOTATION if f[0] != "class"]
    out = np.zeros((1, n), dtype=fields)
    for i in range(n):
        box = (np.uint16(3), np.uint16(4), np.uint16(40), np.uint16(30))
        out[0, i] = (
            (*box, np.uint8(labels[i]), f"{i + 1:05d}.jpg") if labels is not None else (*box, f"{i + 1:05d}.jpg")
        )
    return out


def cars_archives(rng):
    """car_devkit.tgz, cars_train.tgz, cars_test.tgz, cars_test_annos_withlabels.mat (3 classes)."""
    names = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"]
    train_labels, test_labels = [1, 2, 3, 1, 2], [3, 1, 2, 2]
    devkit = {
        "devkit/cars_meta.mat": _mat(class_names=np.array([names], dtype=object)),
        "devkit/cars_train_annos.mat": _mat(annotations=_annotations(train_labels, 5)),
        "devkit/cars_test_annos.mat": _mat(annotations=_annotations(None, 4)),
        "devkit/README.txt": b"devkit\n",
    }
    train = {f"cars_train/{i + 1:05d}.jpg": j for i, j in enumerate(_jpegs(rng, 5))}
    test = {f"cars_test/{i + 1:05d}.jpg": j for i, j in enumerate(_jpegs(rng, 4))}
    files = {
        "car_devkit.tgz": _tar_bytes(devkit, dirs=("devkit",)),
        "cars_train.tgz": _tar_bytes(train, dirs=("cars_train",)),
        "cars_test.tgz": _tar_bytes(test, dirs=("cars_test",)),
        "cars_test_annos_withlabels.mat": _mat(annotations=_annotations(test_labels, 4)),
    }
    expected = {
        "train": ([f"cars_train/{i + 1:05d}.jpg" for i in range(5)], [c - 1 for c in train_labels]),
        "test": ([f"cars_test/{i + 1:05d}.jpg" for i in range(4)], [c - 1 for c in test_labels]),
        "classes": names,
    }
    return files, expected


def aircraft_archive(rng):
    """fgvc-aircraft-2013b.tar.gz: data/variants.txt, images_variant_{trainval,test}.txt, images/ (3 variants)."""
    variants = ["707-320", "A300B4", "Cessna 172"]  # a variant name may hold spaces
    order = sorted(variants)  # SnapMix code: np.unique of the names
    trainval = [("1025794", "707-320"), ("1340192", "Cessna 172"), ("0056978", "A300B4"), ("2081398", "Cessna 172")]
    test = [("1514522", "A300B4"), ("0917302", "707-320"), ("2201174", "Cessna 172")]
    data = "fgvc-aircraft-2013b/data"
    members = {
        f"{data}/variants.txt": "".join(f"{v}\n" for v in variants).encode(),
        f"{data}/families.txt": b"Boeing 707\nA300\nCessna 172\n",
        f"{data}/images_variant_trainval.txt": "".join(f"{i} {v}\n" for i, v in trainval).encode(),
        f"{data}/images_variant_test.txt": "".join(f"{i} {v}\n" for i, v in test).encode(),
        f"{data}/images_variant_train.txt": "".join(f"{i} {v}\n" for i, v in trainval[:2]).encode(),
        f"{data}/images_box.txt": b"1025794 1 2 30 20\n",
        "fgvc-aircraft-2013b/README.html": b"<html></html>",
    }
    for (image_id, _), jpeg in zip(trainval + test, _jpegs(rng, len(trainval) + len(test))):
        members[f"{data}/images/{image_id}.jpg"] = jpeg
    expected = {
        "train": ([f"{data}/images/{i}.jpg" for i, _ in trainval], [order.index(v) for _, v in trainval]),
        "test": ([f"{data}/images/{i}.jpg" for i, _ in test], [order.index(v) for _, v in test]),
        "classes": order,
    }
    return {"fgvc-aircraft-2013b.tar.gz": _tar_bytes(members, dirs=(data, f"{data}/images"))}, expected


BUILDERS = {
    "cub200": (cub_archive, 3, 4, 3),
    "cars": (cars_archives, 3, 5, 4),
    "aircraft": (aircraft_archive, 3, 4, 3),
}


def fetch_all(spec, files: dict[str, bytes], url: str, downloads: Path) -> list[Path]:
    return [fetch(spec, downloads / entry.name, mirror=url, log=quiet) for entry in spec.archives()]


# --- tests ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILDERS))
def test_served_archives_are_fetched_verified_and_prepared_into_the_official_splits(tmp_path, name):
    build, classes, train, test = BUILDERS[name]
    files, expected = build(np.random.default_rng(1))
    spec = small_spec(name, files, classes, train, test)
    with MirrorServer(files) as mirror:
        archives = fetch_all(spec, files, mirror.url, tmp_path / "downloads")
        assert sorted(r[0] for r in mirror.requests) == sorted(files)
    out = tmp_path / "data" / name / "data.npz"
    prepare(spec, archives if len(archives) > 1 else archives[0], out, log=quiet)
    data = load_prepared(out)
    root = (tmp_path / "data" / name / "images").resolve()
    assert data.kind == "files" and data.classes == expected["classes"]
    for split, files_, labels in (("train", data.train_files, data.train_y), ("test", data.test_files, data.test_y)):
        assert [str(Path(f).relative_to(root)) for f in files_] == expected[split][0]
        assert labels.tolist() == expected[split][1]
        assert all(Path(f).is_file() for f in files_)
    # the extraction is the only thing left beside data.npz (no temporary folders)
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.npz", "images"]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_official_counts_refuse_a_partial_copy_and_leave_nothing(tmp_path, name):
    build, *_ = BUILDERS[name]
    files, _ = build(np.random.default_rng(2))
    spec = get_spec(name)
    spec = with_checksum(spec, {e.name: md5_bytes(files[e.name]) for e in spec.archives()})  # real counts
    for entry_name, payload in files.items():
        (tmp_path / entry_name).write_bytes(payload)
    archives = [tmp_path / e.name for e in spec.archives()]
    out = tmp_path / "data" / "data.npz"
    with pytest.raises(FineGrainedLayoutError) as err:
        prepare(spec, archives if len(archives) > 1 else archives[0], out, log=quiet)
    assert f"expected {spec.expected_train:,}" in str(err.value) and f"expected {spec.num_classes}" in str(err.value)
    assert not out.exists() and not (out.parent / "images").exists()
    assert [p.name for p in out.parent.iterdir()] == []


def test_a_bad_checksum_is_refused_and_nothing_is_kept(tmp_path):
    files, _ = aircraft_archive(np.random.default_rng(3))
    spec = get_spec("aircraft")  # the published md5, which the tiny archive does not have
    dest = tmp_path / "downloads" / "fgvc-aircraft-2013b.tar.gz"
    with MirrorServer(files) as mirror:
        with pytest.raises(ChecksumError, match=f"does not match the expected {spec.md5}"):
            fetch(spec, dest, mirror=mirror.url, log=quiet)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    cars_files, _ = cars_archives(np.random.default_rng(3))
    cars = with_checksum(get_spec("cars"), {"cars_train.tgz": md5_bytes(cars_files["cars_train.tgz"])})
    assert cars.archive_named("cars_test.tgz").md5 == "4ce7ebf6a94d07f1952d94dd34c4d501"  # only the named file changes
    with MirrorServer(cars_files) as mirror:
        fetch(cars, tmp_path / "downloads" / "cars_train.tgz", mirror=mirror.url, log=quiet)
        with pytest.raises(ChecksumError, match=r"data.checksums.cars \(a mapping: \{cars_test.tgz: <md5>\}\)"):
            fetch(cars, tmp_path / "downloads" / "cars_test.tgz", mirror=mirror.url, log=quiet)
    with pytest.raises(ValueError, match="no archive named 'cars.zip'"):
        with_checksum(get_spec("cars"), {"cars.zip": "0" * 32})


@pytest.mark.parametrize(
    "member, reason",
    [("CUB_200_2011/../../evil.txt", "contains '..'"), ("/tmp/evil.txt", "absolute path")],
)
def test_traversal_members_refuse_the_archive_and_prepare_nothing(tmp_path, member, reason):
    files, _ = cub_archive(np.random.default_rng(4), extra={member: b"evil"})
    spec = small_spec("cub200", files, 3, 4, 3)
    archive = tmp_path / "CUB_200_2011.tgz"
    archive.write_bytes(files["CUB_200_2011.tgz"])
    out = tmp_path / "data" / "cub200" / "data.npz"
    with pytest.raises(UnsafeArchiveError, match=reason):
        prepare(spec, archive, out, log=quiet)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_a_listed_image_missing_from_the_archive_is_named(tmp_path):
    import tarfile

    files, expected = cub_archive(np.random.default_rng(5))
    # the same archive without one training image
    drop = expected["train"][0][1]
    buf = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(files["CUB_200_2011.tgz"])) as src,
        tarfile.open(fileobj=buf, mode="w:gz") as dst,
    ):
        for m in src.getmembers():
            if m.name != drop:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    files["CUB_200_2011.tgz"] = buf.getvalue()
    spec = small_spec("cub200", files, 3, 4, 3)
    (tmp_path / "CUB_200_2011.tgz").write_bytes(files["CUB_200_2011.tgz"])
    with pytest.raises(
        FineGrainedLayoutError, match=f"1 training images listed by the split files are missing.*{Path(drop).name}"
    ):
        prepare(spec, tmp_path / "CUB_200_2011.tgz", tmp_path / "out" / "data.npz", log=quiet)


def test_stanford_cars_needs_local_dir_or_mirror_and_says_where(tmp_path):
    spec = get_spec("cars")
    with pytest.raises(DownloadError, match="data.local_dir.*resources/datasets.md"):
        fetch(spec, tmp_path / "car_devkit.tgz", log=quiet)
    files, _ = cars_archives(np.random.default_rng(6))
    local = tmp_path / "archives"
    local.mkdir()
    for name, payload in files.items():
        (local / name).write_bytes(payload)
    small = small_spec("cars", files, 3, 5, 4)
    with MirrorServer() as mirror:  # local_dir wins over the mirror, and needs no network
        for entry in small.archives():
            fetch(small, tmp_path / "downloads" / entry.name, mirror=mirror.url, local_dir=local, log=quiet)
        assert mirror.requests == []
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == sorted(files)


@pytest.mark.slow
def test_workflow_fetches_stanford_cars_four_files_and_prepares_them_with_the_official_counts(tmp_path):
    """The rules end to end: four downloads from the mirror (md5s from a data.checksums mapping), one prepare that
    reads all four and refuses the tiny copy for its counts, naming them, and leaves nothing prepared."""
    files, _ = cars_archives(np.random.default_rng(7))
    project = copy_project(tmp_path / "project")
    with MirrorServer(files) as mirror:
        checksums = {"cars": {name: md5_bytes(payload) for name, payload in files.items()}}
        config = write_config(tmp_path / "cars.yaml", {"data": {"mirror": mirror.url, "checksums": checksums}})
        run = snakemake(project, "results/data/cars/data.npz", "--cores", "1", "--configfile", str(config))
        assert sorted(r[0] for r in mirror.requests) == sorted(files)
    assert run.returncode != 0
    downloads = project / "results" / "downloads" / "cars"
    assert sorted(p.name for p in downloads.iterdir()) == sorted(files)
    log = (project / "results" / "logs" / "prepare" / "cars.log").read_text()
    assert "5 training images, expected 8,144" in log and "3 classes, expected 196" in log
    prepared = project / "results" / "data" / "cars"
    assert not prepared.exists() or list(prepared.iterdir()) == []
