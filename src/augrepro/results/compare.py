"""Compare our summary with published numbers, cell by cell.

Published cells live in ``resources/published/*.csv`` (columns: source, dataset,
traditional, model, augmentation, epochs, metric, mean, std). A published cell is matched to
our summary rows on (dataset, traditional, model) and on our ``method`` equal to the
published ``augmentation``. Usually one summary row matches; when several do (e.g. two
variants of one method), the comparison has one row per match.

Verdict rule (errors in percent, lower is better):

* ``missing``: we have no run for the cell.
* Otherwise let ``diff = ours_mean - published_mean`` (ours = mean over seeds of the
  best-epoch top-1 error) and
  ``se = sqrt(ours_std**2 / n + published_std**2 / 5)`` (published cells are means of 5
  runs). A term is left out when its std is missing or, for ours, when n < 2. If neither
  term is available, the tolerance is 0.5 percentage points instead of ``2 * se``.
* ``reproduced`` if ``|diff| <= 2 * se``; ``better`` if ``diff < -2 * se``;
  ``worse`` if ``diff > 2 * se``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

PUBLISHED_COLUMNS = [
    "source",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "epochs",
    "metric",
    "mean",
    "std",
]
PUBLISHED_RUNS = 5
FALLBACK_TOLERANCE = 0.5
MATCH_KEYS = ["dataset", "traditional", "model", "method"]

VERDICT_RULE = (
    "Ours is the mean over seeds of the best-epoch error; diff = ours - published (lower "
    "error is better). se = sqrt(ours_std^2/n + published_std^2/5), leaving out a term whose "
    "std is missing (or ours when n < 2); with neither term the tolerance is 0.5 points. "
    "reproduced: |diff| <= 2 se; better: diff < -2 se; worse: diff > 2 se; missing: not run."
)

# published metric -> (mean, std, final mean, median-of-last-10 mean) columns of the summary
_METRIC_COLUMNS = {
    "top1_error": (
        "best_top1_error_mean",
        "best_top1_error_std",
        "final_top1_error_mean",
        "median_last10_top1_error_mean",
    ),
    "top5_error": ("best_top5_error_mean", "best_top5_error_std", None, None),
}

COMPARE_COLUMNS = [
    "source",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "published_epochs",
    "published_mean",
    "published_std",
    "ours_mean",
    "ours_std",
    "n",
    "ours_epochs",
    "ours_final_mean",
    "ours_median10_mean",
    "diff",
    "tolerance",
    "verdict",
    "variant",
    "our_augmentation",
]


def to_bool(value) -> bool:
    """Parse a ``traditional`` flag written as bool, 0/1 or true/false text."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "1", "yes", "+"}:
            return True
        if text in {"false", "0", "no", ""}:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def dataset_label(dataset: str, traditional) -> str:
    """Paper-style column name: cifar10 + traditional -> 'CIFAR-10+'."""
    name = str(dataset)
    lower = name.lower()
    if lower.startswith("cifar") and lower[5:].isdigit():
        name = f"CIFAR-{lower[5:]}"
    return name + ("+" if to_bool(traditional) else "")


def load_published(published_dir: str | Path) -> pd.DataFrame:
    """Read and concatenate every ``*.csv`` in ``published_dir``; validate the columns."""
    published_dir = Path(published_dir)
    files = sorted(published_dir.glob("*.csv"))
    if not files:
        raise ValueError(f"{published_dir}: no published *.csv files")
    frames = []
    for path in files:
        df = pd.read_csv(path, dtype={"std": float, "mean": float}, keep_default_na=True)
        for col in PUBLISHED_COLUMNS:
            if col not in df.columns:
                raise ValueError(f"{path}: missing column '{col}'")
        df = df[PUBLISHED_COLUMNS].copy()
        try:
            df["traditional"] = [to_bool(v) for v in df["traditional"]]
        except ValueError as exc:
            raise ValueError(f"{path}: column 'traditional': {exc}") from exc
        frames.append(df)
    published = pd.concat(frames, ignore_index=True)
    published["epochs"] = pd.to_numeric(published["epochs"], errors="coerce")
    for col in ("source", "dataset", "model", "augmentation", "metric"):
        published[col] = published[col].astype(str)
    return published


