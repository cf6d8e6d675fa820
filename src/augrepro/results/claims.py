"""The papers' claims, checked on our per-seed runs: a claim is a sentence of a paper with the cells it compares.

A claim (in a study file, under ``claims:``) is one of:

* ``lower``: ``method`` has a lower error (or cost) than ``than`` in every cell it names;
* ``best``: ``method`` is the best of ``among`` in every cell it names;
* ``ranking``: the published order of ``methods`` is kept in every cell it names;
* ``equivalent``: ``method`` gives the same result under the two ``protocols`` (a recipe and its variant, e.g.
  fp32 and bf16) within ``margin``, in every cell (dataset key, model) both run: paired over seeds
  (:func:`augrepro.results.stats.paired_equivalence`).

A *cell* is a column of the study's table: (protocol, dataset key, model), optionally narrowed by the claim's
``protocols``, ``datasets`` and ``models``. In each cell our runs of each method are the study's, matched to the published
method names as the comparison matches them, one value per seed: the statistic the protocol's source reports.
``lower`` and ``best`` use paired comparisons over the seeds both methods share (the same seed trains both),
``ranking`` Kendall's tau between the published and our order with a bootstrap over seeds
(:mod:`augrepro.results.stats`). A claim holds when it holds in every cell, fails when it fails in one,
and is inconclusive otherwise; "not run" when no cell has runs of ours.
"""

from __future__ import annotations

import math

import pandas as pd

from augrepro.results.compare import HIGHER_IS_BETTER, metric_column, normalize_ours, to_bool
from augrepro.results.stats import (
    DEFAULT_ALPHA,
    best_of_claim,
    improvement_claim,
    paired_equivalence,
    ranking_claim,
)
from augrepro.runs import dataset_key


def _seed_values(runs: pd.DataFrame, cell: tuple, method: str, column: str) -> dict:
    """{seed: value} of the runs of a cell whose augmentation is named ``method`` (an alias in a study without
    published cells), else whose published name is (an alias is compared under its method's name)."""
    protocol, key, model = cell
    if column not in runs.columns:
        return {}
    here = runs[(runs["protocol"] == protocol) & (runs["key"] == key) & (runs["model"] == model)]
    mine = here[here["augmentation"] == method]
    if mine.empty:
        mine = here[here["method"] == method]
    return {int(s): float(v) for s, v in zip(mine["seed"], mine[column]) if not pd.isna(v)}


def _published_value(published: pd.DataFrame, cell: tuple, method: str, metric: str) -> float:
    """The table's number for ``method`` in the cell's column: of the cell's protocol, else the one the table quotes
    from another recipe there (the SaliencyMix CIFAR table's Cutout-code cells, protocol cutout_cifar)."""
    protocol, key, model = cell
    rows = published[
        (published["key"] == key)
        & (published["model"] == model)
        & (published["augmentation"] == method)
        & (published["metric"] == metric)
    ]
    same = rows[rows["protocol"] == protocol]
    rows = same if len(same) else rows
    return float(rows["mean"].iloc[0]) if len(rows) else math.nan


