"""Real-format datasets: CIFAR-10/100 tarballs, the Tiny-ImageNet zip and ImageNet from a user folder.

The tests build small archives with the real inner layout, file names and pickle keys, serve them
from a local HTTP server (tests/test_download.py's MirrorServer) and run the real workflow rules.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project, snakemake, write_config
from PIL import Image
from scipy.io import savemat
from test_download import MirrorServer, md5_bytes

from augrepro.data import get_spec, load_prepared
from augrepro.data.extract import UnsafeArchiveError, extract_zip
from augrepro.data.imagenet import DEVKIT, TRAIN_TAR, VAL_TAR, ImageNetLayoutError, read_imagenet
from augrepro.data.prepare import prepare
from augrepro.data.prepared import PreparedData, save_prepared


def quiet(*_args) -> None:
    pass


# ---------------------------------------------------------------------------------------------
# archives in the real formats
# ---------------------------------------------------------------------------------------------


def _tar_bytes(members: dict[str, bytes], mode: str = "w:gz", dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _batch(rows: np.ndarray, labels: list[int], key: bytes, label: bytes) -> bytes:
    record = {
        b"batch_label": label,
        key: labels,
        b"data": rows,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(rows))],
    }
    return pickle.dumps(record, protocol=2)


def cifar10_archive(rng: np.random.Generator, per_batch: int = 2, test_n: int = 3):
    """(tar.gz bytes, expected PreparedData) in the layout of cifar-10-python.tar.gz."""
    inner = "cifar-10-batches-py"
    members, xs, ys = {}, [], []
    for b in range(1, 6):
        rows = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        members[f"{inner}/data_batch_{b}"] = _batch(rows, labels, b"labels", f"training batch {b} of 5".encode())
        xs.append(rows)
        ys += labels
    test_rows = rng.integers(0, 256, (test_n, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, test_n)]
    members[f"{inner}/test_batch"] = _batch(test_rows, test_labels, b"labels", b"testing batch 1 of 1")
    names = [f"cls{c}" for c in range(10)]
    members[f"{inner}/batches.meta"] = pickle.dumps(
        {b"num_cases_per_batch": per_batch, b"label_names": [n.encode() for n in names], b"num_vis": 3072}, protocol=2
    )
    members[f"{inner}/readme.html"] = b"<html></html>"
    expected = PreparedData(
        np.concatenate(xs).reshape(-1, 3, 32, 32),
        np.asarray(ys),
        test_rows.reshape(-1, 3, 32, 32),
        np.asarray(test_labels),
        names,
    )
    return _tar_bytes(members, dirs=(inner,)), expected


def cifar100_archive(rng: np.random.Generator):
    inner = "cifar-100-python"
    members, arrays = {}, {}
    for split, n in (("train", 5), ("test", 3)):
        rows = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(20, 100, n)]  # >= 20: never a coarse label
        record = {
            b"filenames": [f"{split}_{i}.png".encode() for i in range(n)],
            b"batch_label": f"{split} batch".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
            b"data": rows,
        }
        members[f"{inner}/{split}"] = pickle.dumps(record, protocol=2)
        arrays[split] = (rows.reshape(-1, 3, 32, 32), np.asarray(fine))
    names = [f"fine{c}" for c in range(100)]
    members[f"{inner}/meta"] = pickle.dumps(
        {b"fine_label_names": [n.encode() for n in names], b"coarse_label_names": [b"c"] * 20}, protocol=2
    )
    expected = PreparedData(*arrays["train"], *arrays["test"], names)
    return _tar_bytes(members, dirs=(inner,)), expected


def _jpeg(rng: np.random.Generator, size: int = 64, grey: bool = False) -> bytes:
    shape = (size, size) if grey else (size, size, 3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _decoded(jpeg: bytes) -> np.ndarray:
    """What the archive holds, as pixels: the JPEG decoded to RGB, channels first."""
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).transpose(2, 0, 1)


TINY_WNIDS = [f"n{9_000_000 - 7 * i:08d}" for i in range(200)]  # not in sorted order


def tiny_imagenet_zip(rng: np.random.Generator, per_class: int = 1, n_val: int = 6, extra: dict | None = None):
    """(zip bytes, expected PreparedData) in the layout of tiny-imagenet-200.zip (200 classes)."""
    root = "tiny-imagenet-200"
    members: dict[str, bytes] = {
        f"{root}/wnids.txt": "".join(f"{w}\n" for w in TINY_WNIDS).encode(),
        # words.txt covers all of WordNet in the real file: more wnids than the 200 classes
        f"{root}/words.txt": "".join(f"{w}\tthing {w[-3:]}, stuff\n" for w in TINY_WNIDS + ["n00000001"]).encode(),
    }
    classes = sorted(TINY_WNIDS)
    train_x, train_y = [], []
    for c, wnid in enumerate(classes):
        boxes = []
        for i in range(per_class):
            name = f"{wnid}_{i}.JPEG"
            jpeg = _jpeg(rng, grey=(c == 3 and i == 0))  # the real set has some greyscale images
            members[f"{root}/train/{wnid}/images/{name}"] = jpeg
            boxes.append(f"{name}\t0\t0\t63\t63\n")
            train_x.append(_decoded(jpeg))
            train_y.append(c)
        members[f"{root}/train/{wnid}/{wnid}_boxes.txt"] = "".join(boxes).encode()
    annotations, val = [], {}
    for i in range(n_val):
        wnid = TINY_WNIDS[int(rng.integers(0, 200))]
        jpeg = _jpeg(rng)
        members[f"{root}/val/images/val_{i}.JPEG"] = jpeg
        annotations.append(f"val_{i}.JPEG\t{wnid}\t1\t2\t60\t61\n")
        val[f"val_{i}.JPEG"] = (_decoded(jpeg), classes.index(wnid))
    members[f"{root}/val/val_annotations.txt"] = "".join(annotations).encode()
    members[f"{root}/test/images/test_0.JPEG"] = _jpeg(rng)
    members.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for d in (f"{root}/", f"{root}/train/", f"{root}/val/"):
            zf.writestr(d, b"")
        for name, payload in members.items():
            zf.writestr(name, payload)
    order = sorted(val)  # the prepared test split lists val images by file name
    expected = PreparedData(
        np.stack(train_x),
        np.asarray(train_y),
        np.stack([val[n][0] for n in order]),
        np.asarray([val[n][1] for n in order]),
        classes,
        class_words=[f"thing {w[-3:]}, stuff" for w in classes],
    )
    return buf.getvalue(), expected


def assert_same(got: PreparedData, expected: PreparedData) -> None:
    """Image for image, label for label, in order."""
    np.testing.assert_array_equal(got.train_x, expected.train_x)
    np.testing.assert_array_equal(got.test_x, expected.test_x)
    np.testing.assert_array_equal(got.train_y, expected.train_y)
    np.testing.assert_array_equal(got.test_y, expected.test_y)
    assert got.train_x.dtype == np.uint8 and got.train_y.dtype == np.int64
    assert got.classes == expected.classes
    if expected.class_words is not None:
        assert got.class_words == expected.class_words


# ---------------------------------------------------------------------------------------------
# Tiny-ImageNet and zip safety (library level)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    return tiny_imagenet_zip(np.random.default_rng(7))


def test_tinyimagenet_prepared_equals_zip(tmp_path, tiny):
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(tiny[0])
    out = tmp_path / "data" / "data.npz"
    prepare(get_spec("tinyimagenet"), archive, out, log=quiet)
    data = load_prepared(out)
    assert data.train_x.shape == (200, 3, 64, 64) and data.test_x.shape == (6, 3, 64, 64)
    assert_same(data, tiny[1])
    assert data.classes == sorted(TINY_WNIDS)  # ImageFolder's order, not wnids.txt's
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.npz"]  # the extraction is gone


def _zip_with(tmp_path: Path, name: str, payload: bytes = b"evil", mode: int | None = None) -> Path:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny-imagenet-200/wnids.txt", b"n1\n")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        zf.writestr(info, payload)
    return path


@pytest.mark.parametrize(
    "name, mode, reason",
    [
        pytest.param("tiny-imagenet-200/../../evil.txt", None, "contains '..'", id="dotdot"),
        pytest.param("/tmp/augrepro-zip-evil.txt", None, "absolute path", id="absolute"),
        pytest.param("C:/evil.txt", None, "absolute path", id="drive"),
        pytest.param("tiny-imagenet-200\\..\\evil.txt", None, "backslash", id="backslash"),
        pytest.param("tiny-imagenet-200/link", stat.S_IFLNK | 0o777, "is a link", id="symlink"),
        pytest.param("tiny-imagenet-200/fifo", stat.S_IFIFO | 0o644, "not a regular file", id="fifo"),
    ],
)
def test_unsafe_zip_members_are_refused(tmp_path, name, mode, reason):
    archive = _zip_with(tmp_path, name, b"/etc/passwd" if mode else b"evil", mode)
    target = tmp_path / "out" / "x"
    with pytest.raises(UnsafeArchiveError, match=f"{reason}.*refusing"):
        extract_zip(archive, target)
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/augrepro-zip-evil.txt").exists()


def test_unsafe_zip_member_prepares_nothing(tmp_path, tiny):
    rng = np.random.default_rng(1)
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(tiny_imagenet_zip(rng, extra={"tiny-imagenet-200/../evil.txt": b"x"})[0])
    out_dir = tmp_path / "data"
    out_dir.mkdir()
    with pytest.raises(UnsafeArchiveError):
        prepare(get_spec("tinyimagenet"), archive, out_dir / "data.npz", log=quiet)
    assert list(out_dir.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_truncated_zip_is_refused(tmp_path, tiny):
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(tiny[0][: len(tiny[0]) * 2 // 3])
    out_dir = tmp_path / "data"
    out_dir.mkdir()
    with pytest.raises(ValueError, match="not a readable zip archive"):
        prepare(get_spec("tinyimagenet"), archive, out_dir / "data.npz", log=quiet)
    assert list(out_dir.iterdir()) == []


def test_tinyimagenet_val_image_without_annotation_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(tiny_imagenet_zip(rng, extra={"tiny-imagenet-200/val/images/val_99.JPEG": _jpeg(rng)})[0])
    with pytest.raises(ValueError, match="without a line in val_annotations.txt"):
        prepare(get_spec("tinyimagenet"), archive, tmp_path / "data.npz", log=quiet)
    assert not (tmp_path / "data.npz").exists()


@pytest.mark.parametrize("bad", ["../evil", "/tmp/augrepro-tar-evil"], ids=["dotdot", "absolute"])
def test_cifar_archive_with_unsafe_member_prepares_nothing(tmp_path, bad):
    payload, _ = cifar10_archive(np.random.default_rng(3))
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    members[bad] = b"evil"
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(_tar_bytes(members))
    out_dir = tmp_path / "data"
    out_dir.mkdir()
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        prepare(get_spec("cifar10"), archive, out_dir / "data.npz", log=quiet)
    assert list(out_dir.iterdir()) == []
    assert not (tmp_path / "evil").exists() and not Path("/tmp/augrepro-tar-evil").exists()


# ---------------------------------------------------------------------------------------------
# ImageNet from a user folder (a tiny fake: 3 classes; the spec's counts are overridden)
# ---------------------------------------------------------------------------------------------

IMAGENET_WNIDS = ["n01530575", "n01440764", "n01443537"]  # ILSVRC2012_IDs 1, 2, 3 (not sorted)
TRAIN_PER_CLASS = {"n01530575": 2, "n01440764": 3, "n01443537": 1}
VAL_TRUTH = [3, 1, 1, 2, 3]  # ILSVRC2012_ID of val images 1..5


def tiny_imagenet_spec(**changes):
    fields = dict(num_classes=3, expected_train=6, expected_test=5)
    fields.update(changes)
    return dataclasses.replace(get_spec("imagenet"), **fields)


def _meta_mat() -> bytes:
    fields = [
        "ILSVRC2012_ID",
        "WNID",
        "words",
        "gloss",
        "num_children",
        "children",
        "wordnet_height",
        "num_train_images",
    ]
    rows = [
        (i + 1, w, f"words of {w}", "gloss", 0, np.zeros((0,)), 0, TRAIN_PER_CLASS[w])
        for i, w in enumerate(IMAGENET_WNIDS)
    ]
    rows.append((4, "n00001740", "entity", "the root", 3, np.array([1, 2, 3]), 1, 0))  # not a class
    synsets = np.zeros((len(rows), 1), dtype=[(f, "O") for f in fields])
    for i, row in enumerate(rows):
        synsets[i, 0] = row
    buf = io.BytesIO()
    savemat(buf, {"synsets": synsets})
    return buf.getvalue()


def write_imagenet_tarballs(folder: Path, rng: np.random.Generator, inner_extra: dict | None = None) -> dict:
    """The three official files; returns {relative path after extraction: jpeg bytes}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected, class_tars = {}, {}
    for wnid in IMAGENET_WNIDS:
        images = {f"{wnid}_{1000 + i}.JPEG": _jpeg(rng, 24) for i in range(TRAIN_PER_CLASS[wnid])}
        if wnid == IMAGENET_WNIDS[0]:
            images.update(inner_extra or {})
        class_tars[f"{wnid}.tar"] = _tar_bytes(images, mode="w")
        expected.update({f"train/{wnid}/{n}": b for n, b in images.items()})
    (folder / TRAIN_TAR).write_bytes(_tar_bytes(class_tars, mode="w"))
    val = {}
    for i, ilsvrc_id in enumerate(VAL_TRUTH, start=1):
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        val[name] = _jpeg(rng, 24)
        expected[f"val/{IMAGENET_WNIDS[ilsvrc_id - 1]}/{name}"] = val[name]
    (folder / VAL_TAR).write_bytes(_tar_bytes(val, mode="w"))
    devkit = {
        "ILSVRC2012_devkit_t12/data/meta.mat": _meta_mat(),
        "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt": "".join(
            f"{t}\n" for t in VAL_TRUTH
        ).encode(),
        "ILSVRC2012_devkit_t12/readme.txt": b"readme",
    }
    (folder / DEVKIT).write_bytes(_tar_bytes(devkit))
    return expected


