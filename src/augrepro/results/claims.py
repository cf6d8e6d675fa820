"""The papers' claims, checked on our per-seed runs: a claim is a sentence of a paper with the cells it compares.

A claim (in a study file, under ``claims:``) is one of:

* ``lower``: ``method`` has a lower error (or cost) than ``than`` in every cell it names. Two verdicts: the
  *direction* (paired test) and the *gain*: is our gain equivalent to the published gain within the claim's
  ``gain_margin`` (default: half the published gain, so our gain must lie between half and one and a half times
  it)?
* ``best``: ``method`` is the best of ``among`` in every cell it names.
* ``ranking``: the published order of ``methods`` holds in every cell it names: every adjacent pair keeps its
  direction (Kendall's tau is shown as a summary).
* ``equivalent``: ``method`` gives the same result under the two ``protocols`` (a recipe and its variant, e.g. fp32
  and bf16) within ``margin``, in every cell (dataset key, model) both run: paired over seeds
  (:func:`augrepro.results.claim_tests.paired_equivalence`).

A *cell* is a column of the study's table: (protocol, dataset key, model), optionally narrowed by the claim's
``protocols``, ``datasets`` and ``models``. In each cell our runs of each method are the study's, matched to the
published method names as the comparison matches them, one value per seed: the statistic the protocol's source
reports. Tests and multiplicity: :mod:`augrepro.results.claim_tests` (a claim holds when every comparison in every
cell holds, an intersection-union test; it fails when one is significantly reversed after Holm's adjustment across
its comparisons and cells). "not run" when no cell has runs of ours.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from augrepro import schemas
from augrepro.errors import ConfigError
from augrepro.results.assumptions import Assumptions
from augrepro.results.cells import normalize_ours
from augrepro.results.claim_tests import (
    DEFAULT_GAIN_MARGIN,
    DEFAULT_GAIN_REASON,
    best_of,
    combine,
    gain_equivalence,
    paired_direction,
    paired_equivalence,
    ranking,
)
from augrepro.results.metrics import HIGHER_IS_BETTER, metric_column
from augrepro.results.published import to_bool
from augrepro.results.stats import DEFAULT_ALPHA
from augrepro.runs import dataset_key

KINDS = ("lower", "best", "ranking", "equivalent")
# A claim's keys, each described with its default: the study schema's $defs.claim (workflow/schemas/study.schema.yaml).
CLAIM_COLUMNS = [
    "study",
    "claim_id",
    "claim",
    "source",
    "kind",
    "metric",
    "verdict",
    "gain_verdict",
    "cells_total",
    "cells_tested",
    "cells_holding",
    "cells_failing",
    "p_hold",
    "p_fail",
    "gain_margin_rule",
    "reason",
]
CLAIM_CELL_COLUMNS = [
    "study",
    "claim_id",
    "cell",
    "protocol",
    "dataset_key",
    "model",
    "verdict",
    "verdict_unadjusted",
    "p_hold",
    "p_fail",
    "p_fail_adjusted",
    "n_pairs",
    "published",
    "ours",
    "diff",
    "ci_low",
    "ci_high",
    "gain_verdict",
    "gain_ours",
    "gain_published",
    "gain_ci_low",
    "gain_ci_high",
    "gain_margin",
    "tau",
    "tau_low",
    "tau_high",
    "comparisons",
    "reason",
]


class ClaimError(ValueError):
    """A claim in a study file is malformed: the message names the file, the claim and the key."""


def check_claim(claim: Any, where: str) -> dict:
    """A claim's keys, types and the keys its kind needs (the study schema's ``$defs.claim``), and what a schema
    cannot say: a gain margin belongs to a lower claim; the message names the study file, the claim and the key."""
    try:
        schemas.validate(claim, "study", where, "claim")
    except ConfigError as exc:
        raise ClaimError(str(exc)) from None
    if "gain_margin" in claim and claim["kind"] != "lower":
        raise ClaimError(f"{where}: 'gain_margin' applies to lower claims only")
    return claim


def gain_margin(claim: dict, published_gain: float) -> tuple[float, str]:
    """The gain test's margin for one cell and the rule as text."""
    rule = claim.get("gain_margin") or {"relative": DEFAULT_GAIN_MARGIN, "reason": DEFAULT_GAIN_REASON}
    if "value" in rule:
        return float(rule["value"]), f"±{rule['value']:g}: {rule['reason']}"
    return float(rule["relative"]) * abs(
        published_gain
    ), f"±{rule['relative']:g} x the published gain: {rule['reason']}"


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


def _published_row(published: pd.DataFrame, cell: tuple, method: str, metric: str):
    """The table's row for ``method`` in the cell's column: of the cell's protocol, else the one the table quotes from
    another recipe there (the SaliencyMix CIFAR table's Cutout-code cells, protocol cutout_cifar)."""
    protocol, key, model = cell
    rows = published[
        (published["key"] == key)
        & (published["model"] == model)
        & (published["augmentation"] == method)
        & (published["metric"] == metric)
    ]
    same = rows[rows["protocol"] == protocol]
    rows = same if len(same) else rows
    return rows.iloc[0] if len(rows) else None


