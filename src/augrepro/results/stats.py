"""Statistics that decide whether a published number holds: pure functions on summary statistics, no I/O.

Every distribution comes from :mod:`scipy.stats` (Holm's adjustment from :mod:`statsmodels`); nothing here is a
hand-written distribution. The functions assume a *lower is better* metric (top-1 / top-5 error, wall hours):
"better" always means a lower number; :mod:`augrepro.results.compare` hands them negated values for the metrics
where higher is better (FGSM accuracy, detection mAP).

What is here:

* :class:`PublishedSide`: a published number and what is known of its own noise (mean ± std over n runs; a mean of
  n draws whose spread is not printed; or a number the study declares exact).
* :func:`decide`: the equivalence / minimum-effect decision for a difference whose standard error has one or more
  independent variance terms (Welch-Satterthwaite degrees of freedom).
* :func:`cell_equivalence`: one published cell against ours.
* :func:`benjamini_hochberg`, :func:`holm` and :func:`adjust_cells`: multiplicity over a table's cells.

Convention for every interval and decision: a one-sided test at level ``alpha`` (default 0.05) is the same as
asking whether a two-sided ``1 - 2 alpha`` (90 %) confidence interval lies on one side of a bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_ALPHA = 0.05
OUTCOMES = ("reproduced", "differs", "inconclusive")
DIRECTIONS = ("better", "worse")

NO_SPREAD_REASON = "one seed of ours and no published std: no run-to-run spread is known"


def missing(value: float | None) -> bool:
    """True for None or NaN (a value the source did not print)."""
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def check_alpha(alpha: float) -> None:
    if not (0.0 < alpha < 0.5):
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")


def signed(x: float) -> str:
    return f"{x:+.3g}"


# --------------------------------------------------------------------------------------------------
# The published side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedSide:
    """A published number and what is known of its own run-to-run noise.

    * ``sample``: mean ± std over ``runs`` runs (the std printed; the run count printed, or assumed by the
      study when the source does not say): the mean's variance is ``std^2 / runs`` with ``runs - 1`` degrees of
      freedom (Welch).
    * ``draws``: a mean of ``runs`` runs whose std is not printed (a single published run is one draw): its
      variance is ``s^2 / runs`` with ``s`` the run-to-run std of *our* seeds, the prediction interval of a new
      draw (Student, with our ``n - 1`` degrees of freedom).
    * ``exact``: the study declares the number exact (hours of a run on a named GPU): no variance.
    """

    mean: float
    std: float = math.nan  # NaN: not printed
    runs: int = 1  # runs behind the mean: printed, or assumed by the study (runs_assumed)
    runs_assumed: bool = False
    exact: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise ValueError(f"the published mean must be a finite number, got {self.mean!r}")
        if not missing(self.std) and not self.std >= 0:
            raise ValueError(f"the published std must be non-negative, got {self.std!r}")
        if int(self.runs) != self.runs or self.runs < 1:
            raise ValueError(f"the published run count must be a positive integer, got {self.runs!r}")
        if self.kind == "sample" and self.runs < 2:
            raise ValueError("a published std needs at least 2 runs behind it (state or assume a run count >= 2)")

    @property
    def kind(self) -> str:
        if self.exact:
            return "exact"
        return "draws" if missing(self.std) else "sample"

    def describe(self) -> str:
        """One line for the report: what the published side's noise is taken to be."""
        count = f"{self.runs} run{'s' if self.runs != 1 else ''}" + (" (assumed)" if self.runs_assumed else "")
        if self.kind == "exact":
            return "the published value is taken as exact (the study says so)"
        if self.kind == "sample":
            return f"published mean ± std over {count}"
        if self.runs == 1:
            return "one published run: a single draw, its spread taken from our seeds (prediction interval)"
        return f"a published mean of {count} without a std: its spread taken from our seeds"


# --------------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The equivalence (TOST) and minimum-effect tests of one difference against a margin ``delta``."""

    outcome: str  # "reproduced", "differs" or "inconclusive"
    direction: str | None  # "better" (lower by more than delta) or "worse" when outcome == "differs"
    diff: float
    se: float
    df: float
    ci_low: float  # the 1 - 2 alpha confidence interval of diff
    ci_high: float
    p_lower: float  # H0: diff <= -delta  vs  H1: diff > -delta
    p_upper: float  # H0: diff >= +delta  vs  H1: diff < +delta
    p_better: float  # H0: diff >= -delta vs  H1: diff < -delta
    p_worse: float  # H0: diff <= +delta  vs  H1: diff > +delta

    @property
    def p_equivalence(self) -> float:
        return max(self.p_lower, self.p_upper)

    @property
    def p_differs(self) -> float:
        return min(self.p_better, self.p_worse)