def _num(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def verdict(diff: float, ours_std: float, n: int, published_std: float) -> tuple[str, float]:
    """Return (verdict, tolerance) for one matched cell; see the module docstring."""
    terms = []
    if n >= 2 and not math.isnan(ours_std):
        terms.append(ours_std**2 / n)
    if not math.isnan(published_std):
        terms.append(published_std**2 / PUBLISHED_RUNS)
    tolerance = 2.0 * math.sqrt(sum(terms)) if terms else FALLBACK_TOLERANCE
    if abs(diff) <= tolerance:
        return "reproduced", tolerance
    return ("better" if diff < 0 else "worse"), tolerance


def _normalized_summary(summary: pd.DataFrame) -> pd.DataFrame:
    ours = summary.copy()
    ours["traditional"] = [to_bool(v) for v in ours["traditional"]]
    if "method" not in ours.columns:
        ours["method"] = ours["augmentation"]
    for col in ("dataset", "model", "method", "augmentation"):
        ours[col] = ours[col].astype(str)
    return ours


def compare(summary: pd.DataFrame, published: pd.DataFrame, metric: str = "top1_error") -> pd.DataFrame:
    """One row per published cell of ``metric`` (and per matching summary row of ours)."""
    if metric not in _METRIC_COLUMNS:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(_METRIC_COLUMNS)}")
    mean_col, std_col, final_col, med_col = _METRIC_COLUMNS[metric]
    ours = _normalized_summary(summary)
    cells = published[published["metric"] == metric]

    rows = []
    for cell in cells.itertuples(index=False):
        trad = to_bool(cell.traditional)
        base = {
            "source": cell.source,
            "dataset": cell.dataset,
            "traditional": trad,
            "model": cell.model,
            "augmentation": cell.augmentation,
            "published_epochs": cell.epochs,
            "published_mean": _num(cell.mean),
            "published_std": _num(cell.std),
        }
        match = ours[
            (ours["dataset"] == cell.dataset)
            & (ours["traditional"] == trad)
            & (ours["model"] == cell.model)
            & (ours["method"] == cell.augmentation)
        ]
        if match.empty:
            rows.append(
                base
                | {
                    "ours_mean": float("nan"),
                    "ours_std": float("nan"),
                    "n": 0,
                    "ours_epochs": float("nan"),
                    "ours_final_mean": float("nan"),
                    "ours_median10_mean": float("nan"),
                    "diff": float("nan"),
                    "tolerance": float("nan"),
                    "verdict": "missing",
                    "variant": None,
                    "our_augmentation": None,
                }
            )
            continue
        for _, row in match.iterrows():
            n = int(row.get("n", 0) or 0)
            ours_mean = _num(row.get(mean_col))
            ours_std = _num(row.get(std_col))
            diff = ours_mean - base["published_mean"]
            if math.isnan(diff):
                status, tol = "missing", float("nan")
            else:
                status, tol = verdict(diff, ours_std, n, base["published_std"])
            variant = row.get("variant")
            if variant is not None and not isinstance(variant, str) and pd.isna(variant):
                variant = None
            rows.append(
                base
                | {
                    "ours_mean": ours_mean,
                    "ours_std": ours_std,
                    "n": n,
                    "ours_epochs": _num(row.get("epochs")),
                    "ours_final_mean": _num(row.get(final_col)) if final_col else float("nan"),
                    "ours_median10_mean": _num(row.get(med_col)) if med_col else float("nan"),
                    "diff": diff,
                    "tolerance": tol,
                    "verdict": status,
                    "variant": variant,
                    "our_augmentation": row["augmentation"],
                }
            )
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def unmatched(summary: pd.DataFrame, published: pd.DataFrame, metric: str = "top1_error") -> pd.DataFrame:
    """Our summary rows that match no published cell of ``metric`` (e.g. a demo dataset)."""
    ours = _normalized_summary(summary)
    cells = published[published["metric"] == metric]
    keys = {
        (str(c.dataset), to_bool(c.traditional), str(c.model), str(c.augmentation))
        for c in cells.itertuples(index=False)
    }
    mask = [
        (d, t, m, me) not in keys
        for d, t, m, me in zip(ours["dataset"], ours["traditional"], ours["model"], ours["method"])
    ]
    return summary.loc[pd.Series(mask, index=summary.index, dtype=bool)].reset_index(drop=True)
