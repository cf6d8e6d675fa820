"""Safe archive extraction: every member must land inside the target folder."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is a link or device."""


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in Path(name).parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(f"{archive}: member {name!r} is a link; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{archive}: member {name!r} is not a regular file or folder")


def extract_tar(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a (gzipped) tar archive into ``target`` after checking every member.

    Extraction goes to a temporary sibling folder that is renamed into place only when complete,
    so a failure leaves no half-extracted ``target``.
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(member, archive)
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ValueError(
                f"{archive}: not a readable tar archive ({exc}); delete it and download it again"
            ) from exc
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