def write_imagenet_folders(folder: Path, rng: np.random.Generator) -> None:
    for wnid in IMAGENET_WNIDS:
        for split, n in (("train", TRAIN_PER_CLASS[wnid]), ("val", VAL_TRUTH.count(IMAGENET_WNIDS.index(wnid) + 1))):
            d = folder / split / wnid
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (d / f"{wnid}_{i}.JPEG").write_bytes(_jpeg(rng, 24))


def _expected_listing(root: Path) -> tuple[list[str], list[int], list[str], list[int]]:
    classes = sorted(IMAGENET_WNIDS)
    out = []
    for split in ("train", "val"):
        files = sorted(str(p) for p in (root / split).glob("*/*.JPEG"))  # class folders sort like wnids
        out += [files, [classes.index(Path(f).parent.name) for f in files]]
    return tuple(out)


def test_imagenet_tarballs_are_extracted_regrouped_and_listed(tmp_path):
    source = tmp_path / "ILSVRC2012"
    expected = write_imagenet_tarballs(source, np.random.default_rng(4))
    out = tmp_path / "results" / "data" / "imagenet" / "data.npz"
    prepare(tiny_imagenet_spec(), source, out, log=quiet)
    images = out.parent / "images"
    on_disk = {str(p.relative_to(images)): p.read_bytes() for p in images.rglob("*") if p.is_file()}
    assert on_disk == expected  # every image extracted, val images in the folder of their true class
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.npz", "images"]

    data = load_prepared(out)
    assert data.kind == "files" and data.train_x is None and data.test_x is None
    train_files, train_y, test_files, test_y = _expected_listing(images.resolve())
    assert list(data.train_files) == train_files and list(data.train_y) == train_y
    assert list(data.test_files) == test_files and list(data.test_y) == test_y
    assert data.classes == sorted(IMAGENET_WNIDS)
    assert data.class_words == [f"words of {w}" for w in sorted(IMAGENET_WNIDS)]
    # ground truth 3,1,1,2,3 -> val images 1 and 5 are n01443537 (index 1 in sorted order)
    assert {Path(f).name for f, y in zip(data.test_files, data.test_y) if y == 1} == {
        "ILSVRC2012_val_00000001.JPEG",
        "ILSVRC2012_val_00000005.JPEG",
    }
    with np.load(out) as raw:
        assert str(raw["kind"]) == "files" and set(raw.files) >= {
            "train_files",
            "train_y",
            "test_files",
            "test_y",
            "classes",
        }


