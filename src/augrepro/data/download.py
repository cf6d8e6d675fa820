"""Fetch a dataset archive: build it (embedded demo), copy it from a local folder, or download it.

A download streams to ``<archive>.part`` with a progress bar. An interrupted transfer (the
connection drops, the server closes before Content-Length bytes, a timeout) is retried with
exponential backoff and resumed with an HTTP Range request from the bytes already on disk; a
``.part`` left by an earlier, failed run is resumed the same way. The md5 is verified before
anything uses the file, and only then is it renamed into place: nothing unverified ever appears
under the final name, and a file that fails its checksum is deleted.

(This is not ``augrepro.io``'s atomic writer, whose temporary file is removed on failure: a ``.part`` is
kept on purpose, under a fixed name, so that the next attempt resumes the transfer instead of starting over.)
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from augrepro.data import demo
from augrepro.data.datasets import Archive, DatasetSpec


class ChecksumError(ValueError):
    pass


class DownloadError(RuntimeError):
    """A download failed for good (after its retries, or with an error that retrying cannot fix)."""


class _Interrupted(OSError):
    """The server sent fewer bytes than it announced; the transfer is resumed."""


# Retries of an interrupted transfer and the first backoff in seconds (doubled at each retry):
# 1, 2, 4, 8, 16 s, about half a minute in all before giving up.
RETRIES = 5
BACKOFF_S = 1.0
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")


def md5sum(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, spec: DatasetSpec, origin: str, entry: Archive | None = None) -> None:
    entry = entry or spec.archives()[0]
    if entry.md5 is None:
        return
    got = md5sum(path)
    if got != entry.md5:
        key = f"data.checksums.{spec.name}" + (f" (a mapping: {{{entry.name}: <md5>}})" if spec.more_archives else "")
        raise ChecksumError(
            f"{entry.name} from {origin}: md5 {got} does not match the expected {entry.md5}; "
            "the file is corrupt, truncated or a different file, and it was deleted. Download it again "
            f"(or fix the mirror / the file in data.local_dir); if a mirror repackages {entry.name} on purpose, "
            f"set {key} to its md5"
        )


def source_url(spec: DatasetSpec, mirror: str | None, entry: Archive | None = None) -> str:
    entry = entry or spec.archives()[0]
    if mirror:
        return mirror.rstrip("/") + "/" + entry.name
    return entry.url


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "augrepro"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _resume_offset(resp, offset: int, log) -> int:
    """Where the body of ``resp`` starts: ``offset`` if the server honoured the Range, else 0."""
    if not offset:
        return 0
    if resp.status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", "").strip())
        if m and int(m.group(1)) == offset:
            log(f"resuming at byte {offset}")
            return offset
        log(
            f"server answered the Range request with Content-Range {resp.headers.get('Content-Range')!r}; restarting from 0"
        )
        return -1
    log(f"server ignored the Range request (HTTP {resp.status}); restarting from 0")
    return 0


def _transfer(url: str, part: Path, timeout: float, log) -> None:
    """One attempt: append to ``part`` from where it ends (or restart it); raise on a short body."""
    from tqdm import tqdm

    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # Range not satisfiable: the .part is complete or too long
            m = re.match(r"^bytes\s+\*/(\d+)$", exc.headers.get("Content-Range", "").strip())
            if m and int(m.group(1)) == offset:
                log(f"{part.name} is already complete ({offset} bytes)")
                return
            part.unlink()
            raise _Interrupted("the partial file does not fit the server's copy (HTTP 416); restarting") from exc
        raise
    with resp:
        start = _resume_offset(resp, offset, log)
        if start < 0:  # a 206 for the wrong range: drop what we have and ask again from 0
            part.unlink()
            raise _Interrupted("wrong Content-Range in the answer to a Range request")
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        with (
            open(part, "ab" if start else "wb") as out,
            tqdm(
                total=start + expected if expected is not None else None,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=part.name,
                mininterval=5,
            ) as bar,
        ):
            while block := resp.read(CHUNK):
                out.write(block)
                received += len(block)
                bar.update(len(block))
        if expected is not None and received < expected:
            raise _Interrupted(f"the server sent {received} of {expected} bytes")


def download(
    url: str,
    part: str | os.PathLike,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 60.0,
    log=print,
) -> Path:
    """Download ``url`` into ``part``, resuming what is already there; retry with backoff.

    A failed download keeps ``part`` so that the next call resumes it. HTTP errors that retrying
    cannot fix (404, 403, ...) fail at once.
    """
    part = Path(part)
    if retries < 1:
        raise ValueError(f"retries must be at least 1, not {retries}")
    for attempt in range(1, retries + 1):
        try:
            _transfer(url, part, timeout, log)
            return part
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 408 and exc.code != 429:
                raise DownloadError(
                    f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the URL (data.mirror) "
                    "or put the archive in data.local_dir"
                ) from exc
            error: Exception = exc
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, short bodies
            error = exc
        if attempt == retries:
            kept = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"download of {url} failed after {retries} attempts: {error}. "
                f"{kept} bytes are kept in {part}; rerun to resume, or put the archive in data.local_dir"
            ) from error
        wait = backoff_s * 2 ** (attempt - 1)
        log(f"download of {url} interrupted ({error}); retrying in {wait:g} s (attempt {attempt + 1} of {retries})")
        sleep(wait)
    raise AssertionError("unreachable")


def fetch(
    spec: DatasetSpec,
    dest: str | os.PathLike,
    mirror: str | None = None,
    local_dir: str | os.PathLike | None = None,
    log=print,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Put the verified archive of ``spec`` named ``dest``'s file name at ``dest`` (a dataset of several files,
    such as Stanford Cars, is fetched one file per call).

    Sources, in order: the embedded builder (demo), ``local_dir`` (a folder of archives under
    their official names), ``mirror`` (a base URL), the official URL.
    """
    dest = Path(dest)
    if not spec.downloadable:
        raise ValueError(
            f"{spec.name} is never downloaded; set data.{spec.name}_path to your copy (see resources/datasets.md)"
        )
    names = [a.name for a in spec.archives()]
    if dest.name not in names:
        raise ValueError(f"{spec.name}: archive must be named {' or '.join(map(repr, names))}, not {dest.name!r}")
    entry = spec.archive_named(dest.name)
    if spec.urls_gone and not local_dir and not mirror and spec.url != "embedded:":
        raise DownloadError(f"{spec.name}: {spec.urls_gone}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    keep_part = False
    try:
        if spec.url == "embedded:":
            log(f"building the embedded {spec.name} dataset (no network)")
            demo.build_archive(part)
            origin = "the embedded builder"
            _verify(part, spec, origin, entry)
        elif local_dir:
            src = Path(local_dir) / entry.name
            if not src.is_file():
                raise FileNotFoundError(
                    f"data.local_dir is {str(local_dir)!r} but {entry.name} is not in it; "
                    f"put the archive there (md5 {entry.md5}) or unset data.local_dir"
                )
            log(f"copying {src}")
            shutil.copyfile(src, part)
            origin = str(src)
            _verify(part, spec, origin, entry)
        else:
            origin = source_url(spec, mirror, entry)
            resumed = part.exists() and part.stat().st_size > 0
            log(f"downloading {origin}" + (f" (resuming {part.name})" if resumed else ""))
            keep_part = True  # an interrupted download stays resumable
            download(origin, part, retries=retries, backoff_s=backoff_s, sleep=sleep, log=log)
            keep_part = False
            try:
                _verify(part, spec, origin, entry)
            except ChecksumError:
                if not resumed:
                    raise
                # The old .part may have come from another copy of the file: one fresh try from 0.
                log(f"{entry.name}: checksum failed after resuming an old partial file; downloading it afresh")
                part.unlink()
                keep_part = True
                download(origin, part, retries=retries, backoff_s=backoff_s, sleep=sleep, log=log)
                keep_part = False
                _verify(part, spec, origin, entry)
        os.replace(part, dest)
    finally:
        if not keep_part:
            part.unlink(missing_ok=True)
    log(f"{dest}: md5 {md5sum(dest)}")
    return dest
