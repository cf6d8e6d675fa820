"""Fetch a dataset archive: build it (embedded demo), copy it from a local folder, or download it.

A download streams to a temporary file, verifies the md5 before anything uses the file, then
renames it into place; nothing half-written is ever left under the final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import urllib.request
from pathlib import Path

from augrepro.data.datasets import DatasetSpec


class ChecksumError(ValueError):
    pass


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, spec: DatasetSpec, origin: str) -> None:
    if spec.md5 is None:
        return
    got = md5sum(path)
    if got != spec.md5:
        raise ChecksumError(
            f"{spec.archive} from {origin}: md5 {got} does not match the published {spec.md5}; "
            "the file is corrupt or truncated; delete it and download it again (or fix the mirror)"
        )


def source_url(spec: DatasetSpec, mirror: str | None) -> str:
    if mirror:
        return mirror.rstrip("/") + "/" + spec.archive
    return spec.url


def _download(url: str, tmp: Path, retries: int = 3, log=print) -> None:
    from tqdm import tqdm

    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=tmp.name, mininterval=5) as bar:
                    while block := resp.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            return
        except OSError as exc:
            if attempt == retries:
                raise RuntimeError(f"download of {url} failed after {retries} attempts: {exc}") from exc
            log(f"download of {url} failed ({exc}); retrying in {2 ** attempt} s")
            time.sleep(2**attempt)


def fetch(
    spec: DatasetSpec,
    dest: str | os.PathLike,
    mirror: str | None = None,
    local_dir: str | os.PathLike | None = None,
    log=print,
) -> Path:
    """Put the verified archive of ``spec`` at ``dest``."""
    dest = Path(dest)
    if dest.name != spec.archive:
        raise ValueError(f"{spec.name}: archive must be named {spec.archive!r}, not {dest.name!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        if spec.url == "embedded:":
            from augrepro.data import demo

            log(f"building the embedded {spec.name} dataset (no network)")
            demo.build_archive(tmp)
            origin = "the embedded builder"
        elif local_dir:
            src = Path(local_dir) / spec.archive
            if not src.is_file():
                raise FileNotFoundError(
                    f"data.local_dir is {local_dir!r} but {spec.archive} is not in it; "
                    f"put the archive there (md5 {spec.md5}) or unset data.local_dir"
                )
            log(f"copying {src}")
            shutil.copyfile(src, tmp)
            origin = str(src)
        else:
            origin = source_url(spec, mirror)
            log(f"downloading {origin}")
            _download(origin, tmp, log=log)
        _verify(tmp, spec, origin)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log(f"{dest}: md5 {md5sum(dest)}")
    return dest