def welch_df(terms: Sequence[tuple[float, float]]) -> float:
    """Degrees of freedom of a sum of independent variance terms ``(variance, df)``: Welch-Satterthwaite (the
    default of Lakens' TOSTER and of statsmodels' ``ttost_ind(usevar='unequal')``). Where one of several terms rests
    on a single degree of freedom (two runs), Welch's approximation trusts that variance too much (false verdicts up
    to 8 % at a 5 % level in this project's simulations, tests/test_stats.py), so Hsu's conservative rule applies:
    the smallest of the terms' degrees of freedom (Hsu 1938; Scheffé 1970, JASA 65, "Practical solutions of the
    Behrens-Fisher problem"). Terms with zero variance do not count; inf when none is left."""
    live = [(v, d) for v, d in terms if v > 0]
    if not live:
        return math.inf
    if len(live) > 1 and min(d for _, d in live) <= 1:
        return min(d for _, d in live)
    return sum(v for v, _ in live) ** 2 / sum(v**2 / d for v, d in live)


def decide(diff: float, terms: Sequence[tuple[float, float]], delta: float, alpha: float = DEFAULT_ALPHA) -> Decision:
    """Decide ``diff`` against ``delta``: ``terms`` are the independent variance terms of its standard error,
    ``(squared standard error, degrees of freedom)``. Reproduced when the ``1 - 2 alpha`` interval lies inside
    ``(-delta, +delta)`` (both one-sided TOST tests reject); differs when it lies entirely outside ``[-delta,
    +delta]`` (the minimum-effect test in the observed direction rejects); inconclusive otherwise. A zero standard
    error makes the interval the point ``diff`` and each p-value 0 or 1 (0.5 exactly on a bound)."""
    se = math.sqrt(sum(v for v, _ in terms))
    df = welch_df(terms)

    def z(x: float) -> float:
        if se > 0:
            return x / se
        return math.copysign(math.inf, x) if x != 0 else 0.0

    t_crit = float(stats.t.ppf(1.0 - alpha, df))
    p_lower = float(stats.t.sf(z(diff + delta), df))
    p_upper = float(stats.t.cdf(z(diff - delta), df))
    p_better = float(stats.t.cdf(z(diff + delta), df))
    p_worse = float(stats.t.sf(z(diff - delta), df))
    direction = None
    if max(p_lower, p_upper) < alpha:
        outcome = "reproduced"
    elif p_worse < alpha:
        outcome, direction = "differs", "worse"
    elif p_better < alpha:
        outcome, direction = "differs", "better"
    else:
        outcome = "inconclusive"
    return Decision(
        outcome, direction, diff, se, df, diff - t_crit * se, diff + t_crit * se, p_lower, p_upper, p_better, p_worse
    )


def t_quantiles(q: float, df) -> np.ndarray:
    """Student's t quantile ``q`` at each degrees of freedom of the array ``df``, computed once per distinct value
    (simulations draw thousands of cells that share a few: the same numbers as ``scipy.stats.t.ppf(q, df)``)."""
    df = np.asarray(df, dtype=float)
    distinct, where = np.unique(df, return_inverse=True)
    return np.asarray(stats.t.ppf(q, distinct))[where].reshape(df.shape)


def decide_many(diff, se, df, delta: float, alpha_equivalent: float, alpha_differs: float) -> np.ndarray:
    """Vectorized outcome of :func:`decide` (0 inconclusive, 1 reproduced, 2 differs) for arrays of differences,
    standard errors and degrees of freedom, with a level for each of the two decisions (the levels that a
    multiplicity adjustment leaves a cell)."""
    diff, se, df = (np.asarray(a, dtype=float) for a in (diff, se, df))
    t_eq = t_quantiles(1.0 - alpha_equivalent, df)
    t_diff = t_eq if alpha_differs == alpha_equivalent else t_quantiles(1.0 - alpha_differs, df)
    reproduced = np.abs(diff) + t_eq * se < delta
    differs = np.abs(diff) - t_diff * se > delta
    return np.where(reproduced, 1, np.where(differs, 2, 0))


