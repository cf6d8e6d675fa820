"""augrepro.results.power: the seeds a verdict needs, checked by simulating the real test (cell_equivalence)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augrepro.results.power import seeds_for_power, seeds_to_decide, tost_power, tost_powers
from augrepro.results.stats import PublishedSide, cell_equivalence

REPLICATES = 2000
MC = 3 * math.sqrt(0.8 * 0.2 / REPLICATES)  # three Monte-Carlo standard errors of a rate near 0.8


def _design_power(n: int, sigma: float, delta: float, published: str, runs: int, seed: int) -> float:
    """The power of the cell's test before any run, by simulation: our n seeds and the published runs both drawn
    from N(0, sigma^2) (a faithful reproduction), the published side summarized as the source would print it."""
    rng = np.random.default_rng(seed)
    decided = 0
    for _ in range(REPLICATES):
        x = rng.normal(0.0, sigma, n)
        y = rng.normal(0.0, sigma, runs)
        if published == "sample":
            side = PublishedSide(float(y.mean()), float(y.std(ddof=1)), runs)
        elif published == "draws":
            side = PublishedSide(float(y.mean()), math.nan, runs)
        else:
            side = PublishedSide(0.0, exact=True)
        res = cell_equivalence(float(x.mean()), float(x.std(ddof=1)), n, side, delta)
        decided += res.outcome == "reproduced"
    return decided / REPLICATES


@pytest.mark.parametrize(
    "published, runs, sigma, delta",
    [("sample", 5, 0.2, 0.4), ("sample", 5, 0.3, 0.75), ("draws", 3, 0.2, 0.6), ("exact", 1, 0.25, 0.3)],
)
def test_the_seeds_for_80_percent_power_give_80_percent_power(published, runs, sigma, delta):
    side = {
        "sample": lambda: PublishedSide(0.0, sigma, runs),
        "draws": lambda: PublishedSide(0.0, math.nan, runs),
        "exact": lambda: PublishedSide(0.0, exact=True),
    }[published]()
    n = seeds_for_power(sigma, delta, side)
    assert n is not None and n >= 2
    assert tost_power(n, sigma, delta, side) >= 0.8 > tost_power(n - 1, sigma, delta, side)
    # The noncentral-t power is a lower bound of the real test's power: the simulation reaches the target.
    assert _design_power(n, sigma, delta, published, runs, seed=n) >= 0.8 - MC


def test_no_number_of_seeds_shows_a_single_published_run_reproduced_within_two_stds():
    """One published run carries a whole run-to-run std of noise: a 2 sigma margin can never reach 80 % power."""
    assert seeds_for_power(0.2, 0.4, PublishedSide(0.0)) is None
    assert tost_power(100, 0.2, 0.4, PublishedSide(0.0)) < 0.8
    assert seeds_for_power(0.2, 0.4, PublishedSide(0.0, 0.2, 5)) is not None


def _decided_at(n_total, ours_values, published, delta, seed) -> float:
    """Continue a cell from its seeds: draw the remaining seeds' values from N(observed mean, observed std) and
    decide with cell_equivalence, as the user would."""
    rng = np.random.default_rng(seed)
    mean, std = float(np.mean(ours_values)), float(np.std(ours_values, ddof=1))
    decided = 0
    for _ in range(REPLICATES):
        x = np.concatenate([ours_values, rng.normal(mean, std, n_total - len(ours_values))])
        res = cell_equivalence(float(x.mean()), float(x.std(ddof=1)), n_total, published, delta)
        decided += res.outcome != "inconclusive"
    return decided / REPLICATES


@pytest.mark.parametrize(
    "values, published, delta",
    [
        ([20.3, 19.9, 20.6], PublishedSide(20.0, 0.3, 5), 0.6),  # close to the published number: more seeds reproduce
        ([20.9, 20.4, 21.2], PublishedSide(20.0, 0.2, 5), 0.4),  # far: more seeds show it differs
        ([20.2, 19.7, 20.5, 20.1], PublishedSide(20.0), 0.8),  # a single published run
    ],
)
def test_at_the_seeds_it_reports_the_cell_is_decided_80_percent_of_the_time(values, published, delta):
    values = np.array(values)
    mean, std, n = float(values.mean()), float(values.std(ddof=1)), len(values)
    assert cell_equivalence(mean, std, n, published, delta).outcome == "inconclusive"
    more = seeds_to_decide(mean, std, n, published, delta)
    assert more.seeds is not None and more.seeds > n and "more seed" in more.text
    assert _decided_at(more.seeds, values, published, delta, seed=1) >= 0.8 - MC
    if more.seeds - 1 > n:
        assert _decided_at(more.seeds - 1, values, published, delta, seed=2) < 0.8 + MC


def test_the_old_rule_decided_a_cell_about_half_the_time():
    """The rule this replaces kept the observed mean and spread fixed and reported the first n at which those would
    decide the cell; continuing the cell from its seeds, that n decides it only about half the time."""
    values = np.array([20.3, 19.9, 20.6])
    published, delta = PublishedSide(20.0, 0.3, 5), 0.6
    mean, std = float(values.mean()), float(values.std(ddof=1))
    old = next(n for n in range(4, 200) if cell_equivalence(mean, std, n, published, delta).outcome != "inconclusive")
    assert 0.3 < _decided_at(old, values, published, delta, seed=3) < 0.7
    assert seeds_to_decide(mean, std, 3, published, delta).seeds > old


def test_an_undecidable_cell_says_so():
    # Our mean exactly on the margin's bound: no number of seeds decides it with 80 % probability.
    more = seeds_to_decide(20.6, 0.3, 3, PublishedSide(20.0, exact=True), 0.6)
    assert more.seeds is None and "no number of seeds" in more.text
    assert seeds_to_decide(20.0, math.nan, 1, PublishedSide(20.0), 0.6).seeds is None


@pytest.mark.parametrize(
    "published",
    [PublishedSide(4.0, std=0.2, runs=5), PublishedSide(4.0, runs=1), PublishedSide(4.0, exact=True)],
    ids=["sample", "draws", "exact"],
)
def test_the_vectorized_power_equals_the_power_at_each_seed_count(published):
    """tost_powers (one scipy call for many seed counts, what the plan uses) gives tost_power's number at each count,
    exactly; and seeds_for_power is the first count whose power reaches 80 %, the same for two sides that differ
    only in their mean (the power does not depend on it)."""
    ns = list(range(0, 40))
    vector = tost_powers(ns, 0.15, 0.5, published)
    assert [float(v) for v in vector] == [tost_power(n, 0.15, 0.5, published) for n in ns]
    first = seeds_for_power(0.15, 0.5, published)
    assert first is not None and tost_power(first, 0.15, 0.5, published) >= 0.8
    assert all(tost_power(n, 0.15, 0.5, published) < 0.8 for n in range(2, first))
    moved = PublishedSide(7.5, std=published.std, runs=published.runs, exact=published.exact)
    assert seeds_for_power(0.15, 0.5, moved) == first
