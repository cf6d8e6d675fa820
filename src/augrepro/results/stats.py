"""Statistics that decide whether a published result holds: pure functions, no pandas, no I/O.

Every distribution and test comes from :mod:`scipy.stats`; nothing here is a hand-written
distribution. The functions below assume a *lower is better* metric (top-1 / top-5 error, wall hours):
"better" always means a lower number; the comparison hands them the negated difference for the metrics
where higher is better (FGSM accuracy, detection mAP: ``augrepro.results.compare.HIGHER_IS_BETTER``).

What is here:

* :func:`cell_equivalence`: one published cell against ours, from summary statistics (Welch t, two
  one-sided tests for equivalence within a margin ``delta``, and a minimum-effect test for a difference
  larger than ``delta``), with the number of seeds that would decide an undecided cell.
* :func:`benjamini_hochberg` and :func:`adjust_cells`: false-discovery-rate control over a table's cells.
* :func:`improvement_claim`, :func:`best_of_claim`, :func:`ranking_claim`: claims checked on our per-seed
  results (paired t over shared seeds; Kendall's tau with a bootstrap over seeds).
* :func:`default_margin`: the equivalence margin ``delta`` of a cell when none is configured.

Convention for every interval and decision: a one-sided test at level ``alpha`` (default 0.05) is the
same as asking whether a two-sided ``1 - 2 alpha`` (90 %) confidence interval lies on one side of a
bound. Cells and claims use that one convention throughout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_ALPHA = 0.05
# Largest number of seeds of ours that the "seeds to decide" search considers.
DEFAULT_MAX_SEEDS = 200
# Bootstrap resamples for the ranking claim's interval.
DEFAULT_RESAMPLES = 2000

OUTCOMES = ("reproduced", "differs", "inconclusive")
DIRECTIONS = ("better", "worse")
CLAIM_VERDICTS = ("holds", "fails", "inconclusive")

# Equivalence margin floors (points of error) per dataset, and the floor for any other dataset.
MARGIN_FLOORS = {"cifar10": 0.3, "imagenet": 0.3, "cifar100": 0.5, "tinyimagenet": 0.5}
DEFAULT_MARGIN_FLOOR = 0.5
# Wall hours: the margin is this fraction of the published hours (the paper's GPU is not ours).
HOURS_RELATIVE_MARGIN = 0.25
_DATASET_ALIASES = {"tinyimagenet200": "tinyimagenet", "imagenet1k": "imagenet", "ilsvrc2012": "imagenet"}

NO_SPREAD_REASON = "one seed and no published spread"
NO_RUN_COUNT_REASON = "one seed and the published spread has no run count (its degrees of freedom are unknown)"


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _missing(value: float | None) -> bool:
    """True for None or NaN (a value the source did not print)."""
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _check_alpha(alpha: float) -> None:
    if not (0.0 < alpha < 0.5):
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")


def _fmt(x: float) -> str:
    return f"{x:+.3g}"


# --------------------------------------------------------------------------------------------------
# 1. Equivalence of one published cell with ours
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellEquivalence:
    """The verdict on one published cell; see :func:`cell_equivalence` for the rule.

    Undefined numbers (no test could be run) are NaN.
    """

    outcome: str  # "reproduced", "differs" or "inconclusive"
    direction: str | None  # "better" (ours lower) or "worse" when outcome == "differs", else None
    diff: float  # ours_mean - published_mean
    se: float  # standard error of diff
    df: float  # Welch-Satterthwaite degrees of freedom
    ci_low: float  # the 1 - 2 alpha confidence interval of diff
    ci_high: float
    confidence: float  # 1 - 2 alpha
    p_equivalence: float  # TOST p-value: max(p_lower, p_upper); reproduced iff < alpha
    p_differs: float  # minimum-effect p-value: min(p_better, p_worse); differs iff < alpha
    p_lower: float  # H0: diff <= -delta  vs  H1: diff > -delta
    p_upper: float  # H0: diff >= +delta  vs  H1: diff < +delta
    p_better: float  # H0: diff >= -delta vs  H1: diff < -delta (ours lower by more than delta)
    p_worse: float  # H0: diff <= +delta  vs  H1: diff > +delta (ours higher by more than delta)
    delta: float
    alpha: float
    n_ours: int
    published_as_constant: bool  # the published mean entered without error (no std or no run count)
    spread_from_published: bool  # one seed of ours: the published std stood in for our spread
    seeds_to_decide: int | None  # smallest total n of ours that decides the cell (n_ours if decided)
    reason: str  # one line, human readable


@dataclass(frozen=True)
class _Decision:
    outcome: str
    direction: str | None
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_lower: float
    p_upper: float
    p_better: float
    p_worse: float


def _decide(
    diff: float, var_ours: float, df_ours: float, var_pub: float, df_pub: float, delta: float, alpha: float
) -> _Decision:
    """The Welch TOST / minimum-effect decision for a difference with two variance terms.

    ``var_*`` are the squared standard errors of the two means (s^2 / n), ``df_*`` their degrees of
    freedom (n - 1); a zero term does not enter the Welch-Satterthwaite formula. With a zero standard
    error the interval is the point ``diff`` and each p-value is 0 or 1 (0.5 exactly on a bound).
    """
    var = var_ours + var_pub
    se = math.sqrt(var)
    terms = [(v, d) for v, d in ((var_ours, df_ours), (var_pub, df_pub)) if v > 0]
    df = var**2 / sum(v**2 / d for v, d in terms) if terms else float(df_ours)

    def z(x: float) -> float:
        if se > 0:
            return x / se
        return math.copysign(math.inf, x) if x != 0 else 0.0

    t_crit = float(stats.t.ppf(1.0 - alpha, df))
    ci_low, ci_high = diff - t_crit * se, diff + t_crit * se
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
    return _Decision(outcome, direction, se, df, ci_low, ci_high, p_lower, p_upper, p_better, p_worse)


def _seeds_to_decide(
    diff: float,
    spread: float,
    n_from: int,
    var_pub: float,
    df_pub: float,
    delta: float,
    alpha: float,
    max_seeds: int,
) -> int | None:
    """Smallest n in [max(n_from, 2), max_seeds] at which our mean with ``spread`` would decide the cell."""
    if abs(diff) == delta:  # both p-values stay >= 0.5 for every n
        return None
    for n in range(max(n_from, 2), max_seeds + 1):
        if _decide(diff, spread**2 / n, n - 1, var_pub, df_pub, delta, alpha).outcome != "inconclusive":
            return n
    return None


def cell_equivalence(
    ours_mean: float,
    ours_std: float | None,
    ours_n: int,
    published_mean: float,
    published_std: float | None,
    published_n: int | None,
    delta: float,
    alpha: float = DEFAULT_ALPHA,
    *,
    max_seeds: int = DEFAULT_MAX_SEEDS,
) -> CellEquivalence:
    """Decide whether our result equals a published cell within ``delta``, differs by more, or neither.

    Rule (lower is better; ``alpha`` default 0.05, so the interval is a 90 % one):

    * ``diff = ours_mean - published_mean``; ``se = sqrt(s_o^2/n_o + s_p^2/n_p)`` with ``s`` the
      sample standard deviations and ``n`` the numbers of runs; degrees of freedom by
      Welch-Satterthwaite. Where the source prints no std or no run count (or a run count below 2),
      the published mean is taken as a constant: its term is 0, the degrees of freedom are ours
      alone (``n_o - 1``), and ``published_as_constant`` is set.
    * ``reproduced`` when the ``1 - 2 alpha`` interval of ``diff`` lies inside ``(-delta, +delta)``,
      i.e. both one-sided TOST tests reject (``p_equivalence = max(p_lower, p_upper) < alpha``).
    * ``differs`` when the interval lies entirely outside ``[-delta, +delta]``: the minimum-effect
      test in the observed direction rejects ``|diff| <= delta``
      (``p_differs = min(p_better, p_worse) < alpha``); ``direction`` is ``better`` (ours lower by
      more than ``delta``) or ``worse``.
    * ``inconclusive`` otherwise.
    * One seed of ours (``ours_n == 1``; ``ours_std`` is ignored): our spread is unknown. If the
      published std and run count ``n_p >= 2`` are known, the published std stands in for our
      spread: ``se = s_p * sqrt(1 + 1/n_p)`` with ``n_p - 1`` degrees of freedom (the classical
      test of one new run against a sample), and ``spread_from_published`` is set. With a published
      std but no run count the outcome is ``inconclusive`` (the degrees of freedom are unknown);
      with no published std at all it is ``inconclusive`` with the reason
      ``"one seed and no published spread"``. p-values are then NaN.
    * ``seeds_to_decide``: ``ours_n`` when the cell is decided; otherwise the smallest total number
      of seeds of ours, ``n_o + 1 .. max_seeds``, at which the same mean and spread (ours, or the
      published std when we have one seed) would decide the cell, the published values unchanged;
      None when no n up to ``max_seeds`` does (``|diff| == delta``, or the published term alone keeps
      the interval too wide) or when no spread is known.
    """
    _check_alpha(alpha)
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a positive number, got {delta!r}")
    if int(ours_n) != ours_n or ours_n < 1:
        raise ValueError(f"ours_n must be a positive integer, got {ours_n!r}")
    ours_n = int(ours_n)
    if not (math.isfinite(ours_mean) and math.isfinite(published_mean)):
        raise ValueError("ours_mean and published_mean must be finite numbers")
    if ours_n >= 2 and (_missing(ours_std) or not ours_std >= 0):
        raise ValueError(f"ours_std must be a non-negative number with {ours_n} seeds, got {ours_std!r}")
    if not _missing(published_std) and not published_std >= 0:
        raise ValueError(f"published_std must be non-negative, got {published_std!r}")

    diff = float(ours_mean) - float(published_mean)
    has_pub_std = not _missing(published_std)
    has_pub_n = not _missing(published_n) and published_n >= 2
    published_as_constant = not (has_pub_std and has_pub_n)
    if published_as_constant:
        var_pub, df_pub = 0.0, math.inf
    else:
        var_pub, df_pub = float(published_std) ** 2 / published_n, float(published_n) - 1.0
    notes = []
    if published_as_constant:
        missing = "no std" if not has_pub_std else "no run count of at least 2"
        notes.append(f"the published mean is taken as a constant ({missing} printed)")

    spread_from_published = False
    if ours_n >= 2:
        decision = _decide(diff, float(ours_std) ** 2 / ours_n, ours_n - 1, var_pub, df_pub, delta, alpha)
        assumed_spread: float | None = float(ours_std)
    elif has_pub_std and has_pub_n:
        spread_from_published = True
        s_p = float(published_std)
        # One run against a sample: both terms come from the published spread, with n_p - 1 df.
        var = s_p**2 * (1.0 + 1.0 / published_n)
        decision = _decide(diff, var, df_pub, 0.0, df_pub, delta, alpha)
        assumed_spread = s_p
        notes.append(f"one seed: the published std ({s_p:.3g}, {int(published_n)} runs) stands in for our spread")
    else:
        assumed_spread = float(published_std) if has_pub_std else None
        seeds = (
            _seeds_to_decide(diff, assumed_spread, 2, var_pub, df_pub, delta, alpha, max_seeds)
            if assumed_spread is not None
            else None
        )
        nan = math.nan
        return CellEquivalence(
            outcome="inconclusive",
            direction=None,
            diff=diff,
            se=nan,
            df=nan,
            ci_low=nan,
            ci_high=nan,
            confidence=1.0 - 2.0 * alpha,
            p_equivalence=nan,
            p_differs=nan,
            p_lower=nan,
            p_upper=nan,
            p_better=nan,
            p_worse=nan,
            delta=float(delta),
            alpha=float(alpha),
            n_ours=ours_n,
            published_as_constant=published_as_constant,
            spread_from_published=False,
            seeds_to_decide=seeds,
            reason=NO_RUN_COUNT_REASON if has_pub_std else NO_SPREAD_REASON,
        )

    d = decision
    interval = f"the {1 - 2 * alpha:.0%} interval of the difference [{_fmt(d.ci_low)}, {_fmt(d.ci_high)}]"
    if d.outcome == "reproduced":
        head = f"{interval} lies inside ±{delta:g}"
    elif d.outcome == "differs":
        side = f"above +{delta:g} (ours worse)" if d.direction == "worse" else f"below -{delta:g} (ours better)"
        head = f"{interval} lies entirely {side}"
    else:
        head = f"{interval} overlaps a margin bound ±{delta:g}"
    if d.outcome != "inconclusive":
        seeds = ours_n
    else:
        seeds = _seeds_to_decide(diff, assumed_spread, ours_n + 1, var_pub, df_pub, delta, alpha, max_seeds)
    return CellEquivalence(
        outcome=d.outcome,
        direction=d.direction,
        diff=diff,
        se=d.se,
        df=d.df,
        ci_low=d.ci_low,
        ci_high=d.ci_high,
        confidence=1.0 - 2.0 * alpha,
        p_equivalence=max(d.p_lower, d.p_upper),
        p_differs=min(d.p_better, d.p_worse),
        p_lower=d.p_lower,
        p_upper=d.p_upper,
        p_better=d.p_better,
        p_worse=d.p_worse,
        delta=float(delta),
        alpha=float(alpha),
        n_ours=ours_n,
        published_as_constant=published_as_constant,
        spread_from_published=spread_from_published,
        seeds_to_decide=seeds,
        reason="; ".join([head, *notes]),
    )


# --------------------------------------------------------------------------------------------------
# 3. Multiple cells: Benjamini-Hochberg
# --------------------------------------------------------------------------------------------------


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control(method='bh')``).

    Rule: sort the m p-values, ``p_(i) * m / i``, then the running minimum from the largest down,
    capped at 1; a hypothesis is rejected at false-discovery rate ``q`` iff its adjusted p < q.
    NaN entries (no test was run) are not part of the family: they stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return [float(x) for x in out]


@dataclass(frozen=True)
class AdjustedCell:
    """A cell's verdict after Benjamini-Hochberg over its table (see :func:`adjust_cells`)."""

    cell: CellEquivalence  # the unadjusted result
    p_equivalence_adjusted: float
    p_differs_adjusted: float
    outcome: str  # "reproduced", "differs" or "inconclusive", from the adjusted p-values
    direction: str | None  # "better" / "worse" when outcome == "differs"
    reason: str


