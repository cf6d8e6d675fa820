"""Seeds on demand: a group-sequential design for a table's cells (adaptive seeds).

A study may ask for its seeds in looks instead of a fixed list (``seeds: {start: 3, step: 2, max: 9}``): every cell
trains ``start`` seeds; after each look the cells whose verdict is decided stop, and the undecided ones get ``step``
more seeds, up to ``max``. Deciding at several looks would inflate the error rates if each look used the fixed
design's level, so each look uses a *nominal* level from a group-sequential boundary (Jennison & Turnbull,
"Group Sequential Methods with Applications to Clinical Trials", 2000, chapters 2-3, 9):

* the boundary: Pocock's (1977, Biometrika 64, "Group sequential methods in the design and analysis of clinical
  trials": the same nominal level at every look) or O'Brien and Fleming's (1979, Biometrics 35, "A multiple testing
  procedure for clinical trials": strict early, nearly the fixed level at the last look, the default). The constant
  is found so that a one-sided test crosses the boundary at some look with probability alpha under its null, the
  looks' statistics being jointly normal with correlation sqrt(n_i / n_j) (:func:`nominal_levels`,
  ``scipy.stats.multivariate_normal``). The published number's fixed variance makes the real correlation between
  looks higher, which only lowers that probability (Slepian's inequality): the boundary is conservative there;
  each look's t test uses the nominal level with its own degrees of freedom (Jennison & Turnbull, section 3.3);
* each look's equivalence and minimum-effect p-values become *repeated p-values* (Jennison & Turnbull, section 9.2):
  the smallest overall level at which the design would have decided the cell at that look or an earlier one
  (:meth:`SequentialDesign.repeated_p`). They are valid at any look, so the table's cells are adjusted together by
  Benjamini-Hochberg on them exactly as in a fixed design; a cell stops once its adjusted repeated p-value is below
  alpha. With one look this is the fixed design;
* two non-binding futility rules, decided only from what stops a cell (stopping without a decision never adds a
  wrong one, so the error rates are kept): before any run, a cell whose equivalence test has less than
  :data:`DESIGN_POWER` (50 %) power at ``max`` seeds, the published number's own noise being too large for its margin
  (a single published run), gets the first look only (it can still be found to differ there); after each look, an
  undecided cell stops when the chance to decide it by ``max`` seeds, at the observed mean and spread, is below
  ``futility`` (default 10 %). ``futility: 0`` turns both off.

:func:`expected_seeds` simulates a cell under a given truth (the plan uses the published mean: a faithful
reproduction) to give the design's power and its expected number of seeds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from augrepro.results.power import tost_power
from augrepro.results.stats import DEFAULT_ALPHA, PublishedSide, decide_many, t_quantiles

BOUNDARIES = ("obrien_fleming", "pocock")
DEFAULT_BOUNDARY = "obrien_fleming"
DEFAULT_FUTILITY = 0.1
# Before any run: a cell with less power than this at max seeds (noncentral t, augrepro.results.power) gets one look.
DESIGN_POWER = 0.5


def _scales(looks: tuple[int, ...], boundary: str) -> np.ndarray:
    n = np.asarray(looks, dtype=float)
    return np.ones(len(n)) if boundary == "pocock" else np.sqrt(n[-1] / n)


@functools.cache
def _mvn(looks: tuple[int, ...]):
    n = np.asarray(looks, dtype=float)
    cov = np.sqrt(np.minimum.outer(n, n) / np.maximum.outer(n, n))
    return stats.multivariate_normal(np.zeros(len(n)), cov, maxpts=200_000, abseps=1e-7, releps=1e-7)


def _crossing(looks: tuple[int, ...], boundary: str, c: float) -> float:
    """P(Z_k >= c s_k for some look k) for the looks' jointly normal statistics."""
    if len(looks) == 1:
        return float(stats.norm.sf(c))
    return 1.0 - float(_mvn(looks).cdf(c * _scales(looks, boundary), rng=np.random.default_rng(0)))


