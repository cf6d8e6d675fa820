"""What of the workflow's tables a study looks at: the rows of its grid, the published cells it answers, and the
options its comparison runs with (margins, the published side's assumptions, the statistic of each protocol)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from augrepro.data.datasets import DATASETS
from augrepro.results.assumptions import Assumptions
from augrepro.results.published import to_bool
from augrepro.runs import dataset_key


def grid_mask(frame: pd.DataFrame, grid: list) -> pd.Series:
    """Rows of ``frame`` (runs, summary, curves or status) that belong to a study's grid cells."""
    if frame.empty or "protocol" not in frame.columns:
        return pd.Series(False, index=frame.index, dtype=bool)
    cells = {tuple(c) for c in grid}
    keys = zip(
        frame["protocol"].astype(str),
        [dataset_key(d, to_bool(t)) for d, t in zip(frame["dataset"], frame["traditional"])],
        frame["model"].astype(str),
        frame["augmentation"].astype(str),
    )
    return pd.Series([k in cells for k in keys], index=frame.index, dtype=bool)


def study_cells(study: dict[str, Any], published: pd.DataFrame) -> pd.DataFrame:
    """The published cells a study answers: its files' rows of its protocols."""
    return published[published["file"].isin(study["published"]) & published["protocol"].isin(study["protocols"])]


def dataset_test_images(dataset: str) -> int | None:
    """A dataset's number of test images (the binomial bound of a margin), None for a name that is not one."""
    return DATASETS[dataset].test_images if dataset in DATASETS else None


def compare_options(study: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`augrepro.results.compare.compare` for a study (``Selection.describe()``'s
    entry): its margin rules, its published side's assumptions, the statistic each protocol reports, what cannot run."""
    return {
        "rules": study.get("margin") or (),
        "assumptions": Assumptions.from_description(study.get("published_side")),
        "test_images": dataset_test_images,
        "reported": study["reported"],
        "not_runnable": study["not_runnable"],
        "where": f"study {study['name']}",
    }


def cell_rows(study: dict[str, Any], cells: pd.DataFrame) -> dict[tuple, list[int]]:
    """Each grid cell of a study -> the positions (in ``cells``) of the published cells it answers: those of its
    protocol, dataset key and model whose method is its augmentation name, or the registered method of that alias
    (``Selection.describe()``'s ``methods``) where the name is not itself a published one."""
    names = set(cells["augmentation"]) if not cells.empty else set()
    where: dict[tuple, list[int]] = {}
    for pos, row in enumerate(cells.to_dict("records")):
        key = (
            row["protocol"],
            dataset_key(row["dataset"], to_bool(row["traditional"])),
            row["model"],
            row["augmentation"],
        )
        where.setdefault(key, []).append(pos)
    out = {}
    for protocol, key, model, augmentation in (tuple(c) for c in study["grid"]):
        name = augmentation if augmentation in names else (study.get("methods") or {}).get(augmentation, augmentation)
        out[(protocol, key, model, augmentation)] = where.get((protocol, key, model, name), [])
    return out