# --------------------------------------------------------------------------------------------------
# One published cell against ours
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellEquivalence:
    """The verdict on one published cell; see :func:`cell_equivalence`. Undefined numbers are NaN."""

    decision: Decision | None  # None: no test could be run
    delta: float
    alpha: float
    n_ours: int
    published: PublishedSide
    spread: float  # the run-to-run std behind the test: ours, or the published one with one seed of ours (NaN)
    spread_from_published: bool
    reason: str  # one line, human readable

    @property
    def outcome(self) -> str:
        return self.decision.outcome if self.decision else "inconclusive"

    @property
    def direction(self) -> str | None:
        return self.decision.direction if self.decision else None

    def _get(self, name: str) -> float:
        return getattr(self.decision, name) if self.decision else math.nan

    diff = property(lambda self: self._get("diff"))
    se = property(lambda self: self._get("se"))
    df = property(lambda self: self._get("df"))
    ci_low = property(lambda self: self._get("ci_low"))
    ci_high = property(lambda self: self._get("ci_high"))
    p_lower = property(lambda self: self._get("p_lower"))
    p_upper = property(lambda self: self._get("p_upper"))
    p_better = property(lambda self: self._get("p_better"))
    p_worse = property(lambda self: self._get("p_worse"))
    p_equivalence = property(lambda self: self._get("p_equivalence"))
    p_differs = property(lambda self: self._get("p_differs"))

    @property
    def confidence(self) -> float:
        return 1.0 - 2.0 * self.alpha


def variance_terms(ours_std: float, ours_n: int, published: PublishedSide) -> list[tuple[float, float]] | None:
    """The variance terms of ``ours_mean - published.mean`` (see :class:`PublishedSide`); None when no spread is
    known (one seed of ours and no published std). With one seed of ours and a published sample, the published
    std stands in for ours: ``s_p^2 (1 + 1/n_p)`` with ``n_p - 1`` degrees of freedom (one new run against a
    sample)."""
    kind = published.kind
    if ours_n >= 2:
        var_ours = float(ours_std) ** 2
        terms = [(var_ours / ours_n, ours_n - 1.0)]
        if kind == "sample":
            terms.append((float(published.std) ** 2 / published.runs, published.runs - 1.0))
        elif kind == "draws":  # our spread stands in for the published runs': one term, our degrees of freedom
            terms = [(var_ours * (1.0 / ours_n + 1.0 / published.runs), ours_n - 1.0)]
        return terms
    if kind == "sample":
        s_p = float(published.std)
        return [(s_p**2 * (1.0 + 1.0 / published.runs), published.runs - 1.0)]
    return None


def cell_equivalence(
    ours_mean: float,
    ours_std: float | None,
    ours_n: int,
    published: PublishedSide,
    delta: float,
    alpha: float = DEFAULT_ALPHA,
) -> CellEquivalence:
    """Decide whether our result equals a published cell within ``delta``, differs by more, or neither.

    ``diff = ours_mean - published.mean``; its variance is ``s_o^2 / n_o`` plus the published side's term
    (:class:`PublishedSide`: ``s_p^2 / n_p`` for a published sample, ``s_o^2 / n_p`` for published draws whose
    spread is not printed, 0 for a number the study declares exact); degrees of freedom by Welch-Satterthwaite.
    Then :func:`decide`. With one seed of ours (``ours_std`` is ignored) only a published sample gives a spread;
    otherwise the cell is inconclusive with :data:`NO_SPREAD_REASON`.
    """
    check_alpha(alpha)
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a positive number, got {delta!r}")
    if int(ours_n) != ours_n or ours_n < 1:
        raise ValueError(f"ours_n must be a positive integer, got {ours_n!r}")
    ours_n = int(ours_n)
    if not math.isfinite(ours_mean):
        raise ValueError("ours_mean must be a finite number")
    our_spread = math.nan  # one seed of ours: no spread of ours
    if ours_n >= 2:
        if ours_std is None or missing(ours_std) or not ours_std >= 0:
            raise ValueError(f"ours_std must be a non-negative number with {ours_n} seeds, got {ours_std!r}")
        our_spread = ours_std
    terms = variance_terms(our_spread, ours_n, published)
    side = published.describe()
    if terms is None:
        return CellEquivalence(None, float(delta), alpha, ours_n, published, math.nan, False, NO_SPREAD_REASON)
    from_published = ours_n == 1
    spread = float(published.std) if from_published else float(our_spread)
    d = decide(float(ours_mean) - published.mean, terms, float(delta), alpha)
    interval = f"the {1 - 2 * alpha:.0%} interval of the difference [{signed(d.ci_low)}, {signed(d.ci_high)}]"
    if d.outcome == "reproduced":
        head = f"{interval} lies inside ±{delta:.3g}"
    elif d.outcome == "differs":
        side_text = (
            f"above +{delta:.3g} (ours worse)" if d.direction == "worse" else f"below -{delta:.3g} (ours better)"
        )
        head = f"{interval} lies entirely {side_text}"
    else:
        head = f"{interval} overlaps a margin bound ±{delta:.3g}"
    notes = [side]
    if from_published:
        notes.append(f"one seed of ours: the published std ({spread:.3g}) stands in for our spread")
    return CellEquivalence(d, float(delta), alpha, ours_n, published, spread, from_published, "; ".join([head, *notes]))


