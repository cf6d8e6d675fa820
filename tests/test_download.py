"""The downloader against a local HTTP server: Range resume, retries with backoff, checksums.

``MirrorServer`` is also used by tests/test_datasets_real.py (the workflow runs against it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from augrepro.data.datasets import get_spec, with_checksum
from augrepro.data.download import ChecksumError, DownloadError, download, fetch


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # the server keeps its own log
        pass

    def do_GET(self) -> None:
        srv = self.server
        name = self.path.lstrip("/")
        requested = self.headers.get("Range")
        with srv.lock:
            srv.requests.append((name, requested))
            cut = srv.cut_after.get(name)
            if cut is not None and srv.cuts_left.get(name, 0) > 0:
                srv.cuts_left[name] -= 1
            else:
                cut = None
        body = srv.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        m = re.match(r"^bytes=(\d+)-$", requested or "")
        if m and not srv.ignore_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            shown = start + srv.content_range_shift
            self.send_header("Content-Range", f"bytes {shown}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if cut is not None:  # announce everything, send `cut` bytes, hang up
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class MirrorServer:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` (name -> bytes).

    It honours ``Range: bytes=N-`` (206 with Content-Range, 416 past the end) unless
    ``ignore_range``; ``cut(name, n, times)`` makes the next ``times`` answers for ``name``
    announce the full length but hang up after ``n`` bytes; every request is logged as
    ``(name, Range header or None)`` in ``requests``.
    """

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.files = dict(files or {})
        self._srv.requests = []
        self._srv.cut_after = {}
        self._srv.cuts_left = {}
        self._srv.ignore_range = False
        self._srv.content_range_shift = 0
        self._srv.lock = threading.Lock()
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}"

    @property
    def files(self) -> dict[str, bytes]:
        return self._srv.files

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self._srv.requests

    def cut(self, name: str, after: int, times: int = 1) -> None:
        self._srv.cut_after[name] = after
        self._srv.cuts_left[name] = times

    def set(self, **settings) -> None:
        for key, value in settings.items():
            setattr(self._srv, key, value)

    def __enter__(self) -> MirrorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=10)


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------------------------------------


ARCHIVE = "cifar-10-python.tar.gz"
PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: spans two read chunks


def quiet(*_args) -> None:
    pass


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def mirror():
    with MirrorServer({ARCHIVE: PAYLOAD}) as server:
        yield server


@pytest.fixture
def spec():
    return dataclasses.replace(get_spec("cifar10"), md5=md5_bytes(PAYLOAD))


def test_plain_download_sends_no_range(tmp_path, mirror, spec):
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=Sleeps())
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == [(ARCHIVE, None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE]


def test_transfer_cut_short_is_retried_and_resumed_with_range(tmp_path, mirror, spec):
    mirror.cut(ARCHIVE, after=300_000, times=2)
    sleeps = Sleeps()
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=sleeps, backoff_s=0.5)
    assert dest.read_bytes() == PAYLOAD
    # first attempt cut at 300,000 bytes, the second (Range from there) cut 300,000 bytes later
    assert mirror.requests == [(ARCHIVE, None), (ARCHIVE, "bytes=300000-"), (ARCHIVE, "bytes=600000-")]
    assert sleeps == [0.5, 1.0]  # exponential backoff
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE]


def test_part_file_of_an_earlier_run_is_resumed(tmp_path, mirror, spec):
    (tmp_path / (ARCHIVE + ".part")).write_bytes(PAYLOAD[:123_456])
    logs: list[str] = []
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=logs.append, sleep=Sleeps())
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == [(ARCHIVE, "bytes=123456-")]
    assert any("resuming at byte 123456" in line for line in logs)


def test_server_ignoring_range_restarts_from_zero(tmp_path, mirror, spec):
    mirror.set(ignore_range=True)
    (tmp_path / (ARCHIVE + ".part")).write_bytes(PAYLOAD[:1000])
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=Sleeps())
    assert dest.read_bytes() == PAYLOAD  # not PAYLOAD[:1000] + PAYLOAD


def test_wrong_content_range_restarts_from_zero(tmp_path, mirror, spec):
    mirror.set(content_range_shift=7)  # 206, but for another range than asked
    (tmp_path / (ARCHIVE + ".part")).write_bytes(PAYLOAD[:1000])
    sleeps = Sleeps()
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=sleeps)
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == [(ARCHIVE, "bytes=1000-"), (ARCHIVE, None)]


