"""Shared fixtures: a throwaway copy of the project in which Snakemake can run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_ITEMS = ["workflow", "config", "resources", "report", "slurm", "workstation", "src", "environment.yml", ".test"]


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs CUDA (a skip condition whose reason names CUDA) with ``cuda``, so that
    ``pytest -m cuda`` (bench/gpu_check.sh) runs exactly the tests a GPU machine adds."""
    for item in items:
        if any("cuda" in str(mark.kwargs.get("reason", "")).lower() for mark in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.cuda)


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in PROJECT_ITEMS:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / item)
    return dest


def snakemake(project: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run Snakemake from this Python environment in ``project``; output is captured as text."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run or dry-run, as {rule: count}."""
    counts: dict[str, int] = {}
    section = output.split("Job stats:", 1)[-1]
    for line in section.splitlines():
        m = re.match(r"^([A-Za-z_]\w*)\s+(\d+)\s*$", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
        elif counts and not line.strip():
            break
    return counts


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


# A tiny protocol for real runs in tests: the demo recipe, 2 epochs on a few images.
TINY_PROTOCOL = {
    "title": "tiny test protocol",
    "base": "demo",
    "epochs": 2,
    "batch_size": 32,
    "milestones": [1],
    "max_train_images": 192,
    "max_test_images": 100,
}


def add_protocol(project: Path, name: str, values: dict) -> None:
    """Append a protocol to the project's config/protocols.yaml."""
    path = project / "config" / "protocols.yaml"
    path.write_text(path.read_text() + "\n" + yaml.safe_dump({name: values}, sort_keys=False))


def add_study(project: Path, name: str, study: dict, folder: str = "config/studies") -> Path:
    """Write a study file (title and source filled in when absent) into the project."""
    study = {"title": f"test study {name}", "source": "tests", **study}
    path = project / folder / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path
