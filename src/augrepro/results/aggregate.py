"""Turn run directories into three tables: runs, summary and curves.

A run directory (``augrepro.runs.RUN_DIR``: ``results/runs/{protocol}/{dataset}/{model}/{augmentation}/
seed{seed}/``) holds ``metrics.csv`` (one row per epoch), ``timing.json`` and ``meta.json``. Errors are in
percent.

* ``runs``: one row per run with best / final / median-of-last-10 top-1 error, the top-5 error at the best
  top-1 epoch and at the final epoch, time, device and numerics (bf16 / tf32 / channels-last / compile).
* ``summary``: one row per (protocol, dataset, traditional, model, augmentation, method, variant) with
  the number of seeds, mean / sample std (ddof=1) of the error columns, and the numerics of its runs.
* ``curves``: one row per (run, epoch), for learning-curve figures.
* ``status`` (partial aggregation only): one row per run of the configured grid, ``ok``,
  ``failed`` (its training log exists but its outputs do not, or they cannot be read) or
  ``missing`` (neither exists), so that a report can render from any subset of runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augrepro.io import atomic_write_csv
from augrepro.runs import EPOCH_COLUMNS, GROUP_COLUMNS, IDENTITY_COLUMNS, REQUIRED_FILES, read_identity, read_json

# A run's evaluations (augrepro.evaluate; results/evaluate/...): its FGSM top-1 accuracy, and its detection
# mAP, mAP50 and mAP75 averaged over its detection seeds (percent; higher is better). NaN where not evaluated.
EVALUATION_METRICS = ["fgsm_top1_accuracy", "map", "map50", "map75"]
SUMMARY_METRICS = [
    "best_top1_error",
    "final_top1_error",
    "median_last10_top1_error",
    "top5_at_best_top1_error",
    "final_top5_error",
    *EVALUATION_METRICS,
]
RUN_COLUMNS = IDENTITY_COLUMNS + [
    "epochs",
    "best_top1_error",
    "best_epoch",
    "final_top1_error",
    "median_last10_top1_error",
    "top5_at_best_top1_error",
    "final_top5_error",
    "hours",
    "train_hours",
    "world_size",
    "device_hours",
    "images_per_second",
    "device",
    "device_name",
    "numerics",
    "code_version",
    "run_dir",
    *EVALUATION_METRICS,
    "detection_seeds",
]
CURVE_COLUMNS = [
    "protocol",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "seed",
    "epoch",
    "train_loss",
    "test_top1_error",
    "test_top5_error",
]
NUMERICS_FLAGS = ("bf16", "tf32", "channels_last", "compile")
RECORDED_SINCE_START = ("bf16", "channels_last", "compile")  # tf32 came later: absent means off


def run_numerics(timing: dict) -> str | None:
    """How a run computed, from its timing.json: the options it used joined by '+' (``bf16+channels_last``),
    ``fp32`` when none (full precision, TF32 off), None for a timing.json written before these flags were
    recorded."""
    if not all(flag in timing for flag in RECORDED_SINCE_START):
        return None
    used = [flag for flag in NUMERICS_FLAGS if timing.get(flag)]
    return "+".join(used) if used else "fp32"


_SORT = ["protocol", "dataset", "traditional", "model", "augmentation", "seed"]


def _read_metrics(path: Path) -> pd.DataFrame:
    try:
        metrics = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path}: metrics.csv is empty") from exc
    missing = [c for c in EPOCH_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"{path}: metrics.csv lacks column(s) {', '.join(missing)}")
    if metrics.empty:
        raise ValueError(f"{path}: metrics.csv has no epoch rows")
    return metrics.sort_values("epoch", kind="stable").reset_index(drop=True)


def _load_run(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise ValueError(f"run directory {run_dir}: missing file {name} ({run_dir / name})")
    metrics = _read_metrics(run_dir / "metrics.csv")
    timing = read_json(run_dir / "timing.json")  # any JSON object, read with the same checks
    meta_path = run_dir / "meta.json"
    meta = read_json(meta_path)
    ident = read_identity(meta, meta_path).as_row()

    top1 = metrics["test_top1_error"].to_numpy(dtype=float)
    top5 = metrics["test_top5_error"].to_numpy(dtype=float)
    epochs = metrics["epoch"].to_numpy()
    if np.all(np.isnan(top1)):
        raise ValueError(f"{run_dir / 'metrics.csv'}: test_top1_error has no values")
    best_idx = int(np.nanargmin(top1))
    last = top1[-min(10, len(top1)) :]

    def _seconds(key: str) -> float:
        value = timing.get(key)
        return float(value) / 3600.0 if value is not None else float("nan")

    row = dict(ident)
    row.update(
        {
            "epochs": int(epochs.max()),
            "best_top1_error": float(top1[best_idx]),
            "best_epoch": int(epochs[best_idx]),
            "final_top1_error": float(top1[-1]),
            "median_last10_top1_error": float(np.nanmedian(last)),
            # Top-5 at the epoch of the best top-1, as SaliencyMix-ImageNet and CutMix train.py record it.
            "top5_at_best_top1_error": float(top5[best_idx]),
            "final_top5_error": float(top5[-1]),
            "hours": _seconds("wall_seconds"),
            "train_hours": _seconds("train_seconds"),
            # What the run cost: its wall hours on each of its devices (a torchrun job holds world_size GPUs).
            "world_size": int(timing.get("world_size") or 1),
            "device_hours": _seconds("wall_seconds") * int(timing.get("world_size") or 1),
            "images_per_second": float(timing.get("images_per_second", float("nan"))),
            "device": timing.get("device"),
            "device_name": timing.get("device_name"),
            "numerics": run_numerics(timing),
            "code_version": meta.get("code_version"),
            "run_dir": str(run_dir),
        }
    )
    curve = pd.DataFrame(
        {
            "protocol": ident["protocol"],
            "dataset": ident["dataset"],
            "traditional": ident["traditional"],
            "model": ident["model"],
            "augmentation": ident["augmentation"],
            "seed": ident["seed"],
            "epoch": metrics["epoch"].astype(int),
            "train_loss": metrics["train_loss"].astype(float),
            "test_top1_error": metrics["test_top1_error"].astype(float),
            "test_top5_error": metrics["test_top5_error"].astype(float),
        }
    )
    return row, curve


_RUN_KEY = ["protocol", "dataset", "traditional", "model", "augmentation", "seed"]


def read_evaluations(paths) -> pd.DataFrame:
    """One row per evaluated run: ``fgsm_top1_accuracy`` from its ``fgsm.json``; ``map``, ``map50``, ``map75``
    as the mean over its ``detection.json`` files (one per detection seed) and ``detection_seeds``."""
    rows = []
    for path in paths or ():
        path = Path(path)
        result = read_json(path)
        ident = read_identity(result, path).as_row()
        key = {k: ident[k] for k in _RUN_KEY}
        if "fgsm_top1_accuracy" in result:
            rows.append({**key, "fgsm_top1_accuracy": float(result["fgsm_top1_accuracy"])})
        elif "map50" in result or "map" in result:
            rows.append(
                {
                    **key,
                    **{m: float(result.get(m, float("nan"))) for m in ("map", "map50", "map75")},
                    "detection_seeds": 1,
                }
            )
        else:
            raise ValueError(f"{path}: neither an FGSM result (fgsm_top1_accuracy) nor a detection result (map50)")
    columns = _RUN_KEY + EVALUATION_METRICS + ["detection_seeds"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows).reindex(columns=columns)
    frame["detection_seeds"] = frame["detection_seeds"].fillna(0)
    agg = {m: "mean" for m in EVALUATION_METRICS} | {"detection_seeds": "sum"}
    return frame.groupby(_RUN_KEY, dropna=False, sort=True).agg(agg).reset_index()


def attach_evaluations(runs: pd.DataFrame, evaluations: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with each run's evaluation columns filled in; an evaluation of a run that is not in ``runs``
    is an error naming it."""
    runs = runs.drop(columns=[c for c in EVALUATION_METRICS + ["detection_seeds"] if c in runs.columns])
    if len(evaluations):
        known = set(zip(*(runs[c] for c in _RUN_KEY))) if len(runs) else set()
        for key in zip(*(evaluations[c] for c in _RUN_KEY)):
            if key not in known:
                raise ValueError(
                    f"an evaluation result belongs to run {'/'.join(map(str, key))}, which is not aggregated here"
                )
    merged = runs.merge(evaluations, on=_RUN_KEY, how="left") if len(runs) else runs.reindex(columns=RUN_COLUMNS)
    merged["detection_seeds"] = merged["detection_seeds"].fillna(0).astype(int)
    return merged[RUN_COLUMNS]