def adjust_cells(cells: Sequence[CellEquivalence], alpha: float = DEFAULT_ALPHA) -> list[AdjustedCell]:
    """Adjust a table's cells together (false-discovery rate ``alpha``) and re-decide each.

    Rule: the TOST p-values of all cells form one family and the minimum-effect p-values another; each
    family is adjusted by Benjamini-Hochberg. A cell is ``reproduced`` only if its adjusted TOST p <
    ``alpha``, ``differs`` (in its unadjusted direction) only if its adjusted minimum-effect p <
    ``alpha``, else ``inconclusive``. Cells with no test (NaN p-values, e.g. one seed and no spread)
    are left out of both families and stay inconclusive. The two outcomes cannot both hold: an
    adjusted p is never below the raw one, and the raw outcomes exclude each other.
    """
    _check_alpha(alpha)
    p_eq = benjamini_hochberg([c.p_equivalence for c in cells])
    p_diff = benjamini_hochberg([c.p_differs for c in cells])
    out = []
    for cell, pe, pd in zip(cells, p_eq, p_diff):
        direction = None
        if pe < alpha:
            outcome = "reproduced"
        elif pd < alpha:
            outcome, direction = "differs", cell.direction
        else:
            outcome = "inconclusive"
        if math.isnan(pe):
            reason = cell.reason
        else:
            reason = (
                f"BH-adjusted over {sum(not math.isnan(p) for p in p_eq)} cells: "
                f"p(equivalent) = {pe:.3g}, p(differs) = {pd:.3g}; {cell.reason}"
            )
        out.append(AdjustedCell(cell, pe, pd, outcome, direction, reason))
    return out


