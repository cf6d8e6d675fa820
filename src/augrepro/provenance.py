"""Where a result came from: code version, package versions, machine."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import augrepro

PACKAGES = ("torch", "numpy", "pandas", "opencv-contrib-python-headless", "scikit-learn", "snakemake")


def code_version() -> str:
    """``augrepro <version>`` plus ``git describe`` of the checkout when there is one."""
    root = Path(__file__).resolve().parents[2]
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"augrepro {augrepro.__version__}" + (f" ({described})" if described else "")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def describe_environment() -> dict:
    return {
        "code_version": code_version(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        # Which scheduler job and which GPUs ran this (SLURM or a workstation profile sets these).
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def device_name(device) -> str:
    """The GPU's name (torch.cuda), or the CPU's model name (/proc/cpuinfo)."""
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"