def collect_runs(run_dirs: list[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read each run directory; return ``(runs, curves)``.

    Raises ValueError naming the directory and file when a file is missing or empty.
    """
    rows: list[dict] = []
    curves: list[pd.DataFrame] = []
    for run_dir in run_dirs:
        row, curve = _load_run(Path(run_dir))
        rows.append(row)
        curves.append(curve)
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if curves:
        curves_df = pd.concat(curves, ignore_index=True)[CURVE_COLUMNS]
    else:
        curves_df = pd.DataFrame(columns=CURVE_COLUMNS)
    runs = runs.sort_values(_SORT, kind="stable")
    return runs.reset_index(drop=True), curves_df


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1, NaN for a single value) and number of values over seeds per configuration.

    Groups by (protocol, dataset, traditional, model, augmentation, method, variant), keeping rows
    whose variant is null. ``n`` counts the runs; ``<metric>_n`` counts the values each mean and std are over (a
    run without an FGSM result has none), which is what a comparison's standard error needs.
    """
    out_cols = GROUP_COLUMNS + ["n", "epochs"]
    for col in [*SUMMARY_METRICS, "hours"]:
        out_cols += [f"{col}_mean", f"{col}_std", f"{col}_n"]
    out_cols += ["numerics"]
    if runs.empty:
        return pd.DataFrame(columns=out_cols)
    runs = runs.reindex(columns=list(dict.fromkeys([*runs.columns, *RUN_COLUMNS])))  # a metric not recorded: NaN

    grouped = runs.groupby(GROUP_COLUMNS, dropna=False, sort=True)
    agg: dict[str, tuple[str, str | Callable[[Any], str | None]]] = {"n": ("seed", "size"), "epochs": ("epochs", "max")}
    for col in [*SUMMARY_METRICS, "hours"]:
        agg[f"{col}_mean"] = (col, "mean")
        agg[f"{col}_std"] = (col, "std")  # pandas: ddof=1, NaN for one value
        agg[f"{col}_n"] = (col, "count")  # values, not rows: NaN (not evaluated) does not count
    # how the cell's runs computed (bf16 / tf32 / channels_last / compile, or fp32), each kind once
    agg["numerics"] = ("numerics", lambda v: ", ".join(sorted({str(x) for x in v if isinstance(x, str) and x})) or None)
    summary = grouped.agg(**agg).reset_index()
    summary["variant"] = summary["variant"].astype(object).where(summary["variant"].notna(), None)
    return summary[out_cols]


def write_aggregate(
    run_dirs: list[str | Path],
    runs_csv: str | Path,
    summary_csv: str | Path,
    curves_csv: str | Path,
    evaluations=(),
) -> None:
    """Collect the runs (with their ``evaluations``' results: fgsm.json and detection.json files) and write
    runs, summary and curves CSVs, each atomically."""
    runs, curves = collect_runs(run_dirs)
    runs = attach_evaluations(runs, read_evaluations(evaluations))
    summary = summarize(runs)
    atomic_write_csv(runs_csv, runs)
    atomic_write_csv(summary_csv, summary)
    atomic_write_csv(curves_csv, curves)


# --- partial aggregation: whatever runs of the grid exist --------------------------------

GRID_KEYS = (
    "protocol",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "method",
    "seed",
    "epochs",
    "run_dir",
    "log",
)
STATUS_COLUMNS = [
    "protocol",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "method",
    "variant",
    "seed",
    "epochs",
    "status",
    "reason",
    "run_dir",
    "log",
]
STATUSES = ("ok", "failed", "missing")


def _check_grid(grid: list[dict]) -> None:
    if not isinstance(grid, (list, tuple)):
        raise ValueError(f"grid: expected a list of run entries, got {type(grid).__name__}")
    for i, entry in enumerate(grid):
        if not isinstance(entry, dict):
            raise ValueError(f"grid entry {i}: expected a mapping, got {type(entry).__name__}")
        missing = [k for k in GRID_KEYS if k not in entry]
        if missing:
            raise ValueError(
                f"grid entry {i} ({entry.get('run_dir', '?')}): lacks key(s) {', '.join(missing)}; "
                f"each entry needs {', '.join(GRID_KEYS)} (and optionally variant)"
            )


def run_status(run_dir: str | Path, log: str | Path) -> tuple[str, str]:
    """``(status, reason)`` of one grid run from what is on disk.

    ``ok``: metrics.csv, timing.json and meta.json all exist. ``failed``: the training log exists
    but the outputs are absent or incomplete (a job that is still running also looks like this).
    ``missing``: neither the outputs nor the log exist (the job never started).
    """
    run_dir = Path(run_dir)
    present = [name for name in REQUIRED_FILES if (run_dir / name).is_file()]
    if len(present) == len(REQUIRED_FILES):
        return "ok", ""
    if present:
        absent = [name for name in REQUIRED_FILES if name not in present]
        return "failed", f"incomplete outputs: {', '.join(absent)} missing"
    if Path(log).is_file():
        return "failed", f"no metrics.csv; see the log {log}"
    return "missing", "not run"


def scan_grid(grid: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read every grid run that finished; return ``(runs, curves, status)``.

    ``grid`` holds one mapping per configured run with the keys of ``GRID_KEYS`` (``variant``
    optional). A run whose outputs exist but cannot be read is marked ``failed`` with the reason,
    instead of stopping the aggregation.
    """
    _check_grid(grid)
    rows: list[dict] = []
    curves: list[pd.DataFrame] = []
    status_rows: list[dict] = []
    for entry in grid:
        status, reason = run_status(entry["run_dir"], entry["log"])
        if status == "ok":
            try:
                row, curve = _load_run(Path(entry["run_dir"]))
            except (ValueError, OSError) as exc:
                status, reason = "failed", f"unreadable outputs: {exc}"
            else:
                rows.append(row)
                curves.append(curve)
        status_rows.append(
            {
                "protocol": str(entry["protocol"]),
                "dataset": str(entry["dataset"]),
                "traditional": bool(entry["traditional"]),
                "model": str(entry["model"]),
                "augmentation": str(entry["augmentation"]),
                "method": str(entry["method"]),
                "variant": entry.get("variant"),
                "seed": int(entry["seed"]),
                "epochs": int(entry["epochs"]),
                "status": status,
                "reason": reason,
                "run_dir": str(entry["run_dir"]),
                "log": str(entry["log"]),
            }
        )
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    runs = runs.sort_values(_SORT, kind="stable")
    curves_df = pd.concat(curves, ignore_index=True)[CURVE_COLUMNS] if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return runs.reset_index(drop=True), curves_df, pd.DataFrame(status_rows, columns=STATUS_COLUMNS)


def write_partial_aggregate(
    grid: list[dict],
    runs_csv: str | Path,
    summary_csv: str | Path,
    curves_csv: str | Path,
    status_csv: str | Path,
    evaluations=(),
) -> pd.DataFrame:
    """Aggregate whatever grid runs exist, with whatever of their ``evaluations`` (result paths of the
    grid's FGSM and detection jobs) exist; write runs, summary, curves and status CSVs atomically.

    Returns the status table (one row per grid run).
    """
    runs, curves, status = scan_grid(grid)
    found = read_evaluations([p for p in evaluations if Path(p).is_file()])
    if len(found) and len(runs):  # only evaluations of runs that were read (an unreadable run is 'failed')
        known = set(zip(*(runs[c] for c in _RUN_KEY)))
        found = found[[k in known for k in zip(*(found[c] for c in _RUN_KEY))]]
    runs = attach_evaluations(runs, found if len(runs) else found.iloc[0:0])
    summary = summarize(runs)
    atomic_write_csv(runs_csv, runs)
    atomic_write_csv(summary_csv, summary)
    atomic_write_csv(curves_csv, curves)
    atomic_write_csv(status_csv, status)
    return status
