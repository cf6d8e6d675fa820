"""Tests of augrepro.data: demo archive, preparation, safe extraction, fetching and the loader."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import pickle
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from augrepro.data import get_spec, load_prepared, parse_dataset_key
from augrepro.data.demo import build_archive
from augrepro.data.download import ChecksumError, fetch
from augrepro.data.extract import UnsafeArchiveError, extract_tar
from augrepro.data.loader import DeviceData
from augrepro.data.pipelines import build_pipeline, random_crop_flip
from augrepro.data.prepare import prepare
from augrepro.registry import UnknownNameError

DEMO_INNER = "demo-batches-py"
DEMO_MEMBERS = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def quiet(*_args, **_kwargs) -> None:
    pass


# ---------------------------------------------------------------------------------------------
# helpers: small archives written by the tests
# ---------------------------------------------------------------------------------------------


def write_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return path


def random_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def cifar10_archive(path: Path, rng: np.random.Generator, per_batch: int = 3, test_n: int = 4):
    """A small archive in the real CIFAR-10 python layout; returns (path, train rows, labels, test...)."""
    members, train_rows, train_labels = {}, [], []
    for b in range(1, 6):
        rows = random_rows(rng, per_batch)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        train_rows.append(rows)
        train_labels += labels
        members[f"cifar-10-batches-py/data_batch_{b}"] = pickle.dumps(
            {
                b"batch_label": f"training batch {b} of 5".encode(),
                b"labels": labels,
                b"data": rows,
                b"filenames": [f"img_{b}_{i}.png".encode() for i in range(per_batch)],
            },
            protocol=2,
        )
    test_rows = random_rows(rng, test_n)
    test_labels = [int(v) for v in rng.integers(0, 10, test_n)]
    members["cifar-10-batches-py/test_batch"] = pickle.dumps(
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": test_labels,
            b"data": test_rows,
            b"filenames": [f"test_{i}.png".encode() for i in range(test_n)],
        },
        protocol=2,
    )
    names = [f"class{c}".encode() for c in range(10)]
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072}, protocol=2
    )
    write_tar_gz(path, members)
    return np.concatenate(train_rows), np.array(train_labels), test_rows, np.array(test_labels)


def cifar100_archive(path: Path, rng: np.random.Generator, n_fine_names: int = 100):
    members = {}
    out = []
    for split, n in (("train", 6), ("test", 4)):
        rows = random_rows(rng, n)
        # fine labels >= 20 so that they cannot be confused with the coarse ones (0..19)
        fine = [int(v) for v in rng.integers(20, 100, n)]
        coarse = [int(v) for v in rng.integers(0, 20, n)]
        members[f"cifar-100-python/{split}"] = pickle.dumps(
            {
                b"filenames": [f"{split}_{i}.png".encode() for i in range(n)],
                b"batch_label": f"{split} batch".encode(),
                b"fine_labels": fine,
                b"coarse_labels": coarse,
                b"data": rows,
            },
            protocol=2,
        )
        out += [rows, np.array(fine)]
    members["cifar-100-python/meta"] = pickle.dumps(
        {
            b"fine_label_names": [f"fine{c}".encode() for c in range(n_fine_names)],
            b"coarse_label_names": [f"coarse{c}".encode() for c in range(20)],
        },
        protocol=2,
    )
    write_tar_gz(path, members)
    return tuple(out)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# the demo archive (built exactly twice in this module)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_archives(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("demo")
    first = build_archive(root / "a" / "augrepro-demo-python.tar.gz")
    second = build_archive(root / "b" / "augrepro-demo-python.tar.gz")
    return Path(first), Path(second)


@pytest.fixture(scope="module")
def demo_pickles(demo_archives) -> dict[str, dict]:
    out = {}
    with tarfile.open(demo_archives[0], "r:gz") as tar:
        for name in DEMO_MEMBERS:
            out[name] = pickle.load(tar.extractfile(f"{DEMO_INNER}/{name}"), encoding="bytes")
    return out


def test_demo_archive_is_byte_identical_and_leaves_no_temp(demo_archives):
    first, second = demo_archives
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size > 1000
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]


def test_demo_archive_layout(demo_archives):
    raw = demo_archives[0].read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # gzip
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw)), mode="r:") as tar:
        members = tar.getmembers()
    files = sorted(m.name for m in members if m.isfile())
    assert files == sorted(f"{DEMO_INNER}/{n}" for n in DEMO_MEMBERS)
    assert all(m.isfile() or m.isdir() for m in members)


def test_demo_pickles_have_cifar10_keys(demo_pickles):
    total = 0
    for name in DEMO_MEMBERS[:-1]:
        record = demo_pickles[name]
        assert {b"data", b"labels", b"batch_label", b"filenames"} <= set(record)
        data = record[b"data"]
        assert isinstance(data, np.ndarray) and data.dtype == np.uint8
        assert data.ndim == 2 and data.shape[1] == 3072
        assert len(record[b"labels"]) == len(data) == len(record[b"filenames"])
        assert isinstance(record[b"batch_label"], bytes)
        assert all(0 <= int(v) < 10 for v in record[b"labels"])
        if name != "test_batch":
            total += len(data)
    assert total == 3000
    assert len(demo_pickles["test_batch"][b"data"]) == 1000
    names = demo_pickles["batches.meta"][b"label_names"]
    assert len(names) == 10 and all(isinstance(n, bytes) for n in names)


def test_prepare_demo_matches_pickles(demo_archives, demo_pickles, tmp_path):
    spec = get_spec("demo")
    out = tmp_path / "prepared" / "data.npz"
    out.parent.mkdir()
    returned = prepare(spec, demo_archives[0], out)
    data = load_prepared(out)

    train_rows = np.concatenate([demo_pickles[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    train_labels = np.concatenate([demo_pickles[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    test_rows = demo_pickles["test_batch"][b"data"]
    assert data.train_x.dtype == np.uint8 and data.train_x.shape == (3000, 3, 32, 32)
    assert data.test_x.shape == (1000, 3, 32, 32)
    np.testing.assert_array_equal(data.train_x, train_rows.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.test_x, test_rows.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.train_y, train_labels)
    np.testing.assert_array_equal(data.test_y, demo_pickles["test_batch"][b"labels"])
    assert data.classes == [n.decode() for n in demo_pickles["batches.meta"][b"label_names"]]
    assert len(data.classes) == 10 == spec.num_classes
    np.testing.assert_array_equal(np.bincount(data.train_y, minlength=10), [300] * 10)
    np.testing.assert_array_equal(np.bincount(data.test_y, minlength=10), [100] * 10)
    np.testing.assert_array_equal(returned.train_x, data.train_x)
    # only the npz is left behind (no extraction folder, no temporary file)
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.npz"]


def test_truncated_archive_is_refused(demo_archives, tmp_path):
    raw = demo_archives[0].read_bytes()
    cut = tmp_path / "augrepro-demo-python.tar.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError):
        extract_tar(cut, tmp_path / "x" / "target")
    assert not (tmp_path / "x" / "target").exists()
    assert list((tmp_path / "x").iterdir()) == []

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ValueError):
        prepare(get_spec("demo"), cut, out_dir / "data.npz")
    assert list(out_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# the real CIFAR layouts
# ---------------------------------------------------------------------------------------------


def test_prepare_cifar10_layout(tmp_path):
    rng = np.random.default_rng(0)
    archive = tmp_path / "cifar-10-python.tar.gz"
    train_rows, train_labels, test_rows, test_labels = cifar10_archive(archive, rng)
    # pin the CHW order of a row: R plane, then G, then B, each row-major
    out = tmp_path / "data.npz"
    prepare(get_spec("cifar10"), archive, out)
    data = load_prepared(out)
    assert data.train_x.shape == (15, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(data.train_x, train_rows.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.test_x, test_rows.reshape(-1, 3, 32, 32))
    assert data.train_x[4, 1, 2, 5] == train_rows[4, 1024 + 2 * 32 + 5]
    assert data.train_x[7, 2, 31, 0] == train_rows[7, 2048 + 31 * 32]
    np.testing.assert_array_equal(data.train_y, train_labels)
    np.testing.assert_array_equal(data.test_y, test_labels)
    assert data.classes == [f"class{c}" for c in range(10)]


def test_prepare_cifar100_layout_uses_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    archive = tmp_path / "cifar-100-python.tar.gz"
    train_rows, train_fine, test_rows, test_fine = cifar100_archive(archive, rng)
    out = tmp_path / "data.npz"
    prepare(get_spec("cifar100"), archive, out)
    data = load_prepared(out)
    np.testing.assert_array_equal(data.train_x, train_rows.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.test_x, test_rows.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.train_y, train_fine)
    np.testing.assert_array_equal(data.test_y, test_fine)
    assert len(data.classes) == 100 and data.classes[37] == "fine37"


def test_prepare_refuses_wrong_number_of_class_names(tmp_path):
    rng = np.random.default_rng(2)
    archive = tmp_path / "cifar-100-python.tar.gz"
    cifar100_archive(archive, rng, n_fine_names=10)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ValueError, match="class names"):
        prepare(get_spec("cifar100"), archive, out_dir / "data.npz")
    assert list(out_dir.iterdir()) == []


def test_prepare_refuses_archive_of_another_dataset(tmp_path):
    rng = np.random.default_rng(3)
    archive = tmp_path / "cifar-10-python.tar.gz"
    cifar10_archive(archive, rng)
    with pytest.raises(ValueError, match="cifar-100-python"):
        prepare(get_spec("cifar100"), archive, tmp_path / "data.npz")
    assert not (tmp_path / "data.npz").exists()


# ---------------------------------------------------------------------------------------------
# safe extraction
# ---------------------------------------------------------------------------------------------


def _unsafe_archive(path: Path, bad: tarfile.TarInfo, bad_payload: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("pkg/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        bad.size = len(bad_payload) if bad.isfile() else 0
        tar.addfile(bad, io.BytesIO(bad_payload) if bad.isfile() else None)
    return path


def _symlink(name: str, to: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = to
    return info


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: tarfile.TarInfo("pkg/../../evil.txt"), id="dotdot"),
        pytest.param(lambda: tarfile.TarInfo("../evil.txt"), id="leading-dotdot"),
        pytest.param(lambda: tarfile.TarInfo("/tmp/augrepro-test-evil.txt"), id="absolute"),
        pytest.param(lambda: _symlink("pkg/link", "/etc/passwd"), id="symlink-out"),
        pytest.param(lambda: _symlink("pkg/link", "ok.txt"), id="symlink-in"),
    ],
)
def test_unsafe_members_are_refused(tmp_path, bad):
    archive = _unsafe_archive(tmp_path / "bad.tar.gz", bad(), b"evil")
    dest_root = tmp_path / "dest"
    target = dest_root / "sub" / "target"
    with pytest.raises(UnsafeArchiveError):
        extract_tar(archive, target)
    assert not target.exists()
    # no half-extracted temporary sibling either
    assert not target.parent.exists() or list(target.parent.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (dest_root / "evil.txt").exists()
    assert not Path("/tmp/augrepro-test-evil.txt").exists()


def test_safe_archive_extracts_and_replaces_target(tmp_path):
    archive = write_tar_gz(tmp_path / "good.tar.gz", {"pkg/a.txt": b"alpha", "pkg/deep/b.txt": b"beta"})
    target = tmp_path / "target"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    assert extract_tar(archive, target) == target
    assert (target / "pkg" / "a.txt").read_bytes() == b"alpha"
    assert (target / "pkg" / "deep" / "b.txt").read_bytes() == b"beta"
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar.gz", "target"]


def test_failed_extraction_keeps_existing_target(tmp_path):
    archive = _unsafe_archive(tmp_path / "bad.tar.gz", tarfile.TarInfo("../evil.txt"), b"evil")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    with pytest.raises(UnsafeArchiveError):
        extract_tar(archive, target)
    assert (target / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "target"]


# ---------------------------------------------------------------------------------------------
# fetch: local folder and HTTP mirror
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_archive(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    path = src / "cifar-10-python.tar.gz"
    cifar10_archive(path, np.random.default_rng(4), per_batch=1, test_n=1)
    return path


def test_fetch_local_dir_wrong_content(tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    (local / "cifar-10-python.tar.gz").write_bytes(b"definitely not CIFAR-10")
    dest_dir = tmp_path / "downloads"
    with pytest.raises(ChecksumError):
        fetch(get_spec("cifar10"), dest_dir / "cifar-10-python.tar.gz", local_dir=local, log=quiet)
    assert not dest_dir.exists() or list(dest_dir.iterdir()) == []


def test_fetch_local_dir_right_content(tmp_path, small_archive):
    spec = dataclasses.replace(get_spec("cifar10"), md5=md5_of(small_archive))
    dest = tmp_path / "downloads" / spec.archive
    assert fetch(spec, dest, local_dir=small_archive.parent, log=quiet) == dest
    assert dest.read_bytes() == small_archive.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [spec.archive]


def test_fetch_local_dir_missing_file(tmp_path):
    local = tmp_path / "empty"
    local.mkdir()
    dest = tmp_path / "downloads" / "cifar-10-python.tar.gz"
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        fetch(get_spec("cifar10"), dest, local_dir=local, log=quiet)
    assert not dest.exists()


def test_fetch_refuses_wrong_destination_name(tmp_path, small_archive):
    with pytest.raises(ValueError, match="cifar-10-python.tar.gz"):
        fetch(get_spec("cifar10"), tmp_path / "other.tar.gz", local_dir=small_archive.parent, log=quiet)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def http_mirror(small_archive):
    handler = functools.partial(_QuietHandler, directory=str(small_archive.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_fetch_from_http_mirror(tmp_path, small_archive, http_mirror):
    spec = dataclasses.replace(get_spec("cifar10"), md5=md5_of(small_archive))
    dest = tmp_path / "downloads" / spec.archive
    assert fetch(spec, dest, mirror=http_mirror + "/", log=quiet) == dest
    assert dest.read_bytes() == small_archive.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [spec.archive]


def test_fetch_from_http_mirror_wrong_md5(tmp_path, small_archive, http_mirror):
    spec = dataclasses.replace(get_spec("cifar10"), md5="0" * 32)
    dest_dir = tmp_path / "downloads"
    with pytest.raises(ChecksumError):
        fetch(spec, dest_dir / spec.archive, mirror=http_mirror, log=quiet)
    assert not dest_dir.exists() or list(dest_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# the loader
# ---------------------------------------------------------------------------------------------


def _find_window(out: torch.Tensor, padded: torch.Tensor, size: int) -> list[tuple[int, int, bool]]:
    hits = []
    span = padded.shape[-1] - size + 1
    for dy in range(span):
        for dx in range(span):
            window = padded[:, dy : dy + size, dx : dx + size]
            if torch.equal(out, window):
                hits.append((dy, dx, False))
            if torch.equal(out, window.flip(-1)):
                hits.append((dy, dx, True))
    return hits


def test_random_crop_flip_is_padded_window_possibly_mirrored():
    torch.manual_seed(0)
    # values 1..255: a 0 in the output can only come from the zero padding
    x = torch.randint(1, 256, (48, 3, 32, 32), dtype=torch.uint8)
    out = random_crop_flip(x, 4, torch.Generator().manual_seed(123))
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    found = []
    for i in range(len(x)):
        hits = _find_window(out[i], padded[i], 32)
        assert len(hits) == 1, f"image {i}: output is not a unique window of the padded input ({hits})"
        found.append(hits[0])
    flips = {f for _, _, f in found}
    assert flips == {False, True}
    offsets = {(dy, dx) for dy, dx, _ in found}
    assert len(offsets) > 10  # offsets vary over the 9 x 9 possibilities
    assert all(0 <= dy <= 8 and 0 <= dx <= 8 for dy, dx in offsets)
    assert any(dy != 4 or dx != 4 for dy, dx in offsets)


def test_random_crop_flip_deterministic_under_seed():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    a = random_crop_flip(x, 4, torch.Generator().manual_seed(9))
    b = random_crop_flip(x, 4, torch.Generator().manual_seed(9))
    c = random_crop_flip(x, 4, torch.Generator().manual_seed(10))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("crop_padding", [None, 4])
def test_train_batches_visit_every_index_once(crop_padding):
    n, batch = 103, 10
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    spec = get_spec("cifar10")
    data = DeviceData(images, torch.arange(n), spec.mean, spec.std)
    pipeline = None if crop_padding is None else build_pipeline({"name": "pad_crop_flip", "padding": crop_padding}, 32)
    assert len(data) == n and data.num_batches(batch) == 11
    epochs = []
    for _ in range(2):
        batches = list(data.train_batches(batch, gen, pipeline))
        sizes = [len(y) for _, y in batches]
        assert sizes == [10] * 10 + [3]
        labels = torch.cat([y for _, y in batches])
        assert sorted(labels.tolist()) == list(range(n))
        for x, y in batches:
            assert x.dtype == torch.float32 and x.shape == (len(y), 3, 32, 32)
            if crop_padding is None:
                assert torch.equal(x, data.normalization.apply(images[y]))
                assert torch.equal(data.normalization.to_uint8(x), images[y])
        epochs.append(labels)
    assert not torch.equal(epochs[0], epochs[1])  # a fresh order every epoch
    assert not torch.equal(epochs[0], torch.arange(n))


@pytest.mark.parametrize("name", ["cifar10", "demo"])
def test_denormalize_inverts_normalize_exactly(name):
    spec = get_spec(name)
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = torch.cat([values.expand(1, 3, 16, 16), values.flip(-1).expand(1, 3, 16, 16)]).contiguous()
    data = DeviceData(x, torch.zeros(2, dtype=torch.long), spec.mean, spec.std)
    z = data.normalization.apply(x)
    assert z.dtype == torch.float32
    # normalization really is (x / 255 - mean) / std per channel
    expected = (x.double() / 255 - torch.tensor(spec.mean).double().view(1, 3, 1, 1)) / torch.tensor(
        spec.std
    ).double().view(1, 3, 1, 1)
    torch.testing.assert_close(z.double(), expected, rtol=0, atol=1e-5)
    back = data.normalization.to_uint8(z)
    assert back.dtype == torch.uint8
    assert torch.equal(back, x)


def test_normalization_of_a_run_and_its_inverse():
    from augrepro.data.normalization import Normalization

    spec = get_spec("cifar10")
    usual = Normalization.of(None, spec)
    assert (usual.mean, usual.std) == (tuple(spec.mean), tuple(spec.std))
    own = Normalization.of({"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1]}, spec)
    assert (own.mean, own.std) == ((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))  # the protocol's values win
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2, 3, 16, 16).contiguous()
    z = own.apply(x)
    assert torch.equal(z[:, 0], (x[:, 0].float() / 255 - 0.5) / 0.25) and torch.equal(
        z[:, 2], x[:, 2].float() / 255 - 0.5
    )
    assert torch.equal(own.apply(x.float() / 255), z)  # [0, 1] floats normalize like the uint8 they came from
    torch.testing.assert_close(own.undo(z), x.float() / 255, rtol=0, atol=1e-6)
    assert torch.equal(own.to_uint8(z), x)
    assert own.to("cpu") is own and own.mean_tensor.shape == (1, 3, 1, 1)
    with pytest.raises(ValueError, match="uint8 images or float"):
        own.apply(x.long())
    with pytest.raises(ValueError, match="3 means and 3 stds"):
        Normalization((0.5,), (0.25,))


def test_device_data_rejects_non_uint8():
    spec = get_spec("cifar10")
    with pytest.raises(ValueError):
        DeviceData(torch.zeros(2, 3, 32, 32), torch.zeros(2), spec.mean, spec.std)


# ---------------------------------------------------------------------------------------------
# dataset keys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, expected",
    [
        ("cifar10+", ("cifar10", True)),
        ("cifar10", ("cifar10", False)),
        ("cifar100+", ("cifar100", True)),
        ("demo", ("demo", False)),
    ],
)
def test_parse_dataset_key(key, expected):
    assert parse_dataset_key(key) == expected


@pytest.mark.parametrize("key", ["svhn", "svhn+", "cifar10++", "CIFAR10", ""])
def test_parse_dataset_key_unknown(key):
    with pytest.raises(UnknownNameError) as info:
        parse_dataset_key(key)
    message = str(info.value)
    for name in ("cifar10", "cifar100", "demo"):
        assert name in message
