"""What the report says about how its numbers were made: the workflow's versions and settings, and what the
runs record (devices, hours, code versions, numerics, the variant each method ran)."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from augrepro.provenance import describe_environment
from augrepro.report.format import number, value_text


def _gpu_mask(runs: pd.DataFrame) -> pd.Series:
    if "device" in runs.columns:
        return runs["device"].astype(str).str.lower().str.startswith("cuda")
    names = runs.get("device_name", pd.Series("", index=runs.index)).astype(str).str.lower()
    return ~names.str.contains("cpu")


def computed_provenance(
    runs: pd.DataFrame, summary: pd.DataFrame, status: pd.DataFrame | None
) -> list[tuple[str, str]]:
    """Runs, their status, devices, GPU-hours, code versions and the variant each method ran."""
    out: list[tuple[str, str]] = [("number of runs", str(len(runs)))]
    if status is not None and len(status):
        counts = Counter(status["status"])
        out.append(("grid runs", ", ".join(f"{k} {counts.get(k, 0)}" for k in ("ok", "failed", "missing"))))
    if len(runs):
        gpu = _gpu_mask(runs)
        names = sorted({str(v) for v in runs.loc[gpu, "device_name"].dropna()}) if "device_name" in runs else []
        out.append(("GPU names", ", ".join(names) if names else "none (no run on a GPU)"))
        cpu_names = sorted({str(v) for v in runs.loc[~gpu, "device_name"].dropna()}) if "device_name" in runs else []
        if cpu_names:
            out.append(("CPU names", ", ".join(cpu_names)))
        if "numerics" in runs.columns:
            numerics = Counter(str(v) for v in runs["numerics"].dropna())
            if numerics:
                out.append(
                    (
                        "numerics of the runs (bf16 / tf32 / channels_last / compile; fp32: none, TF32 off)",
                        ", ".join(f"{k}: {n} runs" for k, n in sorted(numerics.items())),
                    )
                )
        # device hours: a run's wall hours times the GPUs it held (a torchrun job of world_size processes)
        column = "device_hours" if "device_hours" in runs else "hours"
        hours = pd.to_numeric(runs[column], errors="coerce") if column in runs else pd.Series(dtype=float)
        out.append(("total GPU hours (wall hours x GPUs per run)", number(hours[gpu].sum(), 3)))
        out.append(("total CPU hours", number(hours[~gpu].sum(), 3)))
        if "code_version" in runs.columns:
            versions = sorted({str(v) for v in runs["code_version"].dropna()})
            if versions:
                out.append(("code versions of the runs", ", ".join(versions)))
    if "method" in summary.columns and len(summary):
        parts = []
        for method, group in summary.groupby("method", sort=True):
            variants = sorted({str(v) for v in group["variant"] if isinstance(v, str) and v})
            parts.append(f"{method}: {', '.join(variants) if variants else '(no variants)'}")
        out.append(("variant per method", "; ".join(parts)))
    return out


def workflow_provenance(config: dict, studies: dict | None = None) -> dict:
    """What the report says about the workflow that made it: code and package versions, the studies that ran
    and those that were skipped (with why), and the execution settings."""
    env = describe_environment()
    entries = (studies or {}).get("studies", [])
    out = {
        "code version (report)": env["code_version"],
        "packages": env["packages"],
        "python": env["python"],
        "studies run": ", ".join(f"{s['name']} ({s['runs']} runs)" for s in entries if s["status"] == "chosen")
        or "none",
    }
    skipped = [f"{s['name']}: {s['reason']}" for s in entries if s["status"] == "skipped"]
    if skipped:
        out["studies skipped"] = "; ".join(skipped)
    out["execution (config 'training')"] = config.get("training") or {}
    return out


def provenance_rows(
    given: dict | None, runs: pd.DataFrame, summary: pd.DataFrame, status: pd.DataFrame | None
) -> list[tuple[str, str]]:
    """The page's provenance table: what the caller gives (``workflow_provenance``), then what the runs record."""
    return [(str(k), value_text(v)) for k, v in (given or {}).items()] + computed_provenance(runs, summary, status)