def test_imagenet_second_prepare_reuses_the_extraction(tmp_path):
    source = tmp_path / "ILSVRC2012"
    write_imagenet_tarballs(source, np.random.default_rng(5))
    out = tmp_path / "data" / "data.npz"
    prepare(tiny_imagenet_spec(), source, out, log=quiet)
    (source / TRAIN_TAR).write_bytes(b"not a tar any more")  # would fail if it were read again
    logs: list[str] = []
    prepare(tiny_imagenet_spec(), source, out, log=logs.append)
    assert any("reused" in line for line in logs)


def test_imagenet_unsafe_member_in_a_class_tar_extracts_nothing(tmp_path):
    source = tmp_path / "ILSVRC2012"
    write_imagenet_tarballs(source, np.random.default_rng(6), inner_extra={"../../evil.JPEG": b"x"})
    out_dir = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        prepare(tiny_imagenet_spec(), source, out_dir / "data.npz", log=quiet)
    assert list(out_dir.iterdir()) == []  # no images/, no temporary folder, no data.npz
    assert not (tmp_path / "evil.JPEG").exists()


def test_imagenet_wrong_counts_name_what_is_missing(tmp_path):
    source = tmp_path / "ILSVRC2012"
    write_imagenet_tarballs(source, np.random.default_rng(8))
    out_dir = tmp_path / "data"
    with pytest.raises(ImageNetLayoutError) as info:
        prepare(tiny_imagenet_spec(expected_train=9, expected_test=5), source, out_dir / "data.npz", log=quiet)
    assert "train/ holds 6 images, expected 9" in str(info.value)
    assert list(out_dir.iterdir()) == []


