"""The one atomic writer: write to a temporary sibling, fsync, rename over the target.

A reader (or a Snakemake job that is killed half-way) therefore sees the old file or the new one, never a
half-written one. The wrappers take the target path first, then what to write: :func:`atomic_open` (any file
object), text, bytes, CSV, ``torch.save``, ``np.savez``; :func:`atomic_fill` for writers that want a file name
(a download, a copy), checked before the rename; :func:`atomic_folder` for a whole folder (an extraction).
(``augrepro.data.download`` keeps its ``.part`` file under a fixed name on purpose, to resume it.)
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; on success fsync it and rename it to ``path``; on
    failure remove it and leave ``path`` as it was. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(payload)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def atomic_write_csv(path: str | os.PathLike, frame) -> None:
    """A pandas DataFrame as CSV, without the index."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False)


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def atomic_savez(path: str | os.PathLike, compressed: bool = False, **arrays) -> None:
    """numpy ``savez`` (or ``savez_compressed``) of ``arrays``; ``path`` keeps its name (no ``.npz`` added)."""
    import numpy as np

    with atomic_open(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def atomic_fill(
    path: str | os.PathLike, fill: Callable[[Path], Any], check: Callable[[Path], Any] | None = None
) -> Path:
    """``fill(staged)`` writes the file ``staged``, which has ``path``'s name, in an empty temporary folder beside
    ``path`` (for writers that name the file themselves, such as torch.hub's downloads); ``check(staged)``, if
    given, verifies it; only then is it fsynced and renamed to ``path``. On any failure nothing appears under
    ``path`` and the temporary folder is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staged = tmp / path.name
        fill(staged)
        if check is not None:
            check(staged)
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(staged, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def atomic_folder(path: str | os.PathLike, fill: Callable[[Path], Any]) -> Path:
    """``fill(tmp)`` fills an empty temporary sibling folder of ``path``, which is then renamed to ``path``
    (replacing an earlier ``path`` only now): a failure leaves no half-filled ``path``. The files are not fsynced
    one by one (an extraction can hold a million of them); the rename is what makes the folder appear whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
