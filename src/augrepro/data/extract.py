"""Safe archive extraction: every member must land inside the target folder.

Tar and zip members are checked before a single byte is written: an absolute path, a ``..``
component, a link or a device refuses the whole archive. Extraction goes to a temporary sibling
folder that is renamed into place only when complete (``augrepro.io.atomic_folder``), so a failure leaves no
half-extracted target.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from augrepro.io import atomic_folder


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is a link or device."""


def check_member_name(name: str, archive: str | os.PathLike) -> None:
    """Refuse a member name that is absolute, has a drive or a backslash, or contains ``..``."""
    if not name or name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if "\\" in name:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains a backslash; refusing to extract")
    if ".." in PurePosixPath(name).parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")


def check_tar_member(member: tarfile.TarInfo, archive: str | os.PathLike) -> None:
    check_member_name(member.name, archive)
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a link; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is not a regular file or folder")


def _check_zip_member(info: zipfile.ZipInfo, archive: Path) -> None:
    check_member_name(info.filename, archive)
    kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type, when the zip records one
    if kind == stat.S_IFLNK:
        raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link; refusing to extract")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchiveError(
            f"{archive}: member {info.filename!r} is not a regular file or folder; refusing to extract"
        )


def extract_tar(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a (gzipped) tar archive into ``target`` after checking every member.

    Extraction goes to a temporary sibling folder that is renamed into place only when complete,
    so a failure leaves no half-extracted ``target``.
    """
    archive, target = Path(archive), Path(target)
    return atomic_folder(target, lambda tmp: extract_tar_into(archive, tmp))


def extract_tar_into(archive: str | os.PathLike, folder: str | os.PathLike) -> None:
    """Extract a (gzipped) tar archive into the existing ``folder`` after checking every member (the caller
    makes ``folder`` a temporary one: datasets made of several archives extract them side by side)."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_tar_member(member, archive)
            tar.extractall(folder, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"{archive}: not a readable tar archive ({exc}); delete it and download it again") from exc


def extract_zip(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a zip archive into ``target`` after checking every member (same rules as tar).

    Every member's CRC is checked while it is read, so a corrupt member fails the extraction.
    """
    archive, target = Path(archive), Path(target)

    def fill(tmp: Path) -> None:
        try:
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    _check_zip_member(info, archive)
                for info in infos:
                    out = tmp.joinpath(*PurePosixPath(info.filename).parts)
                    if info.is_dir():
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
            raise ValueError(f"{archive}: not a readable zip archive ({exc}); delete it and download it again") from exc

    return atomic_folder(target, fill)