def count_outcomes(cells: Sequence[CellEquivalence | AdjustedCell]) -> dict[str, int]:
    """Counts for a summary: ``{"reproduced", "better", "worse", "inconclusive"}`` (better / worse: differs).

    Pass the result of :func:`adjust_cells` to count the adjusted outcomes.
    """
    counts = {"reproduced": 0, "better": 0, "worse": 0, "inconclusive": 0}
    for c in cells:
        counts[c.direction if c.outcome == "differs" else c.outcome] += 1
    return counts


# --------------------------------------------------------------------------------------------------
# 2. Claims over our per-seed results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedClaim:
    """The verdict on "A has a lower value than B" over shared seeds; see :func:`improvement_claim`."""

    verdict: str  # "holds", "fails" or "inconclusive"
    n_pairs: int  # seeds present (and finite) in both A and B
    n_dropped: int  # seeds present in only one of them, or NaN in either
    mean_diff: float  # mean over pairs of A_i - B_i (negative: A lower)
    ci_low: float  # 1 - 2 alpha paired t interval of mean_diff
    ci_high: float
    confidence: float
    p_value: float  # one-sided, H1: mean(A - B) < 0 (the claim)
    p_reverse: float  # one-sided, H1: mean(A - B) > 0 (the reverse)
    published_margin: float | None  # the paper's "lower by about d", d > 0
    margin_inside: bool | None  # -d inside [ci_low, ci_high]
    reason: str


