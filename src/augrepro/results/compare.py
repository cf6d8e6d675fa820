"""Compare our summary with published numbers, cell by cell.

Published cells live in ``resources/published/*.csv`` (required columns: source, protocol, dataset,
traditional, model, augmentation, epochs, metric, mean, std; optional: runs, note). A published cell is
matched to our summary rows of *its protocol only* (the recipe its source trained with: a run of another
protocol never fills it, even with equal epochs), on (dataset, traditional, model), and on our ``method``
equal to the published ``augmentation`` (or our augmentation name, where an alias is named like a published
cell). Usually one summary row matches; when several do (two variants of one method run side by side), the
comparison has one row per match. Ours is the statistic the protocol's source reports (``reported``: the
best epoch, the final epoch or the median of the last 10), and for top-5 the error at the best top-1 epoch.

Verdict rule (``VERDICT_RULE`` below, shown on the report):

* ``missing``: no run of ours; ``failed``: runs of ours were configured but all failed.
* Otherwise ``diff = ours_mean - published_mean``, ours being the mean over seeds of the metric the
  papers report (the best epoch's test error, as in the released SaliencyMix and CutMix code), and
  ``se = sqrt(s_o^2 / n + s_p^2 / n_p)``: ``s_o``, ``n`` our sample std and number of seeds;
  ``s_p`` the published std, or our std where none was printed (a single published run varies as
  one of ours); ``n_p`` the published number of runs (column ``runs``; when absent, 5 if a std
  was printed, else 1). A term without a std is left out; with no term left the tolerance is 0.5
  points. ``tolerance = 2 se``, for hours at least 25 % of the published time (the paper's GPU is
  not ours).
* ``reproduced`` if ``|diff| <= tolerance``; ``better`` if ``diff < -tolerance`` (lower error,
  fewer hours); ``worse`` if ``diff > tolerance``. For the metrics of ``HIGHER_IS_BETTER`` (FGSM accuracy,
  detection mAP) the rule is given ``-diff``: ``better`` is a higher value than the published one.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from augrepro.runs import REPORTED, REPORTED_TOP5

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
OPTIONAL_COLUMNS = ["runs", "note"]
METRICS = ("top1_error", "top5_error", "hours", "fgsm_top1_accuracy", "map", "map50", "map75")
# For these, HIGHER IS BETTER (accuracy under FGSM; detection mAP over IoU 0.50:0.95, at 0.5 and at 0.75, in
# percent): ``better`` means ours above the published value. Every other metric is an error or a time, where
# lower is better. Each is a run's value from its evaluation (augrepro.evaluate), its summary column the name.
HIGHER_IS_BETTER = frozenset({"fgsm_top1_accuracy", "map", "map50", "map75"})
# Published runs behind a mean ± std when the table does not say (SaliencyMix CIFAR: 5 runs).
DEFAULT_RUNS_WITH_STD = 5
DEFAULT_RUNS_WITHOUT_STD = 1
FALLBACK_TOLERANCE = 0.5
# Wall time depends on the GPU, which the papers do not share with us.
HOURS_RELATIVE_TOLERANCE = 0.25
VERDICTS = ("reproduced", "better", "worse", "failed", "missing", "not runnable")

VERDICT_RULE = (
    "Ours is the mean over seeds of the statistic the protocol's source reports (the best epoch's test "
    "error for most codes, the median of the last 10 epochs for PuzzleMix's; top-5 at the best top-1 "
    "epoch; the final epoch and the median of the last 10 are shown beside it), or of the wall hours. "
    "diff = ours - published; lower is better. se = sqrt(s_o^2/n + s_p^2/n_p), with s_o and n our "
    "sample std and number of seeds, s_p the published std (our std stands in where none was "
    "printed), n_p the published number of runs (5 when a std was printed and the count is not "
    "given, else 1); a term without a std is left out, and with no term left the tolerance is 0.5 "
    "points. Tolerance = 2 se (for hours at least 25 % of the published time). reproduced: "
    "|diff| <= tolerance; better: diff < -tolerance; worse: diff > tolerance (for FGSM accuracy and mAP, "
    "higher is better: better is diff > tolerance); failed: every run "
    "of ours for the cell failed; missing: not run; not runnable: the study says why. A cell is compared "
    "only with runs of its own protocol."
)

# The summary column (without _mean / _std) that answers a published metric, by the protocol's ``reported``.
def metric_column(metric: str, reported: str = "best") -> str:
    if metric == "top1_error":
        return REPORTED[reported]
    if metric == "top5_error":
        return REPORTED_TOP5[reported]
    if metric == "hours":
        return "hours"
    if metric in HIGHER_IS_BETTER:  # one value per run, whatever the protocol reports over epochs
        return metric
    raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")


COMPARE_COLUMNS = [
    "source",
    "protocol",
    "reported",
    "dataset",
    "traditional",
    "model",
    "augmentation",
    "metric",
    "published_epochs",
    "published_mean",
    "published_std",
    "published_runs",
    "note",
    "ours_mean",
    "ours_std",
    "n",
    "n_failed",
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
        raise ValueError(f"not a boolean: {value!r} (write true or false)")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


DATASET_LABELS = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "tinyimagenet": "TinyImageNet-200",
    "imagenet": "ImageNet",
}


def dataset_label(dataset: str, traditional) -> str:
    """Paper-style column name: cifar10 + traditional -> 'CIFAR-10+'.

    Only CIFAR tables have "+" columns; other datasets always use their standard crop and flip.
    """
    name = str(dataset)
    label = DATASET_LABELS.get(name.lower(), name)
    plus = to_bool(traditional) and name.lower().startswith("cifar")
    if to_bool(traditional) and name.lower() not in DATASET_LABELS:
        plus = True
    return label + ("+" if plus else "")


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


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
    for i, row in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        where = f"{path}, line {i}"
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
            number = _num(value)
            if math.isnan(number) and not (allow_empty and (value is None or pd.isna(value))):
                raise ValueError(f"{where}: column '{col}' is {value!r}, not a number" + ("" if allow_empty else " (required)"))
            if not math.isnan(number) and number < 0:
                raise ValueError(f"{where}: column '{col}' is negative ({number})")
        try:
            to_bool(row.traditional)
        except ValueError as exc:
            raise ValueError(f"{where}: column 'traditional': {exc}") from None
    df["traditional"] = [to_bool(v) for v in df["traditional"]]
    for col in ("mean", "std", "epochs", "runs"):
        df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="coerce").astype(float)
    df["note"] = df["note"].fillna("").astype(str)
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
    files = sorted(published_dir.glob("*.csv"), key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
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


def _published_runs(runs: float, std: float) -> float:
    if not math.isnan(runs) and runs > 0:
        return runs
    return float(DEFAULT_RUNS_WITH_STD if not math.isnan(std) else DEFAULT_RUNS_WITHOUT_STD)


def verdict(
    diff: float,
    ours_std: float,
    n: int,
    published_std: float,
    published_runs: float = float("nan"),
    metric: str = "top1_error",
    published_mean: float = float("nan"),
) -> tuple[str, float]:
    """Return (verdict, tolerance) for one matched cell; see the module docstring."""
    n_p = _published_runs(published_runs, published_std)
    ours_known = n >= 2 and not math.isnan(ours_std)
    terms = []
    if ours_known:
        terms.append(ours_std**2 / n)
    s_p = published_std if not math.isnan(published_std) else (ours_std if ours_known else float("nan"))
    if not math.isnan(s_p):
        terms.append(s_p**2 / n_p)
    tolerance = 2.0 * math.sqrt(sum(terms)) if terms else FALLBACK_TOLERANCE
    if metric == "hours" and not math.isnan(published_mean):
        tolerance = max(tolerance if terms else 0.0, HOURS_RELATIVE_TOLERANCE * published_mean)
    if abs(diff) <= tolerance:
        return "reproduced", tolerance
    return ("better" if diff < 0 else "worse"), tolerance


def _normalized(frame: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our rows with clean types; ``method`` becomes the name under which a row matches published cells:
    the registered method (so an alias such as ``saliencymix_paper`` is compared with SaliencyMix's cells),
    unless the config's augmentation name is itself a published name (Table 9's ``salfmix_nosaliency``,
    an alias of ``salfmix`` with ``saliency: false``)."""
    ours = frame.copy()
    ours["traditional"] = [to_bool(v) for v in ours["traditional"]]
    if "method" not in ours.columns:
        ours["method"] = ours["augmentation"]
    ours["method"] = ours["method"].where(ours["method"].notna(), ours["augmentation"])
    for col in ("protocol", "dataset", "model", "method", "augmentation"):
        ours[col] = ours[col].astype(str)
    if published is not None and len(published):
        names = set(published["augmentation"].astype(str))
        ours["method"] = ours["augmentation"].where(ours["augmentation"].isin(names), ours["method"])
    if "epochs" not in ours.columns:
        ours["epochs"] = float("nan")
    ours["epochs"] = pd.to_numeric(ours["epochs"], errors="coerce")
    return ours