def test_imagenet_class_folders_are_used_in_place(tmp_path):
    source = tmp_path / "imagenet"
    write_imagenet_folders(source, np.random.default_rng(9))
    out = tmp_path / "data" / "data.npz"
    prepare(tiny_imagenet_spec(), source, out, log=quiet)
    data = load_prepared(out)
    train_files, train_y, test_files, test_y = _expected_listing(source.resolve())
    assert list(data.train_files) == train_files and list(data.train_y) == train_y
    assert list(data.test_files) == test_files and list(data.test_y) == test_y
    assert all(Path(f).is_file() for f in data.train_files)
    assert data.class_words is None
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.npz"]  # nothing copied


def test_imagenet_folder_problems_are_all_listed(tmp_path):
    source = tmp_path / "imagenet"
    write_imagenet_folders(source, np.random.default_rng(10))
    for f in (source / "val" / "n01440764").iterdir():  # val/ loses a class ...
        f.unlink()
    (source / "val" / "n01440764").rmdir()
    (source / "val" / "ILSVRC2012_val_00000009.JPEG").write_bytes(b"x")  # ... and has a loose image
    with pytest.raises(ImageNetLayoutError) as info:
        read_imagenet(tiny_imagenet_spec(), source, tmp_path / "images", log=quiet)
    message = str(info.value)
    assert "val/ lacks the class folders n01440764" in message
    assert "val/ has 2 class folders, expected 3" in message
    assert "val/ holds 1 images directly" in message
    assert "val/ holds 4 images, expected 5 (1 missing)" in message