def test_complete_part_file_is_accepted_after_416(tmp_path, mirror, spec):
    (tmp_path / (ARCHIVE + ".part")).write_bytes(PAYLOAD)
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=Sleeps())
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == [(ARCHIVE, f"bytes={len(PAYLOAD)}-")]


def test_stale_part_of_another_file_is_replaced_once(tmp_path, mirror, spec):
    (tmp_path / (ARCHIVE + ".part")).write_bytes(b"x" * 5000)  # same length prefix, wrong bytes
    logs: list[str] = []
    dest = fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=logs.append, sleep=Sleeps())
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == [(ARCHIVE, "bytes=5000-"), (ARCHIVE, None)]
    assert any("afresh" in line for line in logs)


def test_persistent_failure_gives_up_with_bounded_retries_and_keeps_part(tmp_path, mirror, spec):
    mirror.cut(ARCHIVE, after=100_000, times=100)
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match="after 4 attempts") as info:
        fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=sleeps, retries=4, backoff_s=1.0)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(mirror.requests) == 4
    part = tmp_path / (ARCHIVE + ".part")
    assert part.stat().st_size == 400_000  # kept for a later resume, and said so
    assert str(part) in str(info.value)
    assert not (tmp_path / ARCHIVE).exists()
    # the next run resumes where this one stopped
    mirror.cut(ARCHIVE, after=0, times=0)
    fetch(spec, tmp_path / ARCHIVE, mirror=mirror.url, log=quiet, sleep=Sleeps())
    assert (tmp_path / ARCHIVE).read_bytes() == PAYLOAD
    assert mirror.requests[-1] == (ARCHIVE, "bytes=400000-")


def test_not_found_fails_at_once(tmp_path, mirror, spec):
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(mirror.url + "/missing.tar.gz", tmp_path / "missing.tar.gz.part", sleep=sleeps, log=quiet)
    assert sleeps == []
    assert len(mirror.requests) == 1


def test_wrong_checksum_is_refused_and_removed(tmp_path, mirror):
    spec = dataclasses.replace(get_spec("cifar10"), md5="0" * 32)
    with pytest.raises(ChecksumError) as info:
        fetch(spec, tmp_path / "dl" / ARCHIVE, mirror=mirror.url, log=quiet, sleep=Sleeps())
    message = str(info.value)
    for needed in (ARCHIVE, mirror.url, "0" * 32, md5_bytes(PAYLOAD), "deleted", "data.checksums.cifar10"):
        assert needed in message
    assert list((tmp_path / "dl").iterdir()) == []


def test_truncated_file_on_the_mirror_fails_its_checksum(tmp_path, mirror, spec):
    mirror.files[ARCHIVE] = PAYLOAD[: len(PAYLOAD) // 2]  # a mirror serving a truncated copy
    with pytest.raises(ChecksumError, match="truncated"):
        fetch(spec, tmp_path / "dl" / ARCHIVE, mirror=mirror.url, log=quiet, sleep=Sleeps())
    assert list((tmp_path / "dl").iterdir()) == []


def test_local_dir_wins_over_mirror(tmp_path, mirror, spec):
    local = tmp_path / "local"
    local.mkdir()
    (local / ARCHIVE).write_bytes(PAYLOAD)
    dest = fetch(spec, tmp_path / "dl" / ARCHIVE, mirror=mirror.url, local_dir=local, log=quiet)
    assert dest.read_bytes() == PAYLOAD
    assert mirror.requests == []


def test_imagenet_is_never_fetched(tmp_path):
    with pytest.raises(ValueError, match="data.imagenet_path"):
        fetch(get_spec("imagenet"), tmp_path / "ILSVRC2012", log=quiet)


def test_with_checksum():
    spec = get_spec("cifar10")
    assert with_checksum(spec, None) is spec
    assert with_checksum(spec, "A" * 32).md5 == "a" * 32
    with pytest.raises(ValueError, match="data.checksums.cifar10"):
        with_checksum(spec, "abc")
    with pytest.raises(ValueError, match="no archive"):
        with_checksum(get_spec("imagenet"), "a" * 32)
