"""How many seeds a verdict needs: power, not hope.

Two questions, two calculations (both for the test of :func:`augrepro.results.stats.cell_equivalence`):

* **Before any run** (the plan): how many seeds give the equivalence test (TOST) 80 % power when our runs
  reproduce the published number exactly (true difference 0) with the published run-to-run spread? Computed with
  the noncentral t (:func:`tost_power`: ``P(T_U < -t) - P(T_L < t)``, the two one-sided statistics being
  noncentral t variables; this is a lower bound of the exact TOST power, so the seed count it gives is enough).
* **After some runs** (an undecided cell): how many seeds in all would decide it with 80 % probability, if our
  true mean and spread are the ones observed (conditional power, Jennison & Turnbull, *Group Sequential Methods*,
  ch. 10)? Computed by simulation (:func:`seeds_to_decide`): the seeds we have are kept, the new ones drawn from a
  normal with our mean and std, their mean and sum of squares drawn exactly (normal and chi-square), and the
  cell re-decided; a fixed random seed makes the answer repeatable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from augrepro.results.stats import DEFAULT_ALPHA, PublishedSide, decide_many, welch_df

TARGET_POWER = 0.8
MAX_SEEDS = 100  # the largest number of seeds any calculation here considers
RESAMPLES = 4000
RNG_SEED = 20_210_504


def _design_terms(n: int, sigma: float, published: PublishedSide) -> tuple[float, float]:
    """(true standard deviation of the difference, its Welch degrees of freedom) at ``n`` seeds of ours whose
    run-to-run std is ``sigma``, against the published side as designed."""
    var_ours = sigma**2 / n
    kind = published.kind
    if kind == "sample":
        var_pub = float(published.std) ** 2 / published.runs
        terms = [(var_ours, n - 1.0), (var_pub, published.runs - 1.0)]
        return math.sqrt(var_ours + var_pub), welch_df(terms)
    if kind == "draws":
        return sigma * math.sqrt(1.0 / n + 1.0 / published.runs), n - 1.0
    return math.sqrt(var_ours), n - 1.0


def tost_power(
    n: int,
    sigma: float,
    delta: float,
    published: PublishedSide,
    alpha: float = DEFAULT_ALPHA,
    true_diff: float = 0.0,
) -> float:
    """The power of the cell's equivalence test with ``n`` seeds of run-to-run std ``sigma`` when the true
    difference is ``true_diff``: ``P(T_U < -t_crit) - P(T_L < t_crit)`` with ``T_L = (D + delta) / SE`` and
    ``T_U = (D - delta) / SE`` noncentral t with the design's degrees of freedom (``scipy.stats.nct``); never above
    the exact power, floored at 0."""
    return float(tost_powers((n,), sigma, delta, published, alpha, true_diff)[0])


def tost_powers(
    ns: Sequence[int],
    sigma: float,
    delta: float,
    published: PublishedSide,
    alpha: float = DEFAULT_ALPHA,
    true_diff: float = 0.0,
) -> np.ndarray:
    """:func:`tost_power` at each seed count of ``ns``, in one vectorized call of scipy's distributions (the plan
    asks for every count from 2 up for every published cell)."""
    out = np.zeros(len(ns))
    live = [i for i, n in enumerate(ns) if n >= 2]
    if not live:
        return out
    terms = [_design_terms(ns[i], sigma, published) for i in live]
    sd = np.array([t[0] for t in terms])
    df = np.array([t[1] for t in terms])
    exact = sd == 0
    if exact.any():
        out[[i for i, e in zip(live, exact) if e]] = 1.0 if abs(true_diff) < delta else 0.0
    rest = [i for i, e in zip(live, exact) if not e]
    if rest:
        sd, df = sd[~exact], df[~exact]
        t_crit = stats.t.ppf(1.0 - alpha, df)
        upper = stats.nct.cdf(-t_crit, df, (true_diff - delta) / sd)
        lower = stats.nct.cdf(t_crit, df, (true_diff + delta) / sd)
        out[rest] = np.maximum(0.0, upper - lower)
    return out


def seeds_for_power(
    sigma: float,
    delta: float,
    published: PublishedSide,
    alpha: float = DEFAULT_ALPHA,
    target: float = TARGET_POWER,
    max_seeds: int = MAX_SEEDS,
) -> int | None:
    """The smallest number of seeds (2 .. ``max_seeds``) at which :func:`tost_power` reaches ``target``; None
    when none does (the published side's own uncertainty alone can keep the interval wider than the margin).
    The power depends on the published side's kind, std and run count, not on its mean: cells that share those
    share one calculation."""
    if not (sigma > 0 and math.isfinite(sigma)):
        return None
    std = float(published.std) if published.kind == "sample" else None  # NaN would never hit the cache
    return _seeds_for_power(sigma, delta, published.kind, std, published.runs, alpha, target, max_seeds)


@functools.lru_cache(maxsize=4096)
def _seeds_for_power(
    sigma: float, delta: float, kind: str, std: float | None, runs: int, alpha: float, target: float, max_seeds: int
) -> int | None:
    published = _design_side(kind, std, runs)
    for first in range(2, max_seeds + 1, _SEARCH_STEP):  # the first counts first: most cells need few seeds
        ns = range(first, min(first + _SEARCH_STEP, max_seeds + 1))
        reached = np.flatnonzero(tost_powers(ns, sigma, delta, published, alpha) >= target)
        if reached.size:
            return ns[int(reached[0])]
    return None


_SEARCH_STEP = 16


def _design_side(kind: str, std: float | None, runs: int) -> PublishedSide:
    """A published side of ``kind`` with ``std`` (None: not printed) and ``runs`` (its mean plays no part in the
    power)."""
    return PublishedSide(0.0, std=math.nan if std is None else std, runs=runs, exact=kind == "exact")


@dataclass(frozen=True)
class MoreSeeds:
    """How many seeds in all would decide an undecided cell with the target probability (None: none up to the
    limit), and what that assumes."""

    seeds: int | None
    power: float  # the probability of a decision at ``seeds`` (or at the limit)
    level_equivalence: float
    level_differs: float
    text: str


def decided_fraction(
    n_total: int,
    ours_mean: float,
    ours_std: float,
    ours_n: int,
    published: PublishedSide,
    delta: float,
    level_equivalence: float,
    level_differs: float,
    resamples: int = RESAMPLES,
    rng: np.random.Generator | None = None,
) -> float:
    """The probability that the cell is decided at ``n_total`` seeds when ``n_total - ours_n`` more seeds are drawn
    from a normal with our observed mean and std (the seeds we have are kept)."""
    rng = rng or np.random.default_rng(RNG_SEED)
    m = n_total - ours_n
    s2 = float(ours_std) ** 2
    if m <= 0:
        means = np.full(resamples, float(ours_mean))
        var_n = np.full(resamples, s2)
    else:
        new_mean = ours_mean + math.sqrt(s2 / m) * rng.standard_normal(resamples)
        new_ss = s2 * rng.chisquare(m - 1, resamples) if m > 1 else np.zeros(resamples)
        means = (ours_n * ours_mean + m * new_mean) / n_total
        old_ss = (ours_n - 1) * s2 if ours_n > 1 else 0.0
        ss = old_ss + new_ss + ours_n * m / n_total * (ours_mean - new_mean) ** 2
        var_n = ss / (n_total - 1)
    kind = published.kind
    if kind == "sample":
        var_pub = float(published.std) ** 2 / published.runs
        var_ours = var_n / n_total
        se = np.sqrt(var_ours + var_pub)
        df_pub = published.runs - 1.0
        if var_pub > 0 and min(df_pub, n_total - 1.0) <= 1:  # Hsu's rule, as augrepro.results.stats.welch_df
            df = np.full(resamples, min(df_pub, n_total - 1.0))
        else:
            denom = var_ours**2 / (n_total - 1.0) + var_pub**2 / df_pub
            df = np.where(denom > 0, (var_ours + var_pub) ** 2 / np.where(denom > 0, denom, 1.0), np.inf)
    elif kind == "draws":
        se = np.sqrt(var_n * (1.0 / n_total + 1.0 / published.runs))
        df = np.full(resamples, n_total - 1.0)
    else:
        se = np.sqrt(var_n / n_total)
        df = np.full(resamples, n_total - 1.0)
    outcome = decide_many(means - published.mean, se, df, delta, level_equivalence, level_differs)
    return float(np.mean(outcome != 0))


def seeds_to_decide(
    ours_mean: float,
    ours_std: float,
    ours_n: int,
    published: PublishedSide,
    delta: float,
    level_equivalence: float = DEFAULT_ALPHA,
    level_differs: float = DEFAULT_ALPHA,
    target: float = TARGET_POWER,
    max_seeds: int = MAX_SEEDS,
) -> MoreSeeds:
    """The smallest total number of seeds (above ``ours_n``, up to ``max_seeds``) at which the cell is decided
    with probability ``target`` (:func:`decided_fraction`), found by doubling then bisection (the probability grows
    with the seeds); each evaluation uses the same random seed, so the answer is repeatable."""
    if not (math.isfinite(ours_std) and ours_std > 0):
        return MoreSeeds(None, math.nan, level_equivalence, level_differs, "no run-to-run spread is known")

    def power(n: int) -> float:
        rng = np.random.default_rng(RNG_SEED)
        return decided_fraction(
            n, ours_mean, ours_std, ours_n, published, delta, level_equivalence, level_differs, rng=rng
        )

    assumption = f"{target:.0%} power if our true mean and spread are the observed ones" + (
        f", at the levels the table's adjustment leaves this cell ({level_equivalence:.3g} / {level_differs:.3g})"
        if (level_equivalence, level_differs) != (DEFAULT_ALPHA, DEFAULT_ALPHA)
        else ""
    )
    low, high = ours_n, max(ours_n + 1, 2)
    while high <= max_seeds and power(high) < target:
        low, high = high, high * 2
    if high > max_seeds:
        if power(max_seeds) < target:
            return MoreSeeds(
                None,
                power(max_seeds),
                level_equivalence,
                level_differs,
                f"no number of seeds up to {max_seeds} decides it with {assumption}",
            )
        high = max_seeds
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if power(mid) < target else (low, mid)
    return MoreSeeds(
        high,
        power(high),
        level_equivalence,
        level_differs,
        f"{high - ours_n} more seed{'s' if high - ours_n != 1 else ''} ({high} in all) would decide it with "
        + assumption,
    )