def test_imagenet_at_the_real_counts_refuses_a_small_copy(tmp_path):
    source = tmp_path / "imagenet"
    write_imagenet_folders(source, np.random.default_rng(11))
    with pytest.raises(ImageNetLayoutError) as info:
        read_imagenet(get_spec("imagenet"), source, tmp_path / "images", log=quiet)
    message = str(info.value)
    assert "train/ has 3 class folders, expected 1000" in message
    assert "train/ holds 6 images, expected 1,281,167" in message
    assert "val/ holds 5 images, expected 50,000" in message


def test_imagenet_neither_layout_lists_the_missing_tarballs(tmp_path):
    source = tmp_path / "imagenet"
    write_imagenet_tarballs(source, np.random.default_rng(12))
    (source / DEVKIT).unlink()
    with pytest.raises(ImageNetLayoutError) as info:
        read_imagenet(tiny_imagenet_spec(), source, tmp_path / "images", log=quiet)
    message = str(info.value)
    assert f"{DEVKIT} are missing" in message and "train/<wnid>/*.JPEG" in message


def test_file_dataset_round_trip_keeps_absolute_paths(tmp_path):
    root = tmp_path / "root"
    data = PreparedData(
        None,
        np.array([0, 1]),
        None,
        np.array([1]),
        ["a", "b"],
        train_files=np.array([f"{root}/train/a/x.JPEG", f"{root}/train/b/y.JPEG"]),
        test_files=np.array([f"{root}/val/b/z.JPEG"]),
    )
    save_prepared(data, tmp_path / "d.npz")
    back = load_prepared(tmp_path / "d.npz")
    assert list(back.train_files) == list(data.train_files) and list(back.test_files) == list(data.test_files)
    assert back.kind == "files" and back.train_x is None
    with np.load(tmp_path / "d.npz") as raw:  # stored relative to one root, not repeated
        assert str(raw["root"]) == str(root) and raw["train_files"][0] == "train/a/x.JPEG"