@functools.cache
def nominal_levels(looks: tuple[int, ...], boundary: str = DEFAULT_BOUNDARY, alpha: float = DEFAULT_ALPHA) -> tuple:
    """The one-sided nominal level of each look for an overall one-sided level ``alpha``: ``1 - Phi(c s_k)`` with
    ``s_k = 1`` (Pocock) or ``sqrt(n_K / n_k)`` (O'Brien-Fleming), ``c`` such that ``P(Z_k >= c s_k for some k) =
    alpha`` for jointly normal ``Z_k`` with ``corr(Z_i, Z_j) = sqrt(n_i / n_j)`` (``scipy.stats.multivariate_normal``)."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; valid: {', '.join(BOUNDARIES)}")
    if len(looks) == 1:
        return (float(alpha),)
    c = optimize.brentq(lambda c: _crossing(looks, boundary, c) - alpha, 0.0, 8.0, xtol=1e-7)
    return tuple(float(stats.norm.sf(c * s)) for s in _scales(looks, boundary))


@dataclass(frozen=True)
class SequentialDesign:
    """Seeds in looks: ``start``, ``start + step``, ..., up to ``max`` (the last look is ``max``)."""

    start: int
    step: int
    max: int
    boundary: str = DEFAULT_BOUNDARY
    futility: float = DEFAULT_FUTILITY
    alpha: float = DEFAULT_ALPHA

    def __post_init__(self) -> None:
        if not (isinstance(self.start, int) and self.start >= 2):
            raise ValueError(f"seeds.start must be an integer >= 2 (a spread needs two seeds), got {self.start!r}")
        if not (isinstance(self.step, int) and self.step >= 1):
            raise ValueError(f"seeds.step must be a positive integer, got {self.step!r}")
        if not (isinstance(self.max, int) and self.max >= self.start):
            raise ValueError(f"seeds.max must be an integer >= seeds.start ({self.start}), got {self.max!r}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"seeds.boundary is {self.boundary!r}; valid: {', '.join(BOUNDARIES)}")
        if not (0.0 <= self.futility < 1.0):
            raise ValueError(f"seeds.futility must lie in [0, 1), got {self.futility!r}")

    @property
    def looks(self) -> tuple[int, ...]:
        """The number of seeds at each look."""
        sizes = list(range(self.start, self.max, self.step))
        return tuple([*sizes, self.max])

    @property
    def levels(self) -> tuple[float, ...]:
        """The nominal one-sided level of each look."""
        return nominal_levels(self.looks, self.boundary, self.alpha)

    def describe(self) -> str:
        levels = ", ".join(f"{a:.3g}" for a in self.levels)
        return (
            f"seeds in looks of {', '.join(map(str, self.looks))} ({self.boundary.replace('_', '-')} boundary; nominal "
            f"levels {levels}; futility below {self.futility:.0%})"
        )

    def repeated_p(self, p_by_look) -> float:
        """The repeated p-value after the looks so far (``p_by_look[k]``: look k's one-sided p-value, NaN where not
        tested): the smallest overall level at which some look's p-value reaches that look's nominal level. Look k
        rejects at overall level a when ``p_k <= 1 - Phi(c(a) s_k)``, i.e. when ``c(a) <= z_k / s_k`` with ``z_k`` the
        normal quantile of ``1 - p_k``; the level that goes with a constant c is ``P(Z_j >= c s_j for some j)``."""
        scales = _scales(self.looks, self.boundary)
        ratios = [stats.norm.isf(p) / s for p, s in zip(p_by_look, scales) if p is not None and not math.isnan(p)]
        if not ratios:
            return math.nan
        return min(1.0, _crossing(self.looks, self.boundary, max(ratios)))


def worth_more_looks(design: SequentialDesign, sigma: float, delta: float, published: PublishedSide) -> bool:
    """Before any run: whether the cell's equivalence test reaches :data:`DESIGN_POWER` at ``max`` seeds and the last
    look's nominal level (:func:`augrepro.results.power.tost_power`, our runs reproducing it exactly with the column's
    spread ``sigma``); False also where no spread is known. A design without futility stopping (``futility: 0``)
    gives every cell its looks."""
    if design.futility == 0:
        return True
    if not (sigma > 0) or design.max == design.looks[0]:
        return sigma > 0
    return tost_power(design.max, sigma, delta, published, design.levels[-1]) >= DESIGN_POWER


def one_look(design: SequentialDesign, fixed_seeds: int | None = None) -> int:
    """The seeds of a cell that gets one look: the first look's, or its study's seed list count where that is
    smaller (a study made adaptive by the config spends no more than the paper on a cell it cannot decide)."""
    return min(design.looks[0], fixed_seeds) if fixed_seeds and fixed_seeds >= 2 else design.looks[0]


def chance_to_decide(design: SequentialDesign, diff, std, n: int, published: PublishedSide, delta: float):
    """The conditional power of a cell at the last look (Jennison & Turnbull, section 10.2): the probability that the
    last look decides it at its nominal level if our true difference and spread are the observed ones (``diff``,
    ``std``: arrays or numbers, ``n`` seeds so far). The last look's mean is then normal around ``diff`` with variance
    ``std^2 (max - n) / max^2``; its standard error and degrees of freedom are taken at the observed spread."""
    diff, std = np.asarray(diff, dtype=float), np.asarray(std, dtype=float)
    total = design.max
    se, df = _se_df(std**2, total, published)
    t = t_quantiles(1.0 - design.levels[-1], df)
    tau = std * math.sqrt(max(total - n, 0)) / total
    tau = np.where(tau > 0, tau, 1e-12)
    inner = np.maximum(delta - t * se, 0.0)
    reproduced = np.where(inner > 0, stats.norm.cdf((inner - diff) / tau) - stats.norm.cdf((-inner - diff) / tau), 0.0)
    outer = delta + t * se
    differs = stats.norm.cdf((-outer - diff) / tau) + stats.norm.sf((outer - diff) / tau)
    return reproduced + differs


def futile(
    design: SequentialDesign, diff: float, std: float, n: int, published: PublishedSide, delta: float
) -> tuple[bool, float]:
    """(stop for futility, the chance to decide by ``max`` seeds, :func:`chance_to_decide`); never at the last look
    or without a spread."""
    if n >= design.max or not (std > 0) or design.futility <= 0:
        return False, math.nan
    chance = float(chance_to_decide(design, diff, std, n, published, delta))
    return chance < design.futility, chance


@dataclass(frozen=True)
class Operating:
    """A design's behaviour for one cell under a truth, by simulation."""

    reproduced: float  # probability of a "reproduced" verdict
    differs: float
    expected_seeds: float


