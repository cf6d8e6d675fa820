"""The tests behind the papers' claims, on our per-seed results (values: lower is better).

The same seed trains every method of a cell (``{seed: value}`` per method), so comparisons are paired:

* :func:`paired_direction`: "A is lower than B" (paired t, ``scipy.stats.ttest_rel``): holds, fails (B
  significantly lower) or inconclusive.
* :func:`gain_equivalence`: is our gain ``B - A`` equivalent to the published gain within the claim's margin
  (two one-sided tests, :func:`augrepro.results.stats.decide`; the published gain's own noise enters as in a cell).
* :func:`best_of`: "A is the best of a set": A against every other member.
* :func:`ranking`: "the published order holds": every adjacent pair of the published order keeps its direction;
  Kendall's tau between the published and our order, with a bootstrap interval over seeds, is a summary.
* :func:`paired_equivalence`: "A gives the same result as B within a margin" (one method under a recipe and its
  variant, e.g. fp32 and bf16: the numerics study).
* :func:`combine`: a claim over several comparisons or cells.

Multiplicity (:func:`combine`): a claim *holds* when every one of its comparisons holds at level alpha. That is an
intersection-union test, whose level is alpha without adjustment (Berger 1982, "Multiparameter hypothesis testing
and acceptance sampling", Technometrics 24). A claim *fails* as soon as one comparison is significantly reversed,
so the reversals' p-values are Holm-adjusted across the comparisons (and across a claim's cells) before one decides.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from augrepro.results.stats import DEFAULT_ALPHA, PublishedSide, check_alpha, decide, holm, missing, signed

CLAIM_VERDICTS = ("holds", "fails", "inconclusive")
GAIN_VERDICTS = ("reproduced", "differs", "inconclusive")
DEFAULT_GAIN_MARGIN = 0.5  # relative: our gain between half and one and a half times the published gain
DEFAULT_GAIN_REASON = "our gain counts as the published one when it lies between half and one and a half times it"
DEFAULT_RESAMPLES = 2000


def _finite(values: Mapping[Hashable, float]) -> dict:
    return {k: float(v) for k, v in values.items() if not missing(v) and math.isfinite(float(v))}


def _sorted(keys) -> list:
    try:
        return sorted(keys)
    except TypeError:
        return list(keys)


@dataclass(frozen=True)
class PairedDirection:
    """ "A is lower than B" over the seeds both share; see :func:`paired_direction`."""

    verdict: str
    n_pairs: int
    n_dropped: int  # seeds present in only one of them, or NaN in either
    mean_diff: float  # mean of A_i - B_i (negative: A lower)
    sd_diff: float
    ci_low: float  # the 1 - 2 alpha paired t interval of mean_diff
    ci_high: float
    p_value: float  # one-sided, H1: mean(A - B) < 0 (the claim)
    p_reverse: float  # one-sided, H1: mean(A - B) > 0 (the reverse)
    reason: str


def paired_direction(
    a: Mapping[Hashable, float], b: Mapping[Hashable, float], alpha: float = DEFAULT_ALPHA
) -> PairedDirection:
    """ "A has a lower value than B", paired over the seeds both share (others dropped). The interval is the
    ``1 - 2 alpha`` paired t interval of the mean of ``A_i - B_i``, the p-values ``scipy.stats.ttest_rel``'s
    one-sided ones. ``holds`` when the interval lies entirely below 0, ``fails`` when entirely above 0,
    ``inconclusive`` otherwise and with fewer than 2 pairs. Equal differences make the interval that point."""
    check_alpha(alpha)
    fa, fb = _finite(a), _finite(b)
    shared = _sorted(k for k in fa if k in fb)
    dropped = len(set(a) | set(b)) - len(shared)
    x, y = np.array([fa[k] for k in shared]), np.array([fb[k] for k in shared])
    n, nan = len(shared), math.nan
    if n < 2:
        mean = float(np.mean(x - y)) if n else nan
        reason = f"{n} seed(s) shared by both methods; a paired comparison needs at least 2"
        return PairedDirection("inconclusive", n, dropped, mean, nan, nan, nan, nan, nan, reason)
    d = x - y
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    conf = 1.0 - 2.0 * alpha
    if np.ptp(d) <= 1e-9 * max(1.0, abs(mean)):  # no spread (to float rounding): the t statistic is infinite or 0/0
        lo = hi = mean
        p_less = 0.0 if mean < 0 else (1.0 if mean > 0 else 0.5)
        p_greater = 0.0 if mean > 0 else (1.0 if mean < 0 else 0.5)
    else:
        ci = stats.ttest_rel(x, y).confidence_interval(confidence_level=conf)
        lo, hi = float(ci.low), float(ci.high)
        p_less = float(stats.ttest_rel(x, y, alternative="less").pvalue)
        p_greater = float(stats.ttest_rel(x, y, alternative="greater").pvalue)
    verdict = "holds" if p_less < alpha else ("fails" if p_greater < alpha else "inconclusive")
    where = {"holds": "entirely below 0", "fails": "entirely above 0 (the reverse)", "inconclusive": "across 0"}
    reason = (
        f"{n} paired seeds ({dropped} dropped): mean A - B = {signed(mean)}, "
        f"{conf:.0%} interval [{signed(lo)}, {signed(hi)}] {where[verdict]}"
    )
    return PairedDirection(verdict, n, dropped, mean, sd, lo, hi, p_less, p_greater, reason)


@dataclass(frozen=True)
class GainEquivalence:
    """Our gain of A over B against the published gain; see :func:`gain_equivalence`."""

    verdict: str  # reproduced, differs or inconclusive
    ours: float  # mean of B_i - A_i (positive: A lower)
    published: float  # published B - A
    diff: float  # ours - published
    ci_low: float
    ci_high: float
    margin: float
    p_equivalence: float
    p_differs: float
    reason: str


def gain_equivalence(
    direction: PairedDirection,
    a: Mapping[Hashable, float],
    b: Mapping[Hashable, float],
    published_a: PublishedSide,
    published_b: PublishedSide,
    margin: float,
    alpha: float = DEFAULT_ALPHA,
) -> GainEquivalence:
    """Is our gain ``B - A`` (over the paired seeds of ``direction``) equivalent to the published gain within
    ``margin``? ``diff = our gain - published gain``; its variance is ``s_d^2 / n`` (paired) plus each published
    mean's: ``s_p^2 / n_p`` for a published sample, ``s_o^2 / n_p`` with ``s_o`` our std of that method for a
    published mean without a std, nothing for an exact one; then :func:`augrepro.results.stats.decide`."""
    nan = math.nan
    published = published_b.mean - published_a.mean
    ours = -direction.mean_diff
    if direction.n_pairs < 2 or not (margin > 0 and math.isfinite(margin)):
        why = "fewer than 2 paired seeds" if direction.n_pairs < 2 else "no margin: the published gain is 0"
        return GainEquivalence("inconclusive", ours, published, ours - published, nan, nan, margin, nan, nan, why)
    n = direction.n_pairs
    terms = [(direction.sd_diff**2 / n, n - 1.0)]
    for side, values in ((published_a, a), (published_b, b)):
        ours_values = list(_finite(values).values())
        if side.kind == "sample":
            terms.append((float(side.std) ** 2 / side.runs, side.runs - 1.0))
        elif side.kind == "draws" and len(ours_values) >= 2:
            terms.append((float(np.var(ours_values, ddof=1)) / side.runs, len(ours_values) - 1.0))
    d = decide(ours - published, terms, margin, alpha)
    verdict = d.outcome
    reason = (
        f"our gain {ours:+.3g} against the published {published:+.3g}: the {1 - 2 * alpha:.0%} interval of the "
        f"difference [{signed(d.ci_low)}, {signed(d.ci_high)}] "
        + {
            "reproduced": f"lies inside ±{margin:.3g}",
            "differs": f"lies outside ±{margin:.3g}",
            "inconclusive": f"overlaps ±{margin:.3g}",
        }[verdict]
    )
    return GainEquivalence(
        verdict, ours, published, d.diff, d.ci_low, d.ci_high, margin, d.p_equivalence, d.p_differs, reason
    )


@dataclass(frozen=True)
class PairedEquivalence:
    """ "A gives the same result as B within the margin", paired over seeds; see :func:`paired_equivalence`."""

    verdict: str  # holds (equivalent), fails (they differ by more than the margin) or inconclusive
    n_pairs: int
    n_dropped: int
    mean_diff: float  # mean of A_i - B_i
    ci_low: float
    ci_high: float
    p_equivalence: float  # TOST: below alpha, equivalent
    p_differs: float  # minimum effect: below alpha, they differ by more than the margin
    margin: float
    reason: str


def paired_equivalence(
    a: Mapping[Hashable, float], b: Mapping[Hashable, float], margin: float, alpha: float = DEFAULT_ALPHA
) -> PairedEquivalence:
    """ "A equals B within ±``margin``" on runs keyed by seed (the same seed trains both: one method under a recipe and
    its variant): two one-sided paired t tests on ``A_i - B_i`` (statsmodels' ``ttost_paired``), and the
    minimum-effect test for a difference beyond the margin (:func:`augrepro.results.stats.decide` on the paired
    differences' one variance term). ``holds`` when equivalent, ``fails`` when they differ, else inconclusive (and
    with fewer than 2 pairs)."""
    if missing(margin) or not margin > 0:
        raise ValueError(f"margin must be a number > 0, got {margin!r}")
    pairs = paired_direction(a, b, alpha)
    nan = math.nan
    if pairs.n_pairs < 2:
        reason = f"{pairs.n_pairs} seed(s) shared by both; a paired comparison needs at least 2"
        return PairedEquivalence("inconclusive", pairs.n_pairs, pairs.n_dropped, pairs.mean_diff, nan, nan, nan, nan, margin, reason)  # fmt: skip
    n = pairs.n_pairs
    d = decide(pairs.mean_diff, [(pairs.sd_diff**2 / n, n - 1.0)], margin, alpha)
    verdict = {"reproduced": "holds", "differs": "fails", "inconclusive": "inconclusive"}[d.outcome]
    where = {"holds": f"inside ±{margin:g}: equivalent", "fails": f"entirely outside ±{margin:g}: they differ",
             "inconclusive": f"across ±{margin:g}"}[verdict]  # fmt: skip
    reason = (
        f"{n} paired seeds ({pairs.n_dropped} dropped): mean A - B = {signed(pairs.mean_diff)}, "
        f"{1 - 2 * alpha:.0%} interval [{signed(d.ci_low)}, {signed(d.ci_high)}] {where}"
    )
    return PairedEquivalence(
        verdict, n, pairs.n_dropped, pairs.mean_diff, d.ci_low, d.ci_high, d.p_equivalence, d.p_differs, margin, reason
    )


@dataclass(frozen=True)
class Combined:
    """A verdict over several comparisons: see :func:`combine`."""

    verdict: str
    p_hold: float  # the intersection-union p-value: the largest p of the comparisons' claimed directions
    p_fail: float  # the smallest Holm-adjusted p of the reversals
    p_fail_adjusted: tuple[float, ...]  # per comparison
    reason: str


def combine(
    p_holds: Sequence[float],
    p_fails: Sequence[float],
    complete: bool = True,
    alpha: float = DEFAULT_ALPHA,
    what: str = "comparisons",
) -> Combined:
    """``holds`` when every comparison holds at ``alpha`` (an intersection-union test, level ``alpha``) and the set
    is ``complete``; ``fails`` when a reversal's Holm-adjusted p-value (over the comparisons) is below ``alpha``;
    ``inconclusive`` otherwise (also when no comparison could be tested)."""
    adjusted = holm(p_fails)
    tested = [p for p in p_holds if not math.isnan(p)]
    p_hold = max(tested) if tested and len(tested) == len(p_holds) else math.nan
    live = [p for p in adjusted if not math.isnan(p)]
    p_fail = min(live) if live else math.nan
    k = len(p_holds)
    if live and p_fail < alpha:
        reversed_ = sum(p < alpha for p in live)
        verdict = "fails"
        reason = f"{reversed_} of {k} {what} significantly reversed (Holm over the {len(live)} tested)"
    elif complete and not math.isnan(p_hold) and p_hold < alpha:
        verdict = "holds"
        reason = f"all {k} {what} hold at level {alpha:g} (intersection-union test)"
    else:
        verdict = "inconclusive"
        open_ = sum(math.isnan(p) or p >= alpha for p in p_holds)
        reason = f"{open_} of {k} {what} not shown" + ("" if complete else "; some were not run")
    return Combined(verdict, p_hold, p_fail, tuple(adjusted), reason)


@dataclass(frozen=True)
class SetClaim:
    """A claim tested by several paired comparisons in one cell (best of a set, a ranking)."""

    verdict: str
    comparisons: dict[tuple[str, str], PairedDirection]  # (A, B): "A lower than B"
    combined: Combined
    reason: str
    tau: float = math.nan  # ranking: Kendall's tau-b between published values and our means
    tau_low: float = math.nan  # its 1 - 2 alpha bootstrap interval over seeds
    tau_high: float = math.nan
    extra: dict = field(default_factory=dict)


def _tested(comparisons: dict[tuple[str, str], PairedDirection], alpha: float, what: str) -> Combined:
    return combine(
        [c.p_value for c in comparisons.values()], [c.p_reverse for c in comparisons.values()], True, alpha, what
    )


def best_of(best: str, runs: Mapping[str, Mapping[Hashable, float]], alpha: float = DEFAULT_ALPHA) -> SetClaim:
    """ "``best`` has the lowest value of the methods in ``runs``" ({method: {seed: value}}): ``best`` against each
    other member (:func:`paired_direction`), combined by :func:`combine`."""
    check_alpha(alpha)
    others = [m for m in runs if m != best]
    if best not in runs or not others:
        why = f"no runs of {best}" if best not in runs else "no other method to compare with"
        return SetClaim("inconclusive", {}, combine([], [], False, alpha), why)
    comparisons = {(best, m): paired_direction(runs[best], runs[m], alpha) for m in others}
    combined = _tested(comparisons, alpha, f"comparisons of {best} with another method")
    return SetClaim(combined.verdict, comparisons, combined, combined.reason)


def ordered_pairs(published: Mapping[str, float]) -> list[tuple[str, str]]:
    """The adjacent pairs of the published order (lower first): each method of one level against each of the next
    level up (tied published values form one level; a tie claims no order between its members)."""
    levels: list[list[str]] = []
    for m in sorted(published, key=lambda m: published[m]):
        if levels and published[levels[-1][0]] == published[m]:
            levels[-1].append(m)
        else:
            levels.append([m])
    return [(a, b) for low, high in zip(levels, levels[1:]) for a in low for b in high]


def _tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    t = float(stats.kendalltau(x, y).statistic)
    return 0.0 if math.isnan(t) else t  # a constant order (all tied) agrees with nothing


def kendall_summary(
    published: Mapping[str, float],
    ours: Mapping[str, Mapping[Hashable, float]],
    alpha: float = DEFAULT_ALPHA,
    n_resamples: int = DEFAULT_RESAMPLES,
    rng_seed: int = 0,
) -> tuple[float, float, float]:
    """Kendall's tau-b between the published values and our means over the seeds every method shares, and its
    ``1 - 2 alpha`` percentile bootstrap interval over seeds (``scipy.stats.bootstrap``, ``paired=True``; NaN with
    fewer than 2 methods or 2 shared seeds)."""
    methods = [m for m in published if m in ours]
    seed_sets = [set(_finite(ours[m])) for m in methods]
    seeds = _sorted(set.intersection(*seed_sets)) if seed_sets else []
    nan = math.nan
    if len(methods) < 2 or not seeds:
        return nan, nan, nan
    pub = np.array([float(published[m]) for m in methods])
    samples = tuple(np.array([float(ours[m][s]) for s in seeds]) for m in methods)
    tau = _tau(pub, [float(s.mean()) for s in samples])
    if len(seeds) < 2:
        return tau, nan, nan
    boot = stats.bootstrap(
        samples,
        lambda *xs: _tau(pub, [x.mean() for x in xs]),
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=1.0 - 2.0 * alpha,
        method="percentile",
        rng=np.random.default_rng(rng_seed),
    )
    return tau, float(boot.confidence_interval.low), float(boot.confidence_interval.high)


def ranking(
    published: Mapping[str, float], ours: Mapping[str, Mapping[Hashable, float]], alpha: float = DEFAULT_ALPHA
) -> SetClaim:
    """ "The published order holds": every adjacent pair of the published order (:func:`ordered_pairs`, over the
    methods with a published value and runs of ours) keeps its direction in a paired test; combined by
    :func:`combine` (a significantly reversed pair makes it fail). Kendall's tau and its bootstrap interval are
    a summary only."""
    check_alpha(alpha)
    values = {m: float(v) for m, v in published.items() if not missing(v) and m in ours and _finite(ours[m])}
    pairs = ordered_pairs(values)
    if not pairs:
        why = "fewer than 2 methods with a published value and runs" if len(values) < 2 else "the published values tie"
        return SetClaim("inconclusive", {}, combine([], [], False, alpha), why)
    comparisons = {(a, b): paired_direction(ours[a], ours[b], alpha) for a, b in pairs}
    combined = _tested(comparisons, alpha, "adjacent pairs of the published order")
    tau, low, high = kendall_summary(values, ours, alpha)
    return SetClaim(combined.verdict, comparisons, combined, combined.reason, tau, low, high)