def _fmt(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _mean(values: dict) -> float:
    return sum(values.values()) / len(values) if values else math.nan


def _overall(verdicts: list[str], n_cells: int) -> str:
    """A claim's verdict from its cells': holds when it holds in every cell, fails when it fails in one."""
    if not verdicts:
        return "not run"
    if "fails" in verdicts:
        return "fails"
    if all(v == "holds" for v in verdicts) and len(verdicts) == n_cells:
        return "holds"
    return "inconclusive"


def _equivalence_claim(claim: dict, runs: pd.DataFrame, reported: dict[str, str], columns: list, alpha: float):
    """An ``equivalent`` claim: per (dataset key, model) that both protocols run, the method's seeds under the
    variant (the second protocol) against the reference (the first), paired."""
    reference, variant = claim["protocols"]
    metric, method = claim.get("metric", "top1_error"), claim["method"]
    delta, why = float(claim["margin"]["value"]), claim["margin"]["reason"]
    cells = [
        (key, model)
        for protocol, key, model in columns
        if protocol == reference
        and (variant, key, model) in columns
        and key in claim.get("datasets", [key])
        and model in claim.get("models", [model])
    ]
    results = []
    for key, model in cells:
        ours = {
            p: _seed_values(runs, (p, key, model), method, metric_column(metric, reported.get(p, "best")))
            for p in (variant, reference)
        }
        if not any(ours.values()):
            continue
        test = paired_equivalence(ours[variant], ours[reference], delta, alpha)
        results.append(
            {
                "cell": f"{key} / {model}",
                "verdict": test.verdict,
                "reason": test.reason,
                "published": f"the same within ±{delta:g} ({why})",
                "ours": f"{variant} {_fmt(_mean(ours[variant]))} vs {reference} {_fmt(_mean(ours[reference]))} "
                f"({test.n_pairs} seeds)",
                "interval": f"{variant} - {reference}: [{test.ci_low:+.2f}, {test.ci_high:+.2f}]"
                if not math.isnan(test.ci_low)
                else "",
            }
        )
    return {
        "claim": claim["claim"],
        "source": claim["source"],
        "kind": claim["kind"],
        "verdict": _overall([r["verdict"] for r in results], len(cells)),
        "cells": results,
        "cells_total": len(cells),
    }


def evaluate_claims(
    claims: list[dict],
    runs: pd.DataFrame,
    published: pd.DataFrame,
    reported: dict[str, str],
    grid: list,
    alpha: float = DEFAULT_ALPHA,
) -> list[dict]:
    """Each claim with its verdict and, per cell, the published numbers, ours and the 90 % interval.

    ``runs``: the study's rows of runs.csv; ``published``: its published cells; ``reported``: protocol ->
    statistic; ``grid``: the study's (protocol, dataset key, model, augmentation) cells."""
    if runs.empty:
        runs = pd.DataFrame(columns=["protocol", "dataset", "traditional", "model", "augmentation", "method", "seed"])
    runs = normalize_ours(runs, published)
    runs = runs.assign(key=[dataset_key(d, to_bool(t)) for d, t in zip(runs["dataset"], runs["traditional"])])
    published = published.assign(
        key=[dataset_key(d, to_bool(t)) for d, t in zip(published["dataset"], published["traditional"])]
    )
    columns = list(dict.fromkeys((p, d, m) for p, d, m, _ in grid))
    out = []
    for claim in claims:
        if claim["kind"] == "equivalent":
            out.append(_equivalence_claim(claim, runs, reported, columns, alpha))
            continue
        metric = claim.get("metric", "top1_error")
        sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
        cells = [
            c
            for c in columns
            if c[0] in claim.get("protocols", [c[0]])
            and c[1] in claim.get("datasets", [c[1]])
            and c[2] in claim.get("models", [c[2]])
        ]
        results = []
        for cell in cells:
            column = metric_column(metric, reported.get(cell[0], "best"))
            methods = {
                "lower": [claim.get("method"), claim.get("than")],
                "best": [claim.get("method"), *claim.get("among", [])],
                "ranking": claim.get("methods", []),
            }[claim["kind"]]
            methods = list(dict.fromkeys(methods))
            ours = {m: _seed_values(runs, cell, m, column) for m in methods}
            pub = {m: _published_value(published, cell, m, metric) for m in methods}
            if not any(ours.values()):
                continue
            label = f"{cell[1]} / {cell[2]}" + (f" ({cell[0]})" if len({c[0] for c in cells}) > 1 else "")
            flip = {m: {s: sign * v for s, v in ours[m].items()} for m in methods}
            if claim["kind"] == "lower":
                a, b = claim["method"], claim["than"]
                margin = sign * (pub[b] - pub[a]) if not math.isnan(pub[a] + pub[b]) else None
                test = improvement_claim(flip[a], flip[b], margin, alpha)
                interval = (sign * test.ci_low, sign * test.ci_high)
                results.append(
                    {
                        "cell": label,
                        "verdict": test.verdict,
                        "reason": test.reason,
                        "published": f"{_fmt(pub[a])} vs {_fmt(pub[b])}",
                        "ours": f"{_fmt(_mean(ours[a]))} vs {_fmt(_mean(ours[b]))} ({test.n_pairs} seeds)",
                        "interval": f"{a} - {b}: [{min(interval):+.2f}, {max(interval):+.2f}]"
                        if not math.isnan(test.ci_low)
                        else "",
                    }
                )
            elif claim["kind"] == "best":
                others = {m: flip[m] for m in methods}
                test = best_of_claim(claim["method"], others, None, alpha)
                results.append(
                    {
                        "cell": label,
                        "verdict": test.verdict,
                        "reason": test.reason,
                        "published": ", ".join(f"{m} {_fmt(pub[m])}" for m in methods),
                        "ours": ", ".join(f"{m} {_fmt(_mean(ours[m]))}" for m in methods),
                        "interval": "; ".join(
                            f"{claim['method']} - {m}: [{min(sign * c.ci_low, sign * c.ci_high):+.2f}, {max(sign * c.ci_low, sign * c.ci_high):+.2f}]"
                            for m, c in test.comparisons.items()
                            if not math.isnan(c.ci_low)
                        ),
                    }
                )
            else:
                test = ranking_claim({m: sign * pub[m] for m in methods if not math.isnan(pub[m])}, flip, alpha)
                results.append(
                    {
                        "cell": label,
                        "verdict": test.verdict,
                        "reason": test.reason,
                        "published": " < ".join(
                            sorted((m for m in methods if not math.isnan(pub[m])), key=lambda m: sign * pub[m])
                        ),
                        "ours": " < ".join(
                            sorted((m for m in methods if ours[m]), key=lambda m: sign * _mean(ours[m]))
                        ),
                        "interval": f"Kendall's tau {test.tau:+.2f} [{test.ci_low:+.2f}, {test.ci_high:+.2f}]"
                        if not math.isnan(test.tau)
                        else "",
                    }
                )
        verdict = _overall([r["verdict"] for r in results], len(cells))
        out.append(
            {
                "claim": claim["claim"],
                "source": claim["source"],
                "kind": claim["kind"],
                "verdict": verdict,
                "cells": results,
                "cells_total": len(cells),
            }
        )
    return out