# ---------------------------------------------------------------------------------------------
# the workflow against the local server
# ---------------------------------------------------------------------------------------------


def _npz_of(project: Path, name: str) -> Path:
    return project / "results" / "data" / name / "data.npz"


@pytest.mark.slow
def test_workflow_downloads_resumes_prepares_and_never_downloads_twice(tmp_path, tiny):
    rng = np.random.default_rng(20)
    cifar10, cifar10_expected = cifar10_archive(rng)
    files = {"cifar-10-python.tar.gz": cifar10, "tiny-imagenet-200.zip": tiny[0]}
    project = copy_project(tmp_path / "project")
    with MirrorServer(files) as mirror:
        mirror.cut("cifar-10-python.tar.gz", after=len(cifar10) // 3)  # first transfer hangs up early
        config = write_config(
            tmp_path / "mirror.yaml",
            {
                "data": {
                    "mirror": mirror.url,
                    "checksums": {"cifar10": md5_bytes(cifar10), "tinyimagenet": md5_bytes(tiny[0])},
                }
            },
        )
        targets = ["results/data/cifar10/data.npz", "results/data/tinyimagenet/data.npz"]
        run = snakemake(project, *targets, "--cores", "1", "--configfile", str(config))
        assert run.returncode == 0, run.stderr
        assert_same(load_prepared(_npz_of(project, "cifar10")), cifar10_expected)
        assert_same(load_prepared(_npz_of(project, "tinyimagenet")), tiny[1])
        cut_at = len(cifar10) // 3
        assert sorted(mirror.requests, key=lambda r: (r[0], r[1] or "")) == [
            ("cifar-10-python.tar.gz", None),
            ("cifar-10-python.tar.gz", f"bytes={cut_at}-"),  # resumed, not restarted
            ("tiny-imagenet-200.zip", None),
        ]
        log = (project / "results/logs/download/cifar10/cifar-10-python.tar.gz.log").read_text()
        assert f"resuming at byte {cut_at}" in log
        downloads = project / "results" / "downloads"
        assert sorted(str(p.relative_to(downloads)) for p in downloads.rglob("*") if p.is_file()) == [
            "cifar10/cifar-10-python.tar.gz",
            "tinyimagenet/tiny-imagenet-200.zip",
        ]

        again = snakemake(project, *targets, "--cores", "1", "--configfile", str(config))
        assert again.returncode == 0, again.stderr
        assert "Nothing to be done" in again.stdout + again.stderr
        assert len(mirror.requests) == 3  # nothing downloaded twice


@pytest.mark.slow
def test_workflow_local_dir_is_honoured(tmp_path):
    payload, expected = cifar100_archive(np.random.default_rng(21))
    local = tmp_path / "archives"
    local.mkdir()
    (local / "cifar-100-python.tar.gz").write_bytes(payload)
    project = copy_project(tmp_path / "project")
    with MirrorServer() as mirror:  # set, but local_dir wins: nothing may be asked of it
        config = write_config(
            tmp_path / "local.yaml",
            {"data": {"mirror": mirror.url, "local_dir": str(local), "checksums": {"cifar100": md5_bytes(payload)}}},
        )
        run = snakemake(project, "results/data/cifar100/data.npz", "--cores", "1", "--configfile", str(config))
        assert run.returncode == 0, run.stderr
        assert mirror.requests == []
    assert_same(load_prepared(_npz_of(project, "cifar100")), expected)


@pytest.mark.slow
def test_workflow_refuses_bad_archives_and_prepares_nothing(tmp_path):
    rng = np.random.default_rng(22)
    cifar10, _ = cifar10_archive(rng)
    cifar100, _ = cifar100_archive(rng)
    truncated = cifar100[: len(cifar100) // 2]
    evil_tiny = tiny_imagenet_zip(rng, extra={"tiny-imagenet-200/../../evil.txt": b"evil"})[0]
    files = {
        "cifar-10-python.tar.gz": cifar10,
        "cifar-100-python.tar.gz": truncated,
        "tiny-imagenet-200.zip": evil_tiny,
    }
    project = copy_project(tmp_path / "project")
    with MirrorServer(files) as mirror:
        checksums = {
            "cifar10": "0" * 32,  # not what the mirror serves
            "cifar100": md5_bytes(truncated),  # a mirror that truncated its copy and published that md5
            "tinyimagenet": md5_bytes(evil_tiny),
        }
        config = write_config(tmp_path / "bad.yaml", {"data": {"mirror": mirror.url, "checksums": checksums}})
        targets = [f"results/data/{n}/data.npz" for n in ("cifar10", "cifar100", "tinyimagenet")]
        run = snakemake(project, *targets, "--cores", "1", "--keep-going", "--configfile", str(config))
    assert run.returncode != 0
    logs = project / "results" / "logs"
    checksum_log = (logs / "download/cifar10/cifar-10-python.tar.gz.log").read_text()
    assert f"md5 {md5_bytes(cifar10)} does not match the expected {'0' * 32}" in checksum_log
    cifar10_dir = project / "results/downloads/cifar10"  # neither archive nor .part
    assert not cifar10_dir.exists() or list(cifar10_dir.iterdir()) == []
    assert "not a readable tar archive" in (logs / "prepare/cifar100.log").read_text()
    assert "contains '..'; refusing to extract" in (logs / "prepare/tinyimagenet.log").read_text()
    for name in ("cifar10", "cifar100", "tinyimagenet"):
        folder = project / "results" / "data" / name
        assert not folder.exists() or list(folder.iterdir()) == [], name
    assert not (project / "results" / "evil.txt").exists() and not (project / "evil.txt").exists()


@pytest.mark.slow
def test_workflow_imagenet_needs_a_path_and_verifies_it(tmp_path):
    project = copy_project(tmp_path / "project")
    target = "results/data/imagenet/data.npz"
    unset = snakemake(project, target, "--cores", "1", "--dry-run")
    assert unset.returncode != 0
    assert "set data.imagenet_path" in unset.stdout + unset.stderr

    source = tmp_path / "imagenet"
    write_imagenet_folders(source, np.random.default_rng(23))
    config = write_config(tmp_path / "imagenet.yaml", {"data": {"imagenet_path": str(source)}})
    run = snakemake(project, target, "--cores", "1", "--configfile", str(config))
    assert run.returncode != 0
    log = (project / "results/logs/prepare/imagenet.log").read_text()
    assert "train/ has 3 class folders, expected 1000" in log and "expected 1,281,167" in log
    assert not (project / target).exists()
    assert not (project / "results" / "downloads").exists()  # never downloaded
