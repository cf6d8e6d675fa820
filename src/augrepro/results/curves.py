"""Published learning curves: the authors' own per-epoch logs, recorded like published cells.

``<published>/curves/index.csv`` names each curve: its source, the protocol and the cell (dataset, "+", model,
augmentation) whose learning curves it overlays in the report, the arguments of the authors' run as its log
header states them, and (optional column ``differs``) how that run's recipe differs from the cell's protocol, empty
when it is the protocol's: the report draws a log of another recipe apart and labels the difference.
``<published>/curves/<curve>.csv`` holds ``epoch`` (1-based) and ``test_top1_error`` (%).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from augrepro.results.published import to_bool

INDEX_COLUMNS = ["curve", "source", "protocol", "dataset", "traditional", "model", "augmentation", "args"]
OPTIONAL_INDEX_COLUMNS = ["differs"]  # empty: the run's recipe is the cell's protocol
CURVE_COLUMNS = ["epoch", "test_top1_error"]


def load_published_curves(published_dir: str | Path) -> pd.DataFrame:
    """Every published curve in long form: the index's columns, then ``epoch`` and ``test_top1_error``.
    An empty frame when the folder has no curves; a clear error for a malformed file."""
    folder = Path(published_dir) / "curves"
    index_path = folder / "index.csv"
    if not index_path.is_file():
        return pd.DataFrame(columns=INDEX_COLUMNS + OPTIONAL_INDEX_COLUMNS + CURVE_COLUMNS)
    index = pd.read_csv(index_path, dtype=str, keep_default_na=False)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"{index_path}: missing column(s) {', '.join(missing)} (required: {', '.join(INDEX_COLUMNS)})")
    for column in OPTIONAL_INDEX_COLUMNS:
        if column not in index.columns:
            index[column] = ""
    columns = INDEX_COLUMNS + OPTIONAL_INDEX_COLUMNS
    frames = []
    for row in index[columns].itertuples(index=False):
        path = folder / f"{row.curve}.csv"
        if not path.is_file():
            raise ValueError(f"{index_path}: curve {row.curve!r} has no file {path.name}")
        points = pd.read_csv(path)
        absent = [c for c in CURVE_COLUMNS if c not in points.columns]
        if absent:
            raise ValueError(f"{path}: missing column(s) {', '.join(absent)}")
        if points.empty or points["epoch"].min() < 1 or not points["epoch"].is_monotonic_increasing:
            raise ValueError(f"{path}: epochs must be 1-based and increasing")
        frames.append(points[CURVE_COLUMNS].assign(**{c: getattr(row, c) for c in columns}))
    curves = pd.concat(frames, ignore_index=True)[columns + CURVE_COLUMNS]
    curves["traditional"] = [to_bool(v) for v in curves["traditional"]]
    return curves