def _pairs(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> tuple[np.ndarray, np.ndarray, int]:
    def finite(m: Mapping[Hashable, float]) -> dict:
        return {k: float(v) for k, v in m.items() if not _missing(v) and math.isfinite(float(v))}

    fa, fb = finite(a), finite(b)
    shared = [k for k in fa if k in fb]
    try:
        shared = sorted(shared)
    except TypeError:
        pass
    dropped = len(set(a) | set(b)) - len(shared)
    return np.array([fa[k] for k in shared]), np.array([fb[k] for k in shared]), dropped


def improvement_claim(
    a: Mapping[Hashable, float],
    b: Mapping[Hashable, float],
    published_margin: float | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> PairedClaim:
    """Check "A has a lower error than B (by about ``published_margin`` points)" on runs keyed by seed.

    Rule: the same seed trains both methods, so the comparison is paired. Seeds present in only one
    of ``a`` / ``b`` (or NaN in either) are dropped. ``d_i = A_i - B_i``; the interval is the
    ``1 - 2 alpha`` t interval of the mean of ``d`` (``scipy.stats.ttest_rel``), the p-values are
    ``ttest_rel``'s one-sided ones. ``holds`` when the interval lies entirely below 0 (one-sided
    p < alpha), ``fails`` when it lies entirely above 0 (the reverse is shown), ``inconclusive``
    otherwise, and with fewer than 2 pairs. If every difference is the same the interval is that point
    (holds / fails by its sign; inconclusive at 0). ``margin_inside`` tells whether ``-published_margin``
    (A lower by d) lies in the interval.
    """
    _check_alpha(alpha)
    x, y, dropped = _pairs(a, b)
    n = len(x)
    conf = 1.0 - 2.0 * alpha
    margin = None if _missing(published_margin) else float(published_margin)
    if n < 2:
        nan = math.nan
        return PairedClaim(
            "inconclusive",
            n,
            dropped,
            float(np.mean(x - y)) if n else nan,
            nan,
            nan,
            conf,
            nan,
            nan,
            margin,
            None,
            f"{n} seed(s) shared by both methods; a paired comparison needs at least 2",
        )
    d = x - y
    mean = float(d.mean())
    if np.ptp(d) == 0:  # no spread: the t statistic is infinite (or 0/0)
        lo = hi = mean
        p_less = 0.0 if mean < 0 else (1.0 if mean > 0 else 0.5)
        p_greater = 0.0 if mean > 0 else (1.0 if mean < 0 else 0.5)
    else:
        res = stats.ttest_rel(x, y)
        ci = res.confidence_interval(confidence_level=conf)
        lo, hi = float(ci.low), float(ci.high)
        p_less = float(stats.ttest_rel(x, y, alternative="less").pvalue)
        p_greater = float(stats.ttest_rel(x, y, alternative="greater").pvalue)
    if p_less < alpha:
        verdict = "holds"
    elif p_greater < alpha:
        verdict = "fails"
    else:
        verdict = "inconclusive"
    margin_inside = None if margin is None else bool(lo <= -margin <= hi)
    where = {"holds": "entirely below 0", "fails": "entirely above 0 (the reverse)", "inconclusive": "across 0"}
    reason = (
        f"{n} paired seeds ({dropped} dropped): mean A - B = {_fmt(mean)}, "
        f"{conf:.0%} interval [{_fmt(lo)}, {_fmt(hi)}] {where[verdict]}"
    )
    if margin is not None:
        reason += f"; the published margin -{margin:g} is {'inside' if margin_inside else 'outside'} it"
    return PairedClaim(verdict, n, dropped, mean, lo, hi, conf, p_less, p_greater, margin, margin_inside, reason)


@dataclass(frozen=True)
class BestOfClaim:
    """The verdict on "A is the best of a set"; see :func:`best_of_claim`."""

    verdict: str
    best: str
    comparisons: dict[str, PairedClaim]  # A against each other member
    reason: str


def best_of_claim(
    best: str,
    runs: Mapping[str, Mapping[Hashable, float]],
    published_margins: Mapping[str, float] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> BestOfClaim:
    """Check "``best`` has the lowest error of the methods in ``runs``" ({method: {seed: value}}).

    Rule: :func:`improvement_claim` of ``best`` against every other member (paired over the seeds the
    two share, each at level ``alpha``). ``holds`` if every comparison holds (an intersection-union
    test: level ``alpha`` without adjustment); ``fails`` if any comparison fails (another member is
    significantly lower; note that with k comparisons this side's familywise error can reach
    k * alpha); ``inconclusive`` otherwise, or when ``best`` has no runs or no other member is given.
    """
    _check_alpha(alpha)
    margins = published_margins or {}
    if best not in runs:
        return BestOfClaim("inconclusive", best, {}, f"no runs of {best}")
    others = [m for m in runs if m != best]
    if not others:
        return BestOfClaim("inconclusive", best, {}, "no other method to compare with")
    comparisons = {m: improvement_claim(runs[best], runs[m], margins.get(m), alpha) for m in others}
    failed = [m for m, c in comparisons.items() if c.verdict == "fails"]
    open_ = [m for m, c in comparisons.items() if c.verdict == "inconclusive"]
    if failed:
        verdict, reason = "fails", f"lower than {best}: {', '.join(failed)}"
    elif open_:
        verdict, reason = "inconclusive", f"{best} is not significantly lower than: {', '.join(open_)}"
    else:
        verdict, reason = "holds", f"{best} is significantly lower than each of the {len(others)} others"
    return BestOfClaim(verdict, best, comparisons, reason)


@dataclass(frozen=True)
class RankingClaim:
    """Agreement of our order of methods with the published one; see :func:`ranking_claim`."""

    verdict: str
    tau: float  # Kendall's tau-b between published values and our means over seeds
    p_value: float  # scipy.stats.kendalltau, alternative='greater' (over methods, not seeds)
    ci_low: float  # 1 - 2 alpha percentile bootstrap interval over seeds
    ci_high: float
    confidence: float
    threshold: float
    methods: tuple[str, ...]  # methods with both a published value and runs of ours
    dropped_methods: tuple[str, ...]
    n_seeds: int  # seeds shared by every method used
    dropped_seeds: int
    n_resamples: int
    rng_seed: int
    reason: str


def _tau(x: Sequence[float], y: Sequence[float]) -> float:
    t = float(stats.kendalltau(x, y).statistic)
    return 0.0 if math.isnan(t) else t  # a constant order (all tied) agrees with nothing


def ranking_claim(
    published: Mapping[str, float],
    ours: Mapping[str, Mapping[Hashable, float]],
    alpha: float = DEFAULT_ALPHA,
    threshold: float = 0.0,
    n_resamples: int = DEFAULT_RESAMPLES,
    rng_seed: int = 0,
) -> RankingClaim:
    """Check that our order of methods agrees with the published one (values: lower is better).

    Rule: methods with a published value and runs of ours are used; seeds missing (or NaN) for any of
    them are dropped, so that every method is measured on the same seeds. ``tau`` is Kendall's tau-b
    (``scipy.stats.kendalltau``) between the published values and our means over the seeds, with its
    one-sided p-value (H1: tau > 0; this treats the methods as the sample, not the seeds). The
    interval is a percentile bootstrap over seeds (``scipy.stats.bootstrap``, ``paired=True``: the
    seed indices are resampled jointly for all methods, our means and tau recomputed; a resample whose
    means all tie counts as tau = 0), at confidence ``1 - 2 alpha``, with ``numpy.random.default_rng(
    rng_seed)``. ``holds`` when the interval's lower bound > ``threshold``, ``fails`` when its upper
    bound < ``threshold``, ``inconclusive`` otherwise, and with fewer than 2 methods or 2 shared seeds.
    """
    _check_alpha(alpha)
    conf = 1.0 - 2.0 * alpha
    methods = [m for m in published if m in ours and not _missing(published[m])]
    candidates = list(published) + [m for m in ours if m not in published]
    dropped_methods = tuple(m for m in candidates if m not in methods)
    seed_sets = [{k for k, v in ours[m].items() if not _missing(v) and math.isfinite(float(v))} for m in methods]
    all_seeds = set().union(*seed_sets) if seed_sets else set()
    shared = set.intersection(*seed_sets) if seed_sets else set()
    try:
        seeds = sorted(shared)
    except TypeError:
        seeds = list(shared)
    nan = math.nan

    def result(verdict, tau, p, lo, hi, reason):
        return RankingClaim(
            verdict,
            tau,
            p,
            lo,
            hi,
            conf,
            threshold,
            tuple(methods),
            dropped_methods,
            len(seeds),
            len(all_seeds) - len(seeds),
            n_resamples,
            rng_seed,
            reason,
        )

    if len(methods) < 2:
        return result(
            "inconclusive", nan, nan, nan, nan, f"{len(methods)} method(s) with both a published value and runs"
        )
    pub = np.array([float(published[m]) for m in methods])
    if np.ptp(pub) == 0:
        return result("inconclusive", nan, nan, nan, nan, "the published values all tie: no order to check")
    if not seeds:
        return result("inconclusive", nan, nan, nan, nan, "no seed shared by every method")
    samples = tuple(np.array([float(ours[m][s]) for s in seeds]) for m in methods)
    means = [float(s.mean()) for s in samples]
    kt = stats.kendalltau(pub, means, alternative="greater")
    tau = _tau(pub, means)
    p = float(kt.pvalue)
    if len(seeds) < 2:
        return result("inconclusive", tau, p, nan, nan, "one shared seed: no interval over seeds")
    boot = stats.bootstrap(
        samples,
        lambda *xs: _tau(pub, [x.mean() for x in xs]),
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=conf,
        method="percentile",
        rng=np.random.default_rng(rng_seed),
    )
    lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    if lo > threshold:
        verdict = "holds"
    elif hi < threshold:
        verdict = "fails"
    else:
        verdict = "inconclusive"
    reason = (
        f"Kendall's tau = {tau:.3g} over {len(methods)} methods and {len(seeds)} shared seeds; "
        f"{conf:.0%} bootstrap interval [{lo:.3g}, {hi:.3g}] vs threshold {threshold:g}"
    )
    return result(verdict, tau, p, lo, hi, reason)


# --------------------------------------------------------------------------------------------------
# 4. Default margin
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Margin:
    value: float
    reason: str  # one line, human readable


def _dataset_key(dataset: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", str(dataset).lower())
    return _DATASET_ALIASES.get(key, key)


def default_margin(
    dataset: str,
    metric: str = "top1_error",
    claimed_gain: float | None = None,
    published_mean: float | None = None,
) -> Margin:
    """The equivalence margin ``delta`` of a cell when none is configured.

    Rule: for error metrics, ``delta = max(0.5 * |claimed_gain|, floor)``, ``claimed_gain`` being the
    gain in points the paper claims for this cell over its own baseline (None or NaN: the floor alone,
    e.g. the baseline cell itself), the floor by dataset (names compared without case or punctuation,
    so "CIFAR-10+" is cifar10): cifar10 0.3, imagenet 0.3, cifar100 0.5, tinyimagenet 0.5, any other
    0.5. For ``metric == "hours"``: ``delta = 0.25 * published_mean`` (the paper's GPU is not ours).
    """
    if metric == "hours":
        if _missing(published_mean) or not published_mean > 0:
            raise ValueError(f"the hours margin needs a positive published_mean, got {published_mean!r}")
        value = HOURS_RELATIVE_MARGIN * float(published_mean)
        return Margin(
            value,
            f"{HOURS_RELATIVE_MARGIN:.0%} of the published {float(published_mean):g} h: the paper's GPU is not ours",
        )
    key = _dataset_key(dataset)
    floor = MARGIN_FLOORS.get(key, DEFAULT_MARGIN_FLOOR)
    floor_text = f"the {key if key in MARGIN_FLOORS else 'default'} floor of {floor:g} points"
    if _missing(claimed_gain):
        return Margin(floor, f"{floor_text} (no claimed gain over the paper's baseline)")
    half = 0.5 * abs(float(claimed_gain))
    if half > floor:
        gain = abs(float(claimed_gain))
        return Margin(half, f"half the claimed gain of {gain:g} points over the paper's baseline (above {floor_text})")
    return Margin(floor, f"{floor_text} (half the claimed gain over the paper's baseline, {half:g}, is smaller)")


# --------------------------------------------------------------------------------------------------
# 3. Two variants of one recipe, seed by seed (the numerics study: fp32 against bf16)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedEquivalence:
    """The verdict on "A gives the same result as B within +-margin" over shared seeds; see
    :func:`paired_equivalence`."""

    verdict: str  # "holds" (equivalent), "fails" (they differ by more than the margin) or "inconclusive"
    n_pairs: int
    n_dropped: int
    mean_diff: float  # mean over pairs of A_i - B_i
    ci_low: float  # 1 - 2 alpha paired t interval of mean_diff
    ci_high: float
    confidence: float
    p_equivalence: float  # the larger of the two one-sided p-values (TOST); below alpha: equivalent
    margin: float
    reason: str


def paired_equivalence(
    a: Mapping[Hashable, float], b: Mapping[Hashable, float], margin: float, alpha: float = DEFAULT_ALPHA
) -> PairedEquivalence:
    """Check "A equals B within +-``margin``" on runs keyed by seed (the same seed trains both).

    Rule: two one-sided paired t tests (TOST) on ``d_i = A_i - B_i`` (``scipy.stats.ttest_1samp`` against -margin
    and +margin), i.e. the ``1 - 2 alpha`` t interval of the mean of ``d``: ``holds`` when it lies inside
    (-margin, +margin), ``fails`` when it lies entirely outside [-margin, +margin], ``inconclusive`` otherwise
    and with fewer than 2 pairs. If every difference is the same the interval is that point."""
    _check_alpha(alpha)
    if _missing(margin) or margin <= 0:
        raise ValueError(f"margin must be a number > 0, got {margin!r}")
    x, y, dropped = _pairs(a, b)
    n, conf, nan = len(x), 1.0 - 2.0 * alpha, math.nan
    if n < 2:
        mean = float(np.mean(x - y)) if n else nan
        reason = f"{n} seed(s) shared by both; a paired comparison needs at least 2"
        return PairedEquivalence("inconclusive", n, dropped, mean, nan, nan, conf, nan, margin, reason)
    d = x - y
    mean = float(d.mean())
    if np.ptp(d) == 0:
        lo = hi = mean
        p = 0.0 if abs(mean) < margin else 1.0
    else:
        ci = stats.ttest_rel(x, y).confidence_interval(confidence_level=conf)
        lo, hi = float(ci.low), float(ci.high)
        p = max(
            float(stats.ttest_1samp(d, -margin, alternative="greater").pvalue),
            float(stats.ttest_1samp(d, margin, alternative="less").pvalue),
        )
    if -margin < lo and hi < margin:
        verdict, where = "holds", f"inside ±{margin:g}: equivalent"
    elif lo > margin or hi < -margin:
        verdict, where = "fails", f"entirely outside ±{margin:g}: they differ"
    else:
        verdict, where = "inconclusive", f"across ±{margin:g}"
    reason = (
        f"{n} paired seeds ({dropped} dropped): mean A - B = {_fmt(mean)}, {conf:.0%} interval [{_fmt(lo)}, "
        f"{_fmt(hi)}] {where}"
    )
    return PairedEquivalence(verdict, n, dropped, mean, lo, hi, conf, p, margin, reason)
