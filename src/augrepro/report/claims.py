"""The report's view of a study's claims: each claim of ``{study}.claims.csv`` with its tested cells
(``{study}.claim_cells.csv``; written by :mod:`augrepro.results.claims`), as typed values holding numbers."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from augrepro.report.values import as_int, as_number, as_text
from augrepro.results.verdicts import Verdicts


def _values(text) -> tuple[tuple[str, float], ...]:
    """A claim cell's {method: value} (JSON in the claims file) as (method, value) pairs (NaN: none)."""
    if not isinstance(text, str) or not text:
        return ()
    return tuple((m, as_number(v)) for m, v in json.loads(text).items())


def _bounds(low, high) -> tuple[float, float] | None:
    low, high = as_number(low), as_number(high)
    return None if math.isnan(low) or math.isnan(high) else (low, high)


@dataclass(frozen=True)
class ClaimCell:
    """A column of the study's table where a claim was tested (a row of ``{study}.claim_cells.csv``)."""

    cell: str
    verdict: str
    reason: str
    published: tuple[tuple[str, float], ...]  # (method, published value)
    ours: tuple[tuple[str, float], ...]  # (method, our mean)
    n_pairs: int
    interval: tuple[float, float] | None  # lower claims: the 90 % interval of A - B
    gain_verdict: str
    gain_ours: float
    gain_published: float
    gain_interval: tuple[float, float] | None
    gain_margin: float
    tau: float
    tau_interval: tuple[float, float] | None
    comparisons: str

    @classmethod
    def of(cls, r: dict) -> ClaimCell:
        return cls(
            cell=as_text(r["cell"]),
            verdict=as_text(r["verdict"]),
            reason=as_text(r["reason"]),
            published=_values(r["published"]),
            ours=_values(r["ours"]),
            n_pairs=as_int(r["n_pairs"]) or 0,
            interval=_bounds(r["ci_low"], r["ci_high"]),
            gain_verdict=as_text(r.get("gain_verdict")),
            gain_ours=as_number(r.get("gain_ours")),
            gain_published=as_number(r.get("gain_published")),
            gain_interval=_bounds(r.get("gain_ci_low"), r.get("gain_ci_high")),
            gain_margin=as_number(r.get("gain_margin")),
            tau=as_number(r.get("tau")),
            tau_interval=_bounds(r.get("tau_low"), r.get("tau_high")),
            comparisons=as_text(r.get("comparisons")),
        )


@dataclass(frozen=True)
class Claim:
    claim: str
    source: str
    kind: str
    verdict: str
    gain_verdict: str  # lower claims: whether our gain matches the published gain
    gain_margin_rule: str
    reason: str
    cells: tuple[ClaimCell, ...]
    cells_total: int


def claims_of(verdicts: Verdicts) -> list[Claim]:
    """The claims of a study's verdict files, each with its cells."""
    cells: dict[int, list[ClaimCell]] = {}
    for r in verdicts.claim_cells.to_dict("records"):
        cells.setdefault(int(r["claim_id"]), []).append(ClaimCell.of(r))
    return [
        Claim(
            as_text(r["claim"]),
            as_text(r["source"]),
            as_text(r["kind"]),
            as_text(r["verdict"]),
            as_text(r.get("gain_verdict")),
            as_text(r.get("gain_margin_rule")),
            as_text(r.get("reason")),
            tuple(cells.get(int(r["claim_id"]), ())),
            int(r["cells_total"]),
        )
        for r in verdicts.claims.to_dict("records")
    ]
