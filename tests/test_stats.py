"""Behaviour of augrepro.results.stats, cross-checked against statsmodels and scipy on raw samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind, ttost_paired

from augrepro.results.stats import (
    NO_SPREAD_REASON,
    adjust_cells,
    benjamini_hochberg,
    best_of_claim,
    cell_equivalence,
    count_outcomes,
    default_margin,
    improvement_claim,
    paired_equivalence,
    ranking_claim,
)


def summary(x: np.ndarray) -> tuple[float, float, int]:
    return float(np.mean(x)), float(np.std(x, ddof=1)), len(x)


# (our n, published n, our mean, published mean, our sd, published sd, delta)
RAW_CASES = [
    (5, 5, 20.0, 20.1, 0.3, 0.4, 0.5),
    (3, 5, 20.0, 21.0, 0.2, 0.5, 0.3),
    (8, 4, 30.5, 30.0, 1.0, 0.2, 0.8),
    (4, 10, 15.0, 14.2, 0.5, 0.5, 0.3),
    (2, 3, 5.0, 5.05, 0.1, 0.3, 0.5),
]


@pytest.mark.parametrize("case", RAW_CASES)
def test_equivalence_agrees_with_statsmodels_and_scipy(case):
    n_o, n_p, mu_o, mu_p, sd_o, sd_p, delta = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.normal(mu_o, sd_o, n_o)
    y = rng.normal(mu_p, sd_p, n_p)
    res = cell_equivalence(*summary(x), *summary(y), delta=delta)

    p, (t1, p1, df1), (t2, p2, df2) = ttost_ind(x, y, -delta, delta, usevar="unequal")
    assert res.p_equivalence == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert res.p_lower == pytest.approx(p1, rel=1e-9, abs=1e-12)
    assert res.p_upper == pytest.approx(p2, rel=1e-9, abs=1e-12)
    assert res.df == pytest.approx(df1, rel=1e-9)
    assert res.se == pytest.approx((np.mean(x) - np.mean(y) + delta) / t1, rel=1e-9)

    welch = sps.ttest_ind(x, y, equal_var=False)
    ci = welch.confidence_interval(confidence_level=0.90)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert res.confidence == pytest.approx(0.90)
    lo, hi = CompareMeans.from_data(x, y).tconfint_diff(alpha=0.10, usevar="unequal")
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), rel=1e-9)

    # Minimum-effect tests: shift the published sample by the margin.
    p_worse = sps.ttest_ind(x, y + delta, equal_var=False, alternative="greater").pvalue
    p_better = sps.ttest_ind(x, y - delta, equal_var=False, alternative="less").pvalue
    assert res.p_worse == pytest.approx(p_worse, rel=1e-9, abs=1e-12)
    assert res.p_better == pytest.approx(p_better, rel=1e-9, abs=1e-12)
    assert res.p_differs == pytest.approx(min(p_worse, p_better), rel=1e-9, abs=1e-12)

    # The p-value rule and the interval rule agree.
    assert (res.outcome == "reproduced") == (-delta < res.ci_low and res.ci_high < delta)
    differs = res.ci_low > delta or res.ci_high < -delta
    assert (res.outcome == "differs") == differs
    assert res.published_as_constant is False


def test_published_constant_agrees_with_one_sample_tost():
    rng = np.random.default_rng(3)
    x = rng.normal(20.0, 0.3, 6)
    res = cell_equivalence(*summary(x), 20.1, None, None, delta=0.5)
    assert res.published_as_constant
    assert "constant" in res.reason
    assert res.df == pytest.approx(5)
    p, (_, p1, _), (_, p2, _) = ttost_paired(x, np.full_like(x, 20.1), -0.5, 0.5)
    assert res.p_equivalence == pytest.approx(p, rel=1e-9)
    assert (res.p_lower, res.p_upper) == pytest.approx((p1, p2), rel=1e-9)
    lo, hi = DescrStatsW(x - 20.1).tconfint_mean(alpha=0.10)
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    # A std without a run count is a constant too; so is a "std" of a single run.
    assert cell_equivalence(*summary(x), 20.1, 0.4, None, delta=0.5).published_as_constant
    assert cell_equivalence(*summary(x), 20.1, 0.4, 1, delta=0.5).published_as_constant
    assert cell_equivalence(*summary(x), 20.1, float("nan"), 5, delta=0.5).published_as_constant
    assert cell_equivalence(*summary(x), 20.1, None, None, delta=0.5).p_equivalence == res.p_equivalence


def test_tight_and_equal_is_reproduced():
    res = cell_equivalence(20.02, 0.05, 5, 20.0, 0.05, 5, delta=0.3)
    assert res.outcome == "reproduced" and res.direction is None
    assert res.p_equivalence < 0.05 and res.p_differs > 0.5
    assert res.seeds_to_decide == 5


def test_tight_and_far_differs_with_direction():
    worse = cell_equivalence(21.5, 0.1, 5, 20.0, 0.1, 5, delta=0.3)
    assert (worse.outcome, worse.direction) == ("differs", "worse")
    assert worse.ci_low > 0.3 and worse.p_differs < 0.05 and worse.p_equivalence > 0.5
    better = cell_equivalence(18.5, 0.1, 5, 20.0, None, None, delta=0.3)
    assert (better.outcome, better.direction) == ("differs", "better")
    assert better.ci_high < -0.3


def test_wide_is_inconclusive():
    res = cell_equivalence(20.3, 1.0, 3, 20.0, 1.0, 5, delta=0.5)
    assert res.outcome == "inconclusive" and res.direction is None
    assert res.seeds_to_decide is None or res.seeds_to_decide > 3


def test_one_seed_with_published_spread():
    res = cell_equivalence(20.1, None, 1, 20.0, 0.3, 5, delta=0.5)
    assert res.spread_from_published and "stands in" in res.reason
    assert res.df == pytest.approx(4)
    assert res.se == pytest.approx(0.3 * math.sqrt(1 + 1 / 5))
    assert res.outcome == "inconclusive"
    assert res.seeds_to_decide is not None and res.seeds_to_decide >= 2
    # Same as the classical test of one new run against the published sample (prediction interval).
    t_crit = sps.t.ppf(0.95, 4)
    assert res.ci_high == pytest.approx(0.1 + t_crit * 0.3 * math.sqrt(1.2))


def test_one_seed_without_spread():
    res = cell_equivalence(20.1, None, 1, 20.0, None, None, delta=0.5)
    assert res.outcome == "inconclusive"
    assert res.reason == NO_SPREAD_REASON
    assert res.seeds_to_decide is None
    assert math.isnan(res.p_equivalence) and math.isnan(res.p_differs)
    # A published std without a run count: no test, but a seed estimate at that spread.
    res = cell_equivalence(20.1, None, 1, 20.0, 0.3, None, delta=0.5)
    assert res.outcome == "inconclusive" and "run count" in res.reason
    assert res.seeds_to_decide is not None


SEED_CASES = [
    # (ours mean, ours std, ours n, published mean, std, n, delta)
    (20.1, 0.4, 3, 20.0, 0.3, 5, 0.5),
    (20.4, 0.6, 2, 20.0, None, None, 0.3),
    (21.0, 0.8, 3, 20.0, 0.3, 5, 0.5),
    (19.4, 0.5, 2, 20.0, 0.2, 10, 0.3),
    (20.1, None, 1, 20.0, 0.3, 5, 0.5),
    (20.1, None, 1, 20.0, 0.3, None, 0.5),
    (20.0, 0.2, 3, 20.0, None, None, 0.3),  # one more seed decides it
    (20.0, 0.15, 2, 20.0, None, None, 0.3),
]


@pytest.mark.parametrize("case", SEED_CASES)
def test_seeds_to_decide_is_the_first_deciding_n(case):
    m_o, s_o, n_o, m_p, s_p, n_p, delta = case
    res = cell_equivalence(m_o, s_o, n_o, m_p, s_p, n_p, delta=delta)
    assert res.outcome == "inconclusive"
    n = res.seeds_to_decide
    assert n is not None and n > n_o
    spread = s_o if s_o is not None else s_p
    at_n = cell_equivalence(m_o, spread, n, m_p, s_p, n_p, delta=delta)
    assert at_n.outcome in ("reproduced", "differs")
    if n - 1 >= 2:
        before = cell_equivalence(m_o, spread, n - 1, m_p, s_p, n_p, delta=delta)
        assert before.outcome == "inconclusive"


def test_seeds_to_decide_none_when_undecidable():
    # |diff| == delta: never decided.
    assert cell_equivalence(20.5, 0.3, 3, 20.0, None, None, delta=0.5).seeds_to_decide is None
    # The published term alone keeps the interval wider than the room left inside the margin.
    res = cell_equivalence(20.35, 0.3, 3, 20.0, 1.0, 3, delta=0.5)
    assert res.outcome == "inconclusive" and res.seeds_to_decide is None
    assert cell_equivalence(20.35, 0.3, 200, 20.0, 1.0, 3, delta=0.5).outcome == "inconclusive"


def test_invalid_inputs():
    with pytest.raises(ValueError):
        cell_equivalence(20.0, 0.3, 3, 20.0, None, None, delta=0.0)
    with pytest.raises(ValueError):
        cell_equivalence(20.0, None, 3, 20.0, None, None, delta=0.5)
    with pytest.raises(ValueError):
        cell_equivalence(20.0, 0.3, 0, 20.0, None, None, delta=0.5)
    with pytest.raises(ValueError):
        cell_equivalence(20.0, 0.3, 3, 20.0, None, None, delta=0.5, alpha=0.5)


def test_zero_spread_is_a_point():
    res = cell_equivalence(20.1, 0.0, 3, 20.0, None, None, delta=0.3)
    assert res.outcome == "reproduced" and res.ci_low == res.ci_high == pytest.approx(0.1)
    res = cell_equivalence(20.5, 0.0, 3, 20.0, None, None, delta=0.3)
    assert (res.outcome, res.direction) == ("differs", "worse")


# ---------------------------------------------------------------------------------------------------
# Benjamini-Hochberg
# ---------------------------------------------------------------------------------------------------


def test_benjamini_hochberg_hand_computed():
    # Sorted 0.01, 0.03, 0.04, 0.2 -> x m/i: 0.04, 0.06, 0.0533, 0.2 -> running min from the top.
    adj = benjamini_hochberg([0.01, 0.04, 0.03, 0.2])
    assert adj == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert benjamini_hochberg([]) == []
    adj = benjamini_hochberg([0.01, float("nan"), 0.04, 0.03, 0.2])
    assert math.isnan(adj[1])
    assert [adj[i] for i in (0, 2, 3, 4)] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])


def test_adjust_cells_demotes_marginal_cells():
    strong = cell_equivalence(20.0, 0.05, 5, 20.0, None, None, delta=0.3)  # p_eq tiny
    far = cell_equivalence(22.0, 0.1, 5, 20.0, None, None, delta=0.3)  # differs, worse
    # A cell just reproduced on its own (p_eq slightly below 0.05).
    marginal = next(
        c
        for c in (cell_equivalence(20.0, s, 5, 20.0, None, None, delta=0.3) for s in np.linspace(0.2, 0.5, 301))
        if 0.03 < c.p_equivalence < 0.05
    )
    assert marginal.outcome == "reproduced"
    no_test = cell_equivalence(20.0, None, 1, 20.0, None, None, delta=0.3)
    wide = cell_equivalence(20.0, 2.0, 3, 20.0, None, None, delta=0.3)
    cells = [strong, far, marginal, no_test, wide]
    adjusted = adjust_cells(cells)
    assert [a.outcome for a in adjusted] == ["reproduced", "differs", "inconclusive", "inconclusive", "inconclusive"]
    assert adjusted[1].direction == "worse"
    assert adjusted[2].p_equivalence_adjusted > adjusted[2].cell.p_equivalence
    expected = benjamini_hochberg([c.p_equivalence for c in cells])
    assert [a.p_equivalence_adjusted for a in adjusted] == pytest.approx(expected, nan_ok=True)
    assert math.isnan(adjusted[3].p_equivalence_adjusted)
    assert count_outcomes(adjusted) == {"reproduced": 1, "better": 0, "worse": 1, "inconclusive": 3}
    assert count_outcomes(cells) == {"reproduced": 2, "better": 0, "worse": 1, "inconclusive": 2}


# ---------------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------------

A = {0: 20.1, 1: 20.4, 2: 19.9, 3: 20.2, 4: 20.0}
B = {0: 21.0, 1: 21.1, 2: 20.9, 3: 21.3, 4: 20.8}


def test_improvement_claim_holds_and_fails():
    res = improvement_claim(A, B, published_margin=1.0)
    assert res.verdict == "holds" and res.n_pairs == 5 and res.n_dropped == 0
    d = np.array([A[k] - B[k] for k in A])
    assert res.mean_diff == pytest.approx(d.mean())
    lo, hi = DescrStatsW(d).tconfint_mean(alpha=0.10)
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi))
    assert res.p_value == pytest.approx(DescrStatsW(d).ttest_mean(0, alternative="smaller")[1])
    assert res.ci_high < 0 and res.margin_inside is True
    assert improvement_claim(A, B, published_margin=3.0).margin_inside is False

    rev = improvement_claim(B, A)
    assert rev.verdict == "fails" and rev.ci_low > 0 and rev.margin_inside is None


def test_improvement_claim_inconclusive_and_dropped_seeds():
    noisy = {0: 20.0, 1: 21.0, 2: 19.5, 3: 21.5}
    other = {0: 20.5, 1: 20.5, 2: 20.5, 3: 20.5}
    assert improvement_claim(noisy, other).verdict == "inconclusive"

    a = {**A, 7: 19.0}
    b = {k: v for k, v in B.items() if k != 2}
    b[9] = 25.0
    b[4] = float("nan")
    res = improvement_claim(a, b)
    assert res.n_pairs == 3 and res.n_dropped == 4  # seeds 2 and 7 only in A, 9 only in B, 4 NaN in B
    d = np.array([A[k] - B[k] for k in (0, 1, 3)])
    assert res.mean_diff == pytest.approx(d.mean())
    assert "3 paired seeds" in res.reason

    one = improvement_claim({0: 1.0, 1: 2.0}, {1: 3.0})
    assert one.verdict == "inconclusive" and one.n_pairs == 1 and "at least 2" in one.reason


def test_improvement_claim_without_spread_in_the_differences():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = improvement_claim({0: 1.0, 1: 2.0, 2: 3.0}, {0: 2.0, 1: 3.0, 2: 4.0})
        assert res.verdict == "holds" and res.ci_low == res.ci_high == -1.0 and res.p_value == 0.0
        same = improvement_claim({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})
        assert same.verdict == "inconclusive" and same.mean_diff == 0.0


def test_best_of_claim():
    c = {k: v + 0.6 for k, v in A.items()}
    res = best_of_claim("A", {"A": A, "B": B, "C": c})
    assert res.verdict == "holds" and set(res.comparisons) == {"B", "C"}
    res = best_of_claim("B", {"A": A, "B": B, "C": c})
    assert res.verdict == "fails" and "A" in res.reason
    noisy = {0: 20.0, 1: 21.0, 2: 19.5, 3: 21.5}
    res = best_of_claim("A", {"A": A, "B": B, "N": noisy})
    assert res.verdict == "inconclusive" and "N" in res.reason
    assert best_of_claim("Z", {"A": A}).verdict == "inconclusive"


def _runs(means: dict[str, float], noise: float, n_seeds: int = 5, seed: int = 0) -> dict[str, dict[int, float]]:
    rng = np.random.default_rng(seed)
    return {m: {s: mu + noise * rng.standard_normal() for s in range(n_seeds)} for m, mu in means.items()}


def test_kendall_tau_on_known_permutations():
    published = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    same = ranking_claim(published, _runs({"a": 10, "b": 11, "c": 12, "d": 13}, 0.01))
    assert same.tau == pytest.approx(1.0) and same.verdict == "holds"
    assert same.p_value == pytest.approx(1 / 24)  # exact: one permutation of 24 as extreme
    rev = ranking_claim(published, _runs({"a": 13, "b": 12, "c": 11, "d": 10}, 0.01))
    assert rev.tau == pytest.approx(-1.0) and rev.verdict == "fails"
    swap = ranking_claim(published, _runs({"a": 10, "b": 12, "c": 11, "d": 13}, 0.01))
    assert swap.tau == pytest.approx(2 / 3)
    assert swap.ci_low == pytest.approx(2 / 3) and swap.ci_high == pytest.approx(2 / 3)


def test_ranking_bootstrap_interval():
    published = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0}
    runs = _runs({"a": 10.0, "b": 10.3, "c": 10.6, "d": 10.9, "e": 11.2}, 0.4, n_seeds=6, seed=1)
    res = ranking_claim(published, runs, rng_seed=7)
    assert res.ci_low <= res.tau <= res.ci_high
    assert res.ci_low < res.ci_high  # seed noise of this size moves the order
    assert res.n_seeds == 6 and res.methods == ("a", "b", "c", "d", "e")
    again = ranking_claim(published, runs, rng_seed=7)
    assert (again.ci_low, again.ci_high) == (res.ci_low, res.ci_high)
    means = [np.mean(list(runs[m].values())) for m in published]
    assert res.tau == pytest.approx(sps.kendalltau(list(published.values()), means).statistic)


def test_ranking_drops_methods_and_seeds():
    published = {"a": 1.0, "b": 2.0, "c": 3.0, "x": 4.0}
    runs = _runs({"a": 10, "b": 11, "c": 12, "y": 9}, 0.01)
    del runs["b"][4]
    res = ranking_claim(published, runs)
    assert res.methods == ("a", "b", "c")
    assert set(res.dropped_methods) == {"x", "y"}
    assert res.n_seeds == 4 and res.dropped_seeds == 1
    assert ranking_claim({"a": 1.0}, runs).verdict == "inconclusive"
    one_seed = ranking_claim(published, {m: {0: v[0]} for m, v in runs.items()})
    assert one_seed.verdict == "inconclusive" and one_seed.tau == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------
# Margins
# ---------------------------------------------------------------------------------------------------


def test_default_margin():
    assert default_margin("cifar10").value == 0.3
    assert default_margin("CIFAR-100+", claimed_gain=0.6).value == 0.5
    m = default_margin("cifar100", claimed_gain=2.4)
    assert m.value == pytest.approx(1.2) and "half the claimed gain" in m.reason
    assert default_margin("tinyimagenet", claimed_gain=-0.4).value == 0.5
    assert default_margin("TinyImageNet-200").value == 0.5
    assert default_margin("imagenet", "top5_error", claimed_gain=float("nan")).value == 0.3
    assert default_margin("demo").value == 0.5 and "default floor" in default_margin("demo").reason
    h = default_margin("cifar10", "hours", claimed_gain=5.0, published_mean=8.0)
    assert h.value == pytest.approx(2.0) and "GPU" in h.reason
    with pytest.raises(ValueError):
        default_margin("cifar10", "hours")


# ---------------------------------------------------------------------------------------------------
# Two variants of one recipe, paired by seed (the numerics study)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shift, sd, margin", [(0.0, 0.1, 0.3), (0.05, 0.2, 0.3), (0.6, 0.1, 0.3), (0.2, 0.5, 0.5)])
def test_paired_equivalence_agrees_with_statsmodels(shift, sd, margin):
    """TOST on paired seeds: its p-value is statsmodels' ttost_paired, its interval scipy's paired t interval,
    and the verdict follows the interval: inside +-margin holds, entirely outside fails, else inconclusive."""
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
    assert (res.verdict == "holds") == (p < 0.05)


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
