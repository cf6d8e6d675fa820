"""A published cell and the rows of ours that match it.

A published cell is matched to our summary rows of *its protocol only* (the recipe its source trained with: a run of
another protocol never fills it, even with equal epochs), on (dataset, traditional, model), and on our ``method``
equal to the published ``augmentation`` (or our augmentation name, where an alias is named like a published cell):
:data:`MATCH_KEY`. Usually one summary row matches; when several do (two variants of one method run side by side),
the comparison has one row per match. Ours is the statistic the protocol's source reports (``reported``: the best
epoch, the final epoch or the median of the last 10), and for top-5 the error at the best top-1 epoch
(:class:`augrepro.results.metrics.MetricColumns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from augrepro.results.metrics import HIGHER_IS_BETTER, MetricColumns
from augrepro.results.published import as_float, to_bool


def normalize_ours(frame: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of ours (summary, runs or status) with clean types; ``method`` becomes the name under which a row
    matches published cells: the registered method (so an alias such as ``saliencymix_paper`` is compared with
    SaliencyMix's cells), unless the config's augmentation name is itself a published name (Table 9's
    ``salfmix_nosaliency``, an alias of ``salfmix`` with ``saliency: false``)."""
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


MATCH_KEY = ("protocol", "dataset", "traditional", "model", "method")


def rows_by_key(frame: pd.DataFrame) -> dict[tuple, list[int]]:
    """The positions of a normalized frame's rows (:func:`normalize_ours`), by their :data:`MATCH_KEY`."""
    index: dict[tuple, list[int]] = {}
    for pos, key in enumerate(zip(*(frame[c] for c in MATCH_KEY))):
        index.setdefault(key, []).append(pos)
    return index


def _clean_text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


@dataclass(frozen=True)
class PublishedCell:
    """One published cell (a row of resources/published/*.csv) and the columns of ours it is compared with."""

    file: str
    source: str
    protocol: str
    dataset: str
    traditional: bool
    model: str
    augmentation: str
    metric: str
    epochs: float
    mean: float
    std: float  # NaN: not printed
    runs: float  # NaN: not stated
    note: str
    columns: MetricColumns

    @classmethod
    def of(cls, row, reported: dict[str, str]) -> PublishedCell:
        """``row``: a published row (a mapping); ``reported``: protocol -> how its source summarizes a run, unless
        the cell names its own."""
        how = str(row.get("reported", "") or "") or reported.get(row["protocol"], "best")
        return cls(
            str(row.get("file", "")),
            row["source"],
            row["protocol"],
            row["dataset"],
            to_bool(row["traditional"]),
            row["model"],
            row["augmentation"],
            row["metric"],
            as_float(row["epochs"]),
            as_float(row["mean"]),
            as_float(row["std"]),
            as_float(row.get("runs", math.nan)),
            str(row.get("note", "") or ""),
            MetricColumns.of(row["metric"], how),
        )

    @property
    def key(self) -> tuple:
        """What a row of ours matches on (:data:`MATCH_KEY`)."""
        return (self.protocol, self.dataset, self.traditional, self.model, self.augmentation)

    @property
    def sign(self) -> float:
        """-1 where higher is better: the statistics see lower-is-better numbers."""
        return -1.0 if self.metric in HIGHER_IS_BETTER else 1.0

    def record(self) -> dict:
        return {
            "file": self.file,
            "source": self.source,
            "protocol": self.protocol,
            "reported": self.columns.reported,
            "dataset": self.dataset,
            "traditional": self.traditional,
            "model": self.model,
            "augmentation": self.augmentation,
            "metric": self.metric,
            "published_epochs": self.epochs,
            "published_mean": self.mean,
            "published_std": self.std,
            "published_runs": self.runs,
            "note": self.note,
        }


@dataclass(frozen=True)
class OurCell:
    """One summary row of ours matching a published cell: the compared statistic and what is shown beside it."""

    mean: float
    std: float  # NaN: one value, or not recorded
    n: int  # values behind the mean (runs with this metric)
    epochs: float
    final_mean: float  # top-1 only: the final epoch's and the median of the last 10 epochs' error
    median10_mean: float
    variant: str | None
    numerics: str | None
    augmentation: str  # the config's name (an alias, or the method)

    @classmethod
    def of(cls, row, columns: MetricColumns) -> OurCell:
        top1 = columns.metric == "top1_error"
        count = row.get(f"{columns.run}_n")  # the values of this metric (summary.csv); older files: the runs
        n = as_float(count) if count is not None and not pd.isna(count) else as_float(row.get("n", 0))
        return cls(
            as_float(row.get(columns.mean)),
            as_float(row.get(columns.std)),
            int(n if not math.isnan(n) else 0),
            as_float(row.get("epochs")),
            as_float(row.get("final_top1_error_mean")) if top1 else math.nan,
            as_float(row.get("median_last10_top1_error_mean")) if top1 else math.nan,
            _clean_text(row.get("variant")),
            _clean_text(row.get("numerics")),
            str(row["augmentation"]),
        )

    def record(self) -> dict:
        return {
            "ours_mean": self.mean,
            "ours_std": self.std,
            "n": self.n,
            "ours_epochs": self.epochs,
            "ours_final_mean": self.final_mean,
            "ours_median10_mean": self.median10_mean,
            "variant": self.variant,
            "numerics": self.numerics,
            "our_augmentation": self.augmentation,
        }


def unmatched(summary: pd.DataFrame, published: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Our summary rows that match no published cell (of ``metric``, or of any metric)."""
    if summary.empty:
        return summary.copy()
    ours = normalize_ours(summary, published)
    cells = published if metric is None else published[published["metric"] == metric]
    keys = {
        (str(c.protocol), str(c.dataset), to_bool(c.traditional), str(c.model), str(c.augmentation))
        for c in cells.itertuples(index=False)
    }
    mask = [key not in keys for key in zip(*(ours[c] for c in MATCH_KEY))]
    return summary.loc[pd.Series(mask, index=summary.index, dtype=bool)].reset_index(drop=True)