_KEY = ("protocol", "dataset", "traditional", "model", "method")


def _index(frame: pd.DataFrame) -> dict[tuple, list[int]]:
    index: dict[tuple, list[int]] = {}
    for pos, key in enumerate(zip(*(frame[c] for c in _KEY))):
        index.setdefault(key, []).append(pos)
    return index


def _clean_variant(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def compare(
    summary: pd.DataFrame,
    published: pd.DataFrame,
    metric: str | None = None,
    status: pd.DataFrame | None = None,
    reported: dict[str, str] | None = None,
    not_runnable: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per published cell (of ``metric``, or of every metric) and matching summary row.

    ``reported`` maps a protocol to how its source summarizes a run (``best``, ``final``,
    ``median_last10``; default ``best``). ``status`` (optional, from partial aggregation) has one row per
    configured run with a ``status`` of ok / failed / missing; it turns cells whose runs all failed into
    ``failed`` and fills ``n_failed``. ``not_runnable`` maps a published augmentation or model name to the
    reason it cannot run here: such cells get the verdict ``not runnable`` and the reason in ``note``.
    """
    if metric is not None and metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    reported = reported or {}
    not_runnable = not_runnable or {}
    ours = _normalized(summary, published) if len(summary) else pd.DataFrame(
        columns=["protocol", "dataset", "traditional", "model", "method", "augmentation", "epochs"]
    )
    ours_index = _index(ours)
    failed_count: dict[tuple, int] = {}
    if status is not None and len(status):
        st = _normalized(status, published)
        st = st[st["status"] == "failed"]
        for key in zip(*(st[c] for c in _KEY)):
            failed_count[key] = failed_count.get(key, 0) + 1
    cells = published if metric is None else published[published["metric"] == metric]

    rows = []
    for cell in cells.itertuples(index=False):
        trad = to_bool(cell.traditional)
        how = reported.get(cell.protocol, "best")
        column = metric_column(cell.metric, how)
        key = (cell.protocol, cell.dataset, trad, cell.model, cell.augmentation)
        base = {
            "source": cell.source,
            "protocol": cell.protocol,
            "reported": "wall hours" if cell.metric == "hours" else ("per run" if cell.metric in HIGHER_IS_BETTER else how),
            "dataset": cell.dataset,
            "traditional": trad,
            "model": cell.model,
            "augmentation": cell.augmentation,
            "metric": cell.metric,
            "published_epochs": _num(cell.epochs),
            "published_mean": _num(cell.mean),
            "published_std": _num(cell.std),
            "published_runs": _num(getattr(cell, "runs", float("nan"))),
            "note": str(getattr(cell, "note", "") or ""),
        }
        n_failed = failed_count.get(key, 0)
        matches = [ours.iloc[pos] for pos in ours_index.get(key, [])]
        matches = [m for m in matches if not math.isnan(_num(m.get(f"{column}_mean")))]
        if not matches:
            reason = not_runnable.get(cell.augmentation) or not_runnable.get(cell.model)
            verdict_ = "not runnable" if reason else ("failed" if n_failed else "missing")
            note = f"not runnable: {reason}" + (f"; {base['note']}" if base["note"] else "") if reason else base["note"]
            rows.append(
                base
                | {
                    "note": note,
                    "ours_mean": float("nan"),
                    "ours_std": float("nan"),
                    "n": 0,
                    "n_failed": n_failed,
                    "ours_epochs": float("nan"),
                    "ours_final_mean": float("nan"),
                    "ours_median10_mean": float("nan"),
                    "diff": float("nan"),
                    "tolerance": float("nan"),
                    "verdict": verdict_,
                    "variant": None,
                    "our_augmentation": None,
                }
            )
            continue
        for row in matches:
            n = int(_num(row.get("n", 0)) or 0)
            ours_mean = _num(row.get(f"{column}_mean"))
            ours_std = _num(row.get(f"{column}_std"))
            diff = ours_mean - base["published_mean"]
            status_, tol = verdict(  # the rule reads "lower is better": for accuracy and mAP, it sees -diff
                -diff if cell.metric in HIGHER_IS_BETTER else diff,
                ours_std, n, base["published_std"], base["published_runs"], cell.metric, base["published_mean"],
            )
            top1 = cell.metric == "top1_error"
            rows.append(
                base
                | {
                    "ours_mean": ours_mean,
                    "ours_std": ours_std,
                    "n": n,
                    "n_failed": n_failed,
                    "ours_epochs": _num(row.get("epochs")),
                    "ours_final_mean": _num(row.get("final_top1_error_mean")) if top1 else float("nan"),
                    "ours_median10_mean": _num(row.get("median_last10_top1_error_mean")) if top1 else float("nan"),
                    "diff": diff,
                    "tolerance": tol,
                    "verdict": status_,
                    "variant": _clean_variant(row.get("variant")),
                    "our_augmentation": str(row["augmentation"]),
                }
            )
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def unmatched(summary: pd.DataFrame, published: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Our summary rows that match no published cell (of ``metric``, or of any metric)."""
    if summary.empty:
        return summary.copy()
    ours = _normalized(summary, published)
    cells = published if metric is None else published[published["metric"] == metric]
    keys = {
        (str(c.protocol), str(c.dataset), to_bool(c.traditional), str(c.model), str(c.augmentation))
        for c in cells.itertuples(index=False)
    }
    mask = [key not in keys for key in zip(*(ours[c] for c in _KEY))]
    return summary.loc[pd.Series(mask, index=summary.index, dtype=bool)].reset_index(drop=True)