def expected_seeds(
    design: SequentialDesign,
    sigma: float,
    delta: float,
    published: PublishedSide,
    true_diff: float = 0.0,
    resamples: int = 4000,
    rng_seed: int = 0,
    fixed_seeds: int | None = None,
) -> Operating:
    """Simulate one cell through the design: our seeds drawn from a normal with mean ``published.mean + true_diff``
    and std ``sigma``, tested at each look at its nominal level against the published side (its printed values as
    they are), stopped when decided, when futile (:func:`chance_to_decide`) or at ``max``; a cell not worth more
    looks (:func:`worth_more_looks`) has one. Each look decides at its nominal level alone (a single cell: no table
    to adjust over)."""
    rng = np.random.default_rng(rng_seed)
    if not worth_more_looks(design, sigma, delta, published):
        once = one_look(design, fixed_seeds)
        design = SequentialDesign(once, 1, once, design.boundary, 0.0, design.alpha)
    x = rng.normal(published.mean + true_diff, sigma, (resamples, design.max))
    done = np.zeros(resamples, dtype=bool)
    reproduced = np.zeros(resamples, dtype=bool)
    differs = np.zeros(resamples, dtype=bool)
    seeds = np.full(resamples, design.max, dtype=float)
    for n, level in zip(design.looks, design.levels):
        part = x[:, :n]
        mean, var = part.mean(axis=1), part.var(axis=1, ddof=1)
        se, df = _se_df(var, n, published)
        outcome = decide_many(mean - published.mean, se, df, delta, level, level)
        new_rep = (outcome == 1) & ~done
        new_diff = (outcome == 2) & ~done
        reproduced |= new_rep
        differs |= new_diff
        stopped = new_rep | new_diff
        if n < design.max and design.futility > 0:
            chance = chance_to_decide(design, mean - published.mean, np.sqrt(var), n, published, delta)
            stopped |= (chance < design.futility) & ~done
        seeds[stopped] = n
        done |= stopped
    return Operating(float(reproduced.mean()), float(differs.mean()), float(seeds.mean()))


def _se_df(var: np.ndarray, n: int, published: PublishedSide) -> tuple[np.ndarray, np.ndarray]:
    kind = published.kind
    if kind == "sample":
        var_pub = float(published.std) ** 2 / published.runs
        var_ours = var / n
        df_pub = published.runs - 1.0
        if min(df_pub, n - 1.0) <= 1 and var_pub > 0:
            df = np.full_like(var, min(df_pub, n - 1.0))
        else:
            df = (var_ours + var_pub) ** 2 / (var_ours**2 / (n - 1.0) + var_pub**2 / df_pub)
        return np.sqrt(var_ours + var_pub), df
    if kind == "draws":
        return np.sqrt(var * (1.0 / n + 1.0 / published.runs)), np.full_like(var, n - 1.0)
    return np.sqrt(var / n), np.full_like(var, n - 1.0)