# --------------------------------------------------------------------------------------------------
# Multiplicity
# --------------------------------------------------------------------------------------------------


def _adjusted(pvalues: Sequence[float], adjust) -> list[float]:
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = adjust(p[ok])
    return [float(x) for x in out]


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control(method='bh')``); NaN entries (no
    test was run) are not part of the family: they stay NaN and do not count in m."""
    return _adjusted(pvalues, lambda p: stats.false_discovery_control(p, method="bh"))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (``statsmodels.stats.multitest.multipletests(method='holm')``): a
    familywise error rate at most alpha when any adjusted p < alpha is rejected; NaN entries are left out."""
    from statsmodels.stats.multitest import multipletests

    return _adjusted(pvalues, lambda p: multipletests(p, method="holm")[1])


@dataclass(frozen=True)
class AdjustedCell:
    """A cell's verdict after Benjamini-Hochberg over its table (see :func:`adjust_cells`)."""

    cell: CellEquivalence  # the unadjusted result
    p_equivalence_adjusted: float
    p_differs_adjusted: float
    outcome: str  # from the adjusted p-values
    direction: str | None
    demoted: bool  # decided before the adjustment, inconclusive after it
    family: int  # tested cells in the table (m)
    # The levels at which this cell's raw p-values would make it a discovery with the other cells as they are:
    # alpha (R + 1) / m, R the table's discoveries of that kind other than this cell (what more seeds must reach).
    level_equivalence: float
    level_differs: float
    reason: str


def _levels(p_raw: list[float], p_adj: list[float], alpha: float) -> list[float]:
    m = sum(not math.isnan(p) for p in p_raw)
    found = sum(p < alpha for p in p_adj if not math.isnan(p))
    return [alpha * ((found - (pa < alpha if not math.isnan(pa) else 0)) + 1) / m if m else alpha for pa in p_adj]


def adjust_cells(cells: Sequence[CellEquivalence], alpha: float = DEFAULT_ALPHA) -> list[AdjustedCell]:
    """Adjust a table's cells together (false-discovery rate ``alpha``) and re-decide each.

    The TOST p-values of all tested cells form one family, the minimum-effect p-values another; each is adjusted by
    Benjamini-Hochberg. A cell is ``reproduced`` only if its adjusted TOST p < ``alpha``, ``differs`` (in its
    direction) only if its adjusted minimum-effect p < ``alpha``, else ``inconclusive``; a cell decided before the
    adjustment and not after it is ``demoted`` and its reason says so. Cells with no test stay inconclusive.
    """
    check_alpha(alpha)
    raw_eq = [c.p_equivalence for c in cells]
    raw_diff = [c.p_differs for c in cells]
    p_eq, p_diff = benjamini_hochberg(raw_eq), benjamini_hochberg(raw_diff)
    level_eq, level_diff = _levels(raw_eq, p_eq, alpha), _levels(raw_diff, p_diff, alpha)
    m = sum(not math.isnan(p) for p in raw_eq)
    out = []
    for cell, pe, pd, le, ld in zip(cells, p_eq, p_diff, level_eq, level_diff):
        direction = None
        if pe < alpha:
            outcome = "reproduced"
        elif pd < alpha:
            outcome, direction = "differs", cell.direction
        else:
            outcome = "inconclusive"
        demoted = cell.outcome != "inconclusive" and outcome == "inconclusive"
        if math.isnan(pe):
            reason = cell.reason
        elif demoted:
            p_raw = cell.p_equivalence if cell.outcome == "reproduced" else cell.p_differs
            p_adj = pe if cell.outcome == "reproduced" else pd
            reason = (
                f"inconclusive after the Benjamini-Hochberg adjustment over {m} cells: "
                f"p({'equivalent' if cell.outcome == 'reproduced' else 'differs'}) = {p_raw:.3g} unadjusted, "
                f"{p_adj:.3g} adjusted (not below {alpha:g}); unadjusted, {cell.reason}"
            )
        else:
            reason = (
                f"Benjamini-Hochberg over {m} cells: p(equivalent) = {pe:.3g}, p(differs) = {pd:.3g}; {cell.reason}"
            )
        out.append(AdjustedCell(cell, pe, pd, outcome, direction, demoted, m, le, ld, reason))
    return out