def _mean(values: dict) -> float:
    return sum(values.values()) / len(values) if values else math.nan


def _cell_lower(claim, cell_runs, rows, assumptions, metric, sign, alpha) -> dict:
    a, b = claim["method"], claim["than"]
    test = paired_direction(cell_runs[a], cell_runs[b], alpha)
    out = {
        "verdict_unadjusted": test.verdict,
        "p_hold": test.p_value,
        "p_fail": test.p_reverse,
        "n_pairs": test.n_pairs,
        "diff": sign * test.mean_diff,
        "ci_low": min(sign * test.ci_low, sign * test.ci_high),
        "ci_high": max(sign * test.ci_low, sign * test.ci_high),
        "reason": test.reason,
    }
    if rows[a] is not None and rows[b] is not None:
        sides = {m: assumptions.side(sign * rows[m]["mean"], rows[m]["std"], rows[m]["runs"], metric) for m in (a, b)}
        margin, _ = gain_margin(claim, sides[b].mean - sides[a].mean)
        gain = gain_equivalence(test, cell_runs[a], cell_runs[b], sides[a], sides[b], margin, alpha)
        out |= {
            "gain_verdict": gain.verdict,
            "gain_ours": sign * gain.ours,
            "gain_published": sign * gain.published,
            "gain_ci_low": min(sign * gain.ci_low, sign * gain.ci_high),
            "gain_ci_high": max(sign * gain.ci_low, sign * gain.ci_high),
            "gain_margin": margin,
            "gain_p_equivalence": gain.p_equivalence,
            "gain_p_differs": gain.p_differs,
            "reason": f"{test.reason}; gain: {gain.reason}",
        }
    return out


def _cell_set(claim, cell_runs, rows, sign, alpha) -> dict:
    if claim["kind"] == "best":
        test = best_of(claim["method"], cell_runs, alpha)
    else:
        published = {m: sign * r["mean"] for m, r in rows.items() if r is not None}
        test = ranking(published, cell_runs, alpha)
    comparisons = "; ".join(
        f"{a} < {b}: {c.verdict} (p {c.p_value:.2g}, reverse p {c.p_reverse:.2g})"
        for (a, b), c in test.comparisons.items()
    )
    out = {
        "verdict_unadjusted": test.verdict,
        "p_hold": test.combined.p_hold,
        "p_fail": test.combined.p_fail,
        "n_pairs": min((c.n_pairs for c in test.comparisons.values()), default=0),
        "comparisons": comparisons,
        "reason": test.reason,
    }
    if claim["kind"] == "ranking":
        out |= {"tau": test.tau, "tau_low": test.tau_low, "tau_high": test.tau_high}
    return out


