"""The one check that needs torch: every (method, parameters, dataset) of the chosen grids builds.

A method's parameters are the fields of its class, with their types and ranges (:mod:`augrepro.augment.base`), and
binding it to a dataset checks what depends on the images (a box no larger than the image, say). Checking them means
importing the methods' modules, and torch with them: about 2 s of a 2-core machine, in every dry run and in every
job's parse of the Snakefile. Every other check of the input files reads only schemas and the registries'
declarations (no torch).

So the builds are remembered: :func:`check_builds` writes, after they all pass, a marker named by the SHA-256 of what
they checked: each build's method, parameters and dataset, the library's source (every ``.py`` file of
``augrepro``) and the installed torch's version. The next check of the same content, with the same code, finds the
marker and imports no torch; a change of any of these (a new method, another parameter, an edited range) checks again.
Only passes are remembered: a bad parameter fails every time, naming the study, the augmentation and the key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from augrepro.data.datasets import get_spec
from augrepro.errors import ConfigError
from augrepro.io import atomic_write_text

PACKAGE = Path(__file__).resolve().parents[1]  # src/augrepro

# (method, parameters as canonical JSON, dataset) -> where it is asked for (the message's prefix if it fails)
Builds = dict[tuple[str, str, str], str]


def add_build(builds: Builds, where: str, method: str, params: Mapping[str, Any], dataset: str) -> None:
    """Ask for ``method`` with ``params`` on ``dataset`` to be built; ``where`` names the study file, augmentation
    and protocol (the first place that asks is the one an error names)."""
    builds.setdefault((method, json.dumps(dict(params), sort_keys=True), dataset), where)


@functools.cache
def library_fingerprint() -> str:
    """The SHA-256 of the library's source files (their paths and bytes) and of the installed torch's version."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        digest.update(importlib.metadata.version("torch").encode())
    except importlib.metadata.PackageNotFoundError:
        digest.update(b"no torch")
    return digest.hexdigest()


def builds_fingerprint(builds: Builds) -> str:
    """The SHA-256 naming a set of builds checked by this library: their content (not where they were asked for)."""
    content = json.dumps(sorted(builds), separators=(",", ":"))
    return hashlib.sha256(f"{library_fingerprint()}\n{content}".encode()).hexdigest()


def check_builds(builds: Builds, cache_dir: str | Path | None = None) -> bool:
    """Build every method of ``builds`` on its dataset (ConfigError naming where it was asked for, and the problem);
    with ``cache_dir``, skip it when a marker of the same content passed there before, and leave one after a pass.
    Returns whether the methods were built (False: the marker said they pass)."""
    marker = Path(cache_dir) / f"builds-{builds_fingerprint(builds)}.ok" if cache_dir is not None else None
    if marker is not None and marker.is_file():
        return False
    from augrepro.augment import build_augmentation

    for (method, params, dataset), where in builds.items():
        try:
            build_augmentation(method, json.loads(params), get_spec(dataset))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, f"{len(builds)} builds passed\n")
    return True
