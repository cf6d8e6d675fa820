"""augrepro.results.claim_tests: the papers' claims tested as the papers state them."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from augrepro.results.claim_tests import (
    best_of,
    combine,
    gain_equivalence,
    kendall_summary,
    ordered_pairs,
    paired_direction,
    paired_equivalence,
    ranking,
)
from augrepro.results.stats import PublishedSide

A = {0: 20.1, 1: 20.4, 2: 19.9, 3: 20.2, 4: 20.0}
B = {0: 21.0, 1: 21.1, 2: 20.9, 3: 21.3, 4: 20.8}


def test_paired_direction_agrees_with_statsmodels():
    res = paired_direction(A, B)
    assert res.verdict == "holds" and res.n_pairs == 5 and res.n_dropped == 0
    d = np.array([A[k] - B[k] for k in A])
    assert res.mean_diff == pytest.approx(d.mean()) and res.sd_diff == pytest.approx(d.std(ddof=1))
    assert (res.ci_low, res.ci_high) == pytest.approx(DescrStatsW(d).tconfint_mean(alpha=0.10))
    assert res.p_value == pytest.approx(DescrStatsW(d).ttest_mean(0, alternative="smaller")[1])
    rev = paired_direction(B, A)
    assert rev.verdict == "fails" and rev.ci_low > 0


def test_paired_direction_drops_unpaired_seeds_and_needs_two_pairs():
    noisy = {0: 20.0, 1: 21.0, 2: 19.5, 3: 21.5}
    assert paired_direction(noisy, {k: 20.5 for k in noisy}).verdict == "inconclusive"
    a = {**A, 7: 19.0}
    b = {k: v for k, v in B.items() if k != 2} | {9: 25.0, 4: float("nan")}
    res = paired_direction(a, b)
    assert res.n_pairs == 3 and res.n_dropped == 4 and "3 paired seeds" in res.reason
    one = paired_direction({0: 1.0, 1: 2.0}, {1: 3.0})
    assert one.verdict == "inconclusive" and "at least 2" in one.reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = paired_direction({0: 1.0, 1: 2.0, 2: 3.0}, {0: 2.0, 1: 3.0, 2: 4.0})
        assert flat.verdict == "holds" and flat.ci_low == flat.ci_high == -1.0


def _pair(gain: float, noise: float, n: int = 8, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    b = {s: 20.0 + rng.normal(0, 0.3) for s in range(n)}
    a = {s: b[s] - gain + rng.normal(0, noise) for s in range(n)}
    return a, b


def test_a_gain_half_the_published_one_holds_in_direction_but_is_not_reproduced():
    published_gain = 1.0
    a, b = _pair(gain=0.5, noise=0.05, n=10)
    direction = paired_direction(a, b)
    sides = PublishedSide(19.0, 0.05, 5), PublishedSide(20.0, 0.05, 5)  # published A 19.0, B 20.0: gain 1.0
    gain = gain_equivalence(direction, a, b, *sides, margin=0.5 * published_gain)
    assert direction.verdict == "holds"
    # Half the published gain sits on the margin's bound: not reproduced (its interval straddles the bound).
    assert gain.verdict != "reproduced" and gain.ours == pytest.approx(0.5, abs=0.05) and gain.published == 1.0
    assert gain.ci_low < -0.5 < gain.ci_high and "against the published +1" in gain.reason
    # A fifth of it: the gain differs, while the direction still holds.
    a, b = _pair(gain=0.2, noise=0.05, n=10)
    fifth = gain_equivalence(paired_direction(a, b), a, b, *sides, margin=0.5)
    assert paired_direction(a, b).verdict == "holds" and fifth.verdict == "differs"
    # The same gain as published: reproduced.
    a, b = _pair(gain=1.0, noise=0.05, n=10)
    same = gain_equivalence(paired_direction(a, b), a, b, *sides, margin=0.5)
    assert same.verdict == "reproduced"


def test_the_gain_test_counts_the_published_gains_own_noise():
    a, b = _pair(gain=1.0, noise=0.05, n=10)
    direction = paired_direction(a, b)
    tight = gain_equivalence(direction, a, b, PublishedSide(19.0, 0.05, 5), PublishedSide(20.0, 0.05, 5), 0.5)
    noisy = gain_equivalence(direction, a, b, PublishedSide(19.0, 0.6, 5), PublishedSide(20.0, 0.6, 5), 0.5)
    single = gain_equivalence(direction, a, b, PublishedSide(19.0), PublishedSide(20.0), 0.5)
    widths = [g.ci_high - g.ci_low for g in (tight, noisy, single)]
    assert widths[0] < widths[1] and widths[0] < widths[2]
    # With single published runs, each published mean's variance is our std of that method (unpaired) over 1 run.
    s_a, s_b = np.std(list(a.values()), ddof=1), np.std(list(b.values()), ddof=1)
    var = direction.sd_diff**2 / 10 + s_a**2 + s_b**2
    assert (single.ci_high - single.ci_low) / 2 == pytest.approx(
        sps.t.ppf(0.95, (var**2) / ((direction.sd_diff**2 / 10) ** 2 / 9 + s_a**4 / 9 + s_b**4 / 9)) * math.sqrt(var)
    )


def _runs(means: dict[str, float], noise: float, n_seeds: int = 6, seed: int = 0) -> dict[str, dict[int, float]]:
    """Per-seed values with a shared seed effect (the same seed trains every method), plus independent noise."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.5, n_seeds)
    return {m: {s: mu + shared[s] + noise * rng.standard_normal() for s in range(n_seeds)} for m, mu in means.items()}


PUBLISHED = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}


