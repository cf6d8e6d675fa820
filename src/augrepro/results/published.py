"""The published tables: ``resources/published/*.csv`` read, checked and concatenated (:func:`load_published`).

Required columns: source, protocol, dataset, traditional, model, augmentation, epochs, metric, mean, std; optional:
runs, reported, note. Every row is checked before any comparison (an unknown metric, a mean that is not a number,
a bad ``traditional`` flag, a cell given twice), and the error names the file, the line and the fix.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from augrepro.results.metrics import METRICS
from augrepro.runs import REPORTED

PUBLISHED_COLUMNS = [
    "source",
    "protocol",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "epochs",
    "metric",
    "mean",
    "std",
]
# runs: published runs behind a mean; reported: how this cell's source summarized a run (best, final,
# median_last10), where it differs from its protocol's (the SaliencyMix table quotes Cutout's final-epoch
# numbers); note: what a reader of the cell should know.
OPTIONAL_COLUMNS = ["runs", "reported", "note"]


def to_bool(value) -> bool:
    """Parse a ``traditional`` flag written as bool, 0/1 or true/false text."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "1", "yes", "+"}:
            return True
        if text in {"false", "0", "no", ""}:
            return False
        raise ValueError(f"not a boolean: {value!r} (write true or false)")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def as_float(value) -> float:
    """``value`` as a float; NaN where it is not a number (empty, None, text)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _check_published_row(row: Any, where: str) -> None:
    """One row of a published table (a named tuple of its columns): names, metric, numbers and ``traditional``."""
    for col in ("source", "protocol", "dataset", "model", "augmentation"):
        value = getattr(row, col)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: column '{col}' is empty; every cell needs a {col}")
    if row.metric not in METRICS:
        raise ValueError(f"{where}: unknown metric {row.metric!r}; valid metrics: {', '.join(METRICS)}")
    for col, allow_empty in (("mean", False), ("std", True), ("epochs", True), ("runs", True)):
        value = getattr(row, col)
        if isinstance(value, str) and value.strip() == "":
            value = float("nan")
        number = as_float(value)
        if math.isnan(number) and not (allow_empty and (value is None or pd.isna(value))):
            raise ValueError(
                f"{where}: column '{col}' is {value!r}, not a number" + ("" if allow_empty else " (required)")
            )
        if not math.isnan(number) and number < 0:
            raise ValueError(f"{where}: column '{col}' is negative ({number})")
    try:
        to_bool(row.traditional)
    except ValueError as exc:
        raise ValueError(f"{where}: column 'traditional': {exc}") from None


def _check_published(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Types and values of one published table; errors name the file, the row and the fix."""
    for col in PUBLISHED_COLUMNS:
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}' (required: {', '.join(PUBLISHED_COLUMNS)})")
    keep = PUBLISHED_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in df.columns]
    df = df[keep].copy()
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = float("nan") if col == "runs" else ""
    bad = [v for v in df["reported"] if v not in ("", *REPORTED)]
    if bad:
        raise ValueError(
            f"{path}: column 'reported' is {bad[0]!r}; valid: {', '.join(REPORTED)} (or empty: the protocol's)"
        )
    for i, row in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        _check_published_row(row, f"{path}, line {i}")
    df["traditional"] = [to_bool(v) for v in df["traditional"]]
    for col in ("mean", "std", "epochs", "runs"):
        df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="coerce").astype(float)
    df["note"] = df["note"].fillna("").astype(str)
    df["reported"] = df["reported"].fillna("").astype(str)
    key = ["source", "protocol", "dataset", "traditional", "model", "augmentation", "metric"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise ValueError(
            f"{path}: cell given twice: {', '.join(f'{k}={first[k]}' for k in key)}; keep one row per cell"
        )
    return df


def load_published(published_dir: str | Path) -> pd.DataFrame:
    """Read, check and concatenate every ``*.csv`` in ``published_dir`` (sorted by file name)."""
    published_dir = Path(published_dir)
    if not published_dir.is_dir():
        raise ValueError(f"{published_dir}: published-tables folder not found (config key 'published')")
    # natural order, so that table10 follows table9
    files = sorted(
        published_dir.glob("*.csv"), key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]
    )
    if not files:
        raise ValueError(f"{published_dir}: no published *.csv files")
    frames = []
    for path in files:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        checked = _check_published(df, path)
        checked["file"] = path.name  # the study that answers a table names its file
        frames.append(checked)
    published = pd.concat(frames, ignore_index=True)
    for col in ("source", "protocol", "dataset", "model", "augmentation", "metric"):
        published[col] = published[col].astype(str).str.strip()
    return published