def evaluate_claims(
    claims: list[dict],
    runs: pd.DataFrame,
    published: pd.DataFrame,
    reported: dict[str, str],
    grid: list,
    assumptions: Assumptions | None = None,
    alpha: float = DEFAULT_ALPHA,
    study: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each claim's verdict (one row per claim, :data:`CLAIM_COLUMNS`) and its cells (one row per claim and cell,
    :data:`CLAIM_CELL_COLUMNS`).

    ``runs``: the study's rows of runs.csv; ``published``: its published cells; ``reported``: protocol ->
    statistic; ``grid``: the study's (protocol, dataset key, model, augmentation) cells; ``assumptions``: what the
    study assumes of its published side (for the gain test)."""
    assumptions = assumptions or Assumptions()
    if runs.empty:
        runs = pd.DataFrame(columns=["protocol", "dataset", "traditional", "model", "augmentation", "method", "seed"])
    runs = normalize_ours(runs, published)
    runs = runs.assign(key=[dataset_key(d, to_bool(t)) for d, t in zip(runs["dataset"], runs["traditional"])])
    published = published.assign(
        key=[dataset_key(d, to_bool(t)) for d, t in zip(published["dataset"], published["traditional"])]
    )
    columns = list(dict.fromkeys((p, d, m) for p, d, m, _ in grid))
    claim_rows, cell_rows = [], []
    for claim_id, claim in enumerate(claims, start=1):
        metric = claim.get("metric", "top1_error")
        if claim["kind"] == "equivalent":
            results, cells = _equivalence_cells(claim, runs, reported, columns, alpha)
            for r in results:
                r.update(study=study, claim_id=claim_id)
        else:
            results, cells = _comparison_cells(
                claim, runs, published, reported, columns, assumptions, alpha, study, claim_id
            )
        combined = combine(
            [r["p_hold"] for r in results],
            [r["p_fail"] for r in results],
            complete=len(results) == len(cells),
            alpha=alpha,
            what="cells",
        )
        for r, p_adjusted in zip(results, combined.p_fail_adjusted):
            r["p_fail_adjusted"] = p_adjusted
            verdict = r["verdict_unadjusted"]
            if verdict == "fails" and not p_adjusted < alpha:
                verdict = "inconclusive"
                r["reason"] += f"; not reversed after Holm over the claim's {len(results)} cells (p {p_adjusted:.2g})"
            r["verdict"] = verdict
        gains = [r for r in results if "gain_verdict" in r]
        gain_verdict = ""
        if claim["kind"] == "lower" and gains:
            gain = combine(
                [r["gain_p_equivalence"] for r in gains],
                [r["gain_p_differs"] for r in gains],
                complete=len(gains) == len(cells),
                alpha=alpha,
                what="gains",
            )
            gain_verdict = {"holds": "reproduced", "fails": "differs", "inconclusive": "inconclusive"}[gain.verdict]
        verdict = "not run" if not results else combined.verdict
        cell_rows.extend(results)
        claim_rows.append(
            {
                "study": study,
                "claim_id": claim_id,
                "claim": claim["claim"],
                "source": claim["source"],
                "kind": claim["kind"],
                "metric": metric,
                "verdict": verdict,
                "gain_verdict": gain_verdict,
                "cells_total": len(cells),
                "cells_tested": len(results),
                "cells_holding": sum(r["verdict"] == "holds" for r in results),
                "cells_failing": sum(r["verdict"] == "fails" for r in results),
                "p_hold": combined.p_hold,
                "p_fail": combined.p_fail,
                "gain_margin_rule": gain_margin(claim, 1.0)[1] if claim["kind"] == "lower" else "",
                "reason": combined.reason if results else "no cell of the claim has runs of ours",
            }
        )
    return (
        pd.DataFrame(claim_rows, columns=CLAIM_COLUMNS),
        pd.DataFrame(cell_rows).reindex(columns=CLAIM_CELL_COLUMNS),
    )


def _equivalence_cells(claim: dict, runs: pd.DataFrame, reported: dict[str, str], columns: list, alpha: float):
    """An ``equivalent`` claim's cells: per (dataset key, model) both protocols run, the method's seeds under the
    variant (the second protocol) against the reference (the first), paired."""
    reference, variant = claim["protocols"]
    metric, method = claim.get("metric", "top1_error"), claim["method"]
    margin = float(claim["margin"]["value"])
    cells = [
        (reference, key, model)
        for protocol, key, model in columns
        if protocol == reference
        and (variant, key, model) in columns
        and key in claim.get("datasets", [key])
        and model in claim.get("models", [model])
    ]
    results = []
    for _, key, model in cells:
        ours = {
            p: _seed_values(runs, (p, key, model), method, metric_column(metric, reported.get(p, "best")))
            for p in (variant, reference)
        }
        if not any(ours.values()):
            continue
        test = paired_equivalence(ours[variant], ours[reference], margin, alpha)
        results.append(
            {
                "cell": f"{key} / {model}",
                "protocol": reference,
                "dataset_key": key,
                "model": model,
                "verdict_unadjusted": test.verdict,
                "p_hold": test.p_equivalence,
                "p_fail": test.p_differs,
                "n_pairs": test.n_pairs,
                "published": json.dumps({"the same within": margin}),
                "ours": json.dumps({p: (_mean(ours[p]) if ours[p] else None) for p in (variant, reference)}),
                "diff": test.mean_diff,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "reason": f"{variant} - {reference}: {test.reason} ({claim['margin']['reason']})",
            }
        )
    return results, cells


def _comparison_cells(claim, runs, published, reported, columns, assumptions, alpha, study, claim_id):
    """A lower, best or ranking claim's cells: the study's columns it names, each with its paired tests."""
    metric = claim.get("metric", "top1_error")
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    cells = [
        c
        for c in columns
        if c[0] in claim.get("protocols", [c[0]])
        and c[1] in claim.get("datasets", [c[1]])
        and c[2] in claim.get("models", [c[2]])
    ]
    methods = {
        "lower": [claim.get("method"), claim.get("than")],
        "best": [claim.get("method"), *claim.get("among", [])],
        "ranking": claim.get("methods", []),
    }[claim["kind"]]
    methods = list(dict.fromkeys(methods))
    results = []
    for cell in cells:
        column = metric_column(metric, reported.get(cell[0], "best"))
        ours = {m: _seed_values(runs, cell, m, column) for m in methods}
        if not any(ours.values()):
            continue
        flipped = {m: {s: sign * v for s, v in ours[m].items()} for m in methods}
        rows = {m: _published_row(published, cell, m, metric) for m in methods}
        if claim["kind"] == "lower":
            result = _cell_lower(claim, flipped, rows, assumptions, metric, sign, alpha)
        else:
            result = _cell_set(claim, flipped, rows, sign, alpha)
        label = f"{cell[1]} / {cell[2]}" + (f" ({cell[0]})" if len({c[0] for c in cells}) > 1 else "")
        values = {m: (None if r is None else float(r["mean"])) for m, r in rows.items()}
        results.append(
            {
                "study": study,
                "claim_id": claim_id,
                "cell": label,
                "protocol": cell[0],
                "dataset_key": cell[1],
                "model": cell[2],
                "published": json.dumps(values),
                "ours": json.dumps({m: (_mean(ours[m]) if ours[m] else None) for m in methods}),
                **result,
            }
        )
    return results, cells