def test_ordered_pairs_are_the_adjacent_levels_of_the_published_order():
    assert ordered_pairs(PUBLISHED) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert ordered_pairs({"a": 1.0, "b": 2.0, "c": 2.0, "d": 3.0}) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def test_a_ranking_with_all_pairs_kept_holds():
    res = ranking(PUBLISHED, _runs({"a": 10.0, "b": 11.0, "c": 12.0, "d": 13.0}, 0.05))
    assert res.verdict == "holds" and set(res.comparisons) == {("a", "b"), ("b", "c"), ("c", "d")}
    assert res.tau == pytest.approx(1.0) and "intersection-union" in res.reason


def test_a_ranking_with_two_adjacent_pairs_significantly_reversed_fails():
    res = ranking(PUBLISHED, _runs({"a": 11.0, "b": 10.0, "c": 13.0, "d": 12.0}, 0.05))
    assert res.verdict == "fails" and "2 of 3" in res.reason
    assert res.comparisons[("a", "b")].verdict == "fails" and res.comparisons[("c", "d")].verdict == "fails"
    assert res.tau > 0  # Kendall's tau alone would have called it a positive agreement


def test_one_swapped_pair_does_not_hold():
    """The rule this replaces said "holds" whenever tau > 0; a swapped pair is a broken claim."""
    res = ranking(PUBLISHED, _runs({"a": 10.0, "b": 12.0, "c": 11.0, "d": 13.0}, 0.05))
    assert res.verdict == "fails" and res.tau == pytest.approx(2 / 3)
    noisy = ranking(PUBLISHED, _runs({"a": 10.0, "b": 10.05, "c": 12.0, "d": 13.0}, 0.4))
    assert noisy.verdict == "inconclusive"


def test_kendall_summary_and_its_bootstrap():
    published = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0}
    runs = _runs({"a": 10.0, "b": 10.3, "c": 10.6, "d": 10.9, "e": 11.2}, 0.4, seed=1)
    tau, low, high = kendall_summary(published, runs, rng_seed=7)
    assert low <= tau <= high and low < high
    assert kendall_summary(published, runs, rng_seed=7) == (tau, low, high)
    means = [np.mean(list(runs[m].values())) for m in published]
    assert tau == pytest.approx(sps.kendalltau(list(published.values()), means).statistic)
    assert math.isnan(kendall_summary({"a": 1.0}, runs)[0])


def test_best_of():
    c = {k: v + 0.6 for k, v in A.items()}
    assert best_of("A", {"A": A, "B": B, "C": c}).verdict == "holds"
    res = best_of("B", {"A": A, "B": B, "C": c})
    assert res.verdict == "fails"
    noisy = {0: 20.0, 1: 21.0, 2: 19.5, 3: 21.5}
    assert best_of("A", {"A": A, "B": B, "N": noisy}).verdict == "inconclusive"
    assert best_of("Z", {"A": A}).verdict == "inconclusive"


def test_combine_holds_by_intersection_union_and_fails_after_holm():
    # Every comparison at p < alpha: holds, without adjustment.
    assert combine([0.04, 0.01, 0.03], [0.9, 0.9, 0.9]).verdict == "holds"
    # One missing comparison (NaN) or an incomplete set: not holds.
    assert combine([0.04, float("nan")], [0.9, float("nan")]).verdict == "inconclusive"
    assert combine([0.01], [0.9], complete=False).verdict == "inconclusive"
    # A reversal at p = 0.03 among 3 comparisons: Holm makes it 0.09, not a failure; at 0.01 it fails.
    assert combine([0.5, 0.5, 0.5], [0.03, 0.6, 0.7]).verdict == "inconclusive"
    res = combine([0.5, 0.5, 0.5], [0.01, 0.6, 0.7])
    assert res.verdict == "fails" and res.p_fail == pytest.approx(0.03)


@pytest.mark.parametrize("shift, sd, margin", [(0.0, 0.1, 0.3), (0.05, 0.2, 0.3), (0.6, 0.1, 0.3), (0.2, 0.5, 0.5)])
def test_paired_equivalence_agrees_with_statsmodels(shift, sd, margin):
    """TOST on paired seeds: its p-value is statsmodels' ttost_paired, its interval scipy's paired t interval, and the
    verdict follows the interval: inside +-margin holds, entirely outside fails, else inconclusive."""
    rng = np.random.default_rng(int(shift * 100 + sd * 10))
    b = rng.normal(20.0, 0.3, 6)
    a = b + shift + rng.normal(0, sd, 6)
    res = paired_equivalence(dict(enumerate(a)), dict(enumerate(b)), margin)
    p, _, _ = ttost_paired(a, b, -margin, margin)
    assert res.p_equivalence == pytest.approx(p, rel=1e-9)
    ci = sps.ttest_rel(a, b).confidence_interval(0.9)
    assert (res.ci_low, res.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    inside, outside = -margin < ci.low and ci.high < margin, ci.low > margin or ci.high < -margin
    assert res.verdict == ("holds" if inside else "fails" if outside else "inconclusive")


def test_paired_equivalence_decides_clear_cases_and_needs_two_seeds():
    same = {s: 4.0 + 0.01 * s for s in range(5)}
    close = {s: v + 0.02 * (-1) ** s for s, v in same.items()}
    assert paired_equivalence(close, same, 0.3).verdict == "holds"
    assert paired_equivalence({s: v + 1.0 for s, v in close.items()}, same, 0.3).verdict == "fails"
    assert paired_equivalence({s: v + 0.1 for s, v in same.items()}, same, 0.3).verdict == "holds"  # no spread
    one = paired_equivalence({0: 4.0, 1: 4.1}, {0: 4.0, 7: 3.0}, 0.3)
    assert one.verdict == "inconclusive" and one.n_pairs == 1 and one.n_dropped == 2
    with pytest.raises(ValueError, match="margin must be a number > 0"):
        paired_equivalence(same, same, 0.0)
