"""Adaptive seeds: the group-sequential boundaries, the repeated p-values, the error rates and the savings of the
design, by simulation; the replay of a study's looks on its runs; and the study files and config that ask for it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from augrepro.results.adaptive import sequential_verdicts, write_look
from augrepro.results.margins import check_rules
from augrepro.results.power import decided_fraction
from augrepro.results.scope import compare_options
from augrepro.results.sequential import (
    SequentialDesign,
    chance_to_decide,
    expected_seeds,
    nominal_levels,
    worth_more_looks,
)
from augrepro.results.stats import PublishedSide, decide_many
from augrepro.studies import ConfigError, select_from_config
from augrepro.studies.study import parse_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "looks, boundary, constant",
    [
        # Jennison & Turnbull (2000), Tables 2.1 and 2.3: two-sided 0.05 (one-sided 0.025), equally spaced looks
        ((1, 2), "pocock", 2.178),
        ((1, 2, 3, 4, 5), "pocock", 2.413),
        ((1, 2), "obrien_fleming", 1.977),
        ((1, 2, 3, 4, 5), "obrien_fleming", 2.040),
    ],
)
def test_boundaries_match_the_published_constants(looks, boundary, constant):
    levels = nominal_levels(looks, boundary, 0.025)
    k = len(looks)
    expected = [constant if boundary == "pocock" else constant * math.sqrt(k / (i + 1)) for i in range(k)]
    assert [stats.norm.isf(a) for a in levels] == pytest.approx(expected, abs=2e-3)
    assert nominal_levels((5,), boundary) == (0.05,)  # one look: the fixed design


def test_repeated_p_values_are_valid_and_one_look_is_the_plain_p_value():
    design = SequentialDesign(3, 2, 7, "pocock")
    assert SequentialDesign(5, 1, 5).repeated_p([0.03]) == pytest.approx(0.03)
    # at the nominal level of any look, the repeated p-value is the overall level
    for k, level in enumerate(design.levels):
        assert design.repeated_p([1.0] * k + [level]) == pytest.approx(0.05, abs=1e-6)
    # under the null, P(repeated p <= u) <= u: the looks' z statistics of one accruing normal sample
    rng = np.random.default_rng(0)
    looks = np.array(design.looks)
    x = rng.standard_normal((2000, looks[-1]))
    z = np.stack([x[:, :n].sum(axis=1) / np.sqrt(n) for n in looks], axis=1)
    repeated = np.array([design.repeated_p(stats.norm.sf(row)) for row in z[:400]])
    for u in (0.05, 0.2, 0.5):
        assert np.mean(repeated <= u) <= u + 3 * math.sqrt(u * (1 - u) / 400)


def _sequential_rates(design: SequentialDesign, published: str, truth: float, sigma=1.0, delta=2.0, reps=4000):
    """The rule look by look (each look at its nominal level, both decisions), our seeds and the published runs drawn
    at random: P(reproduced), P(differs), E[seeds]."""
    rng = np.random.default_rng(1)
    runs = 5 if published == "sample" else 1
    y = rng.normal(0.0, sigma, (reps, runs))
    x = rng.normal(truth, sigma, (reps, design.looks[-1]))
    done = np.zeros(reps, dtype=bool)
    outcome = np.zeros(reps, dtype=int)
    seeds = np.full(reps, design.looks[-1], dtype=float)
    for n, level in zip(design.looks, design.levels):
        part = x[:, :n]
        var_o = part.var(axis=1, ddof=1) / n
        if published == "sample":
            var_p = y.var(axis=1, ddof=1) / runs
            se = np.sqrt(var_o + var_p)
            df = (var_o + var_p) ** 2 / (var_o**2 / (n - 1) + var_p**2 / (runs - 1))
        else:
            se, df = np.sqrt(part.var(axis=1, ddof=1) * (1 / n + 1)), np.full(reps, n - 1.0)
        now = decide_many(part.mean(axis=1) - y.mean(axis=1), se, df, delta, level, level)
        new = (now != 0) & ~done
        outcome[new], seeds[new] = now[new], n
        done |= new
    return np.mean(outcome == 1), np.mean(outcome == 2), seeds.mean()


TOLERANCE = 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)


@pytest.mark.parametrize("published", ["sample", "draws"])
@pytest.mark.parametrize("design", [SequentialDesign(4, 2, 8, "pocock"), SequentialDesign(3, 2, 9, "obrien_fleming")])
def test_false_verdicts_at_the_margin_stay_at_alpha_across_the_looks(design, published):
    """At a true difference of +delta both wrong verdicts sit on their boundary: reproduced (the difference is not
    inside the margin) and differs (it is not beyond it). Deciding at every look at the fixed level would inflate them;
    the boundary's nominal levels keep both at alpha (futility only stops without a verdict: not simulated, the worst
    case)."""
    false_reproduced, false_differs, _ = _sequential_rates(design, published, truth=2.0)
    assert false_reproduced <= TOLERANCE and false_differs <= TOLERANCE
    naive = SequentialDesign(design.start, design.step, design.max, design.boundary)
    object.__setattr__(naive, "alpha", 0.05)
    inflated = _sequential_levels_at_fixed_alpha(naive, published)
    assert inflated > TOLERANCE  # the same looks at 0.05 each: what the boundary prevents


def _sequential_levels_at_fixed_alpha(design: SequentialDesign, published: str) -> float:
    fixed = type("Fixed", (), {"looks": design.looks, "levels": (0.05,) * len(design.looks)})()
    return _sequential_rates(fixed, published, truth=2.0)[1]


def test_it_saves_seeds_against_the_papers_five_seeds_at_equal_power():
    """A cell of the SaliencyMix CIFAR table (published mean ± 0.21 over five runs, margin 2 σ): the default design
    (4, 6, 8 seeds, Pocock) decides at least as often as the paper's five seeds whether our runs reproduce the
    published number or differ from it by two or three margins, with fewer seeds on average."""
    published, sigma, delta = PublishedSide(4.72, 0.21, 5), 0.21, 0.42
    design, fixed = SequentialDesign(4, 2, 8, "pocock"), SequentialDesign(5, 1, 5, futility=0.0)
    for truth in (0.0, 2 * delta, 3 * delta):
        adaptive = expected_seeds(design, sigma, delta, published, truth)
        paper = expected_seeds(fixed, sigma, delta, published, truth)
        decided = adaptive.reproduced + adaptive.differs
        assert decided >= paper.reproduced + paper.differs - 0.01, truth
        assert adaptive.expected_seeds < paper.expected_seeds == 5, truth


def test_the_chance_to_decide_agrees_with_the_simulation():
    design, published = SequentialDesign(3, 2, 9), PublishedSide(20.0, 0.3, 5)
    for diff, std in ((0.1, 0.3), (0.4, 0.5), (0.9, 0.2)):
        closed = float(chance_to_decide(design, diff, std, 3, published, 0.6))
        level = design.levels[-1]
        simulated = decided_fraction(9, 20.0 + diff, std, 3, published, 0.6, level, level, resamples=20000)
        assert closed == pytest.approx(simulated, abs=0.08), (diff, std)


def test_a_single_published_run_is_not_worth_more_looks():
    design = SequentialDesign(4, 2, 8, "pocock")
    assert not worth_more_looks(design, 0.2, 0.4, PublishedSide(20.0))  # one draw, margin 2 σ
    assert worth_more_looks(design, 0.2, 0.4, PublishedSide(20.0, 0.2, 5))
    assert not worth_more_looks(design, math.nan, 0.4, PublishedSide(20.0, 0.2, 5))  # no spread known


# ---------------------------------------------------------------------------------------------------
# The replay of a study's looks
# ---------------------------------------------------------------------------------------------------


def _study(aug_means: dict[str, float], published: dict[str, tuple[float, float, int]]):
    grid = [["p", "cifar10+", "resnet18", a] for a in aug_means]
    study = {
        "name": "s",
        "grid": grid,
        "grid_seeds": [5] * len(grid),
        "methods": {a: a for a in aug_means},
        "margin": list(check_rules({"value": 0.8, "reason": "r"}, "s")),
        "published_side": None,
        "reported": {"p": "best"},
        "not_runnable": {},
        "published": ["t.csv"],
        "protocols": {"p": "p"},
    }
    cells = pd.DataFrame(
        [
            {
                "file": "t.csv",
                "source": "T",
                "protocol": "p",
                "dataset": "cifar10",
                "traditional": True,
                "model": "resnet18",
                "augmentation": a,
                "epochs": 200,
                "metric": "top1_error",
                "mean": mean,
                "std": std,
                "runs": float(runs),
                "note": "",
                "reported": "",
            }
            for a, (mean, std, runs) in published.items()
        ]
    )
    rng = np.random.default_rng(3)
    runs = pd.DataFrame(
        [
            {
                "protocol": "p",
                "dataset": "cifar10",
                "traditional": True,
                "model": "resnet18",
                "augmentation": a,
                "method": a,
                "variant": None,
                "seed": seed,
                "epochs": 200,
                "best_top1_error": mean + rng.normal(0, 0.3),
                "hours": 1.0,
            }
            for a, mean in aug_means.items()
            for seed in range(8)
        ]
    )
    return study, cells, runs


def test_the_replay_stops_decided_cells_and_asks_for_seeds_of_the_undecided_ones():
    # "far" differs from its published number by 5 points: decided at the first look; "close" sits 0.4 from it
    # with a margin of 0.8: undecided at 4 seeds, more seeds asked for
    study, cells, runs = _study({"far": 25.0, "close": 20.4}, {"far": (20.0, 0.3, 5), "close": (20.0, 0.3, 5)})
    design = SequentialDesign(4, 2, 8, "pocock", futility=0.0)
    first = sequential_verdicts(study, cells, runs, design, up_to=0, compare_options=compare_options(study))
    far, close = ("p", "cifar10+", "resnet18", "far"), ("p", "cifar10+", "resnet18", "close")
    assert (first.cells[far].stopped_at, first.cells[far].stop, first.cells[far].seeds) == (0, "decided", 4)
    assert first.cells[close].stopped_at is None and not first.finished
    asked = first.runs()
    assert sorted(s for *c, s in asked if tuple(c) == far) == [0, 1, 2, 3]
    assert sorted(s for *c, s in asked if tuple(c) == close) == list(range(6))  # the next look's seeds
    final = sequential_verdicts(study, cells, runs, design, compare_options=compare_options(study))
    assert final.finished and final.cells[close].stopped_at is not None
    table = final.table.set_index("augmentation")
    assert table.loc["far", "verdict"] == "worse" and table.loc["far", "n"] == 4 and table.loc["far", "looks"] == 1
    assert table.loc["close", "n"] == final.cells[close].seeds and table.loc["close", "looks"] >= 2
    assert table.loc["far", "look_levels"] == ", ".join(f"{a:.3g}" for a in design.levels)


def test_a_cell_with_a_single_published_run_gets_one_look_of_its_seed_list_at_most():
    study, cells, runs = _study(
        {"single": 20.1, "sample": 20.1}, {"single": (20.0, math.nan, 1), "sample": (20.0, 0.3, 5)}
    )
    study["grid_seeds"] = [3, 5]
    design = SequentialDesign(4, 2, 8, "pocock")
    final = sequential_verdicts(study, cells, runs, design, compare_options=compare_options(study))
    single = final.cells[("p", "cifar10+", "resnet18", "single")]
    assert (single.stop, single.seeds, single.stopped_at) == ("one look", 3, 0)
    row = final.table.set_index("augmentation").loc["single"]
    assert row["repeated_p_equivalence"] == pytest.approx(row["p_equivalence"])  # one look: its own p-value


# ---------------------------------------------------------------------------------------------------
# Study files and the config switch
# ---------------------------------------------------------------------------------------------------

RAW = {
    "title": "t",
    "source": "s",
    "protocol": "demo",
    "datasets": ["demo"],
    "models": ["resnet8"],
    "augmentations": ["baseline"],
}


def test_a_study_may_ask_for_adaptive_seeds():
    study = parse_study("t", {**RAW, "seeds": {"start": 3, "step": 2, "max": 7}}, "t.yaml")
    assert study.adaptive == {"start": 3, "step": 2, "max": 7}
    assert [k.seed for k in study.runs()] == [0, 1, 2]  # the first look
    assert [k.seed for k in study.potential_runs()] == list(range(7))


@pytest.mark.parametrize(
    "seeds, message",
    [
        ({"start": 1, "max": 5}, "t.yaml: seeds.start: got 1; expected an integer >= 2"),
        ({"start": 4, "max": 3}, "seeds.max must be an integer >= seeds.start"),
        ({"start": 3, "max": 9, "boundary": "haybittle"}, "valid: obrien_fleming, pocock"),
        ({"start": 3}, "t.yaml: seeds: 'max' is required"),
        ({"start": 3, "max": 9, "looks": 4}, "t.yaml: seeds: unknown key(s) looks; valid keys: start, step, max"),
    ],
)
def test_bad_adaptive_seeds_are_refused(seeds, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_study("t", {**RAW, "seeds": seeds}, "t.yaml")
    with pytest.raises(ConfigError, match="gives no seeds per grid"):
        parse_study("t", {**{k: v for k, v in RAW.items() if k not in ("datasets", "models", "augmentations")},
                          "seeds": {"start": 3, "max": 5},
                          "grids": [{"datasets": ["demo"], "models": ["resnet8"], "augmentations": ["baseline"], "seeds": [0]}]},
                    "t.yaml")  # fmt: skip


def test_one_config_switch_makes_the_paper_studies_adaptive_but_those_that_need_evaluations():
    data = {"imagenet_path": str(ROOT)}
    fixed = select_from_config({"studies": ["saliencymix_cifar", "saliencymix_robustness"], "data": data}, ROOT)
    assert not any(s.adaptive for s in fixed.studies)
    switched = select_from_config(
        {"studies": ["saliencymix_cifar", "saliencymix_robustness"], "data": data, "adaptive": {"enabled": True}}, ROOT
    )
    cifar, robustness = switched.studies
    assert cifar.adaptive == {"start": 4, "step": 2, "max": 8, "boundary": "pocock", "futility": 0.1}
    assert {k.seed for k in cifar.runs()} == {0, 1, 2, 3} and len(cifar.fixed_runs()) == 320
    assert robustness.adaptive is None  # its verdicts need FGSM results of the runs: it keeps its seed list
    entry = switched.describe()["studies"][0]
    assert entry["adaptive"] == cifar.adaptive and set(entry["grid_seeds"]) == {5}


def test_a_look_whose_seeds_have_not_all_trained_decides_nothing():
    """The partial report replays a study while its runs train: a look with seeds missing is not taken, and the cells
    it would have decided wait (no fixed-design verdict stands in for the sequential one)."""
    study, cells, runs = _study({"far": 25.0, "close": 20.4}, {"far": (20.0, 0.3, 5), "close": (20.0, 0.3, 5)})
    design = SequentialDesign(4, 2, 8, "pocock", futility=0.0)
    early = runs[runs["seed"] < 3]  # the first look needs 4 seeds
    interim = sequential_verdicts(study, cells, early, design, compare_options=compare_options(study))
    assert not interim.finished and all(state.stopped_at is None for state in interim.cells.values())
    table = interim.table.set_index("augmentation")
    assert set(table["verdict"]) == {"inconclusive"} and set(table["stop"]) == {"waiting for its first look's seeds"}
    assert table.loc["far", "n"] == 3  # its runs so far are shown


def test_a_look_at_a_study_with_fixed_seeds_is_refused_before_reading_runs(tmp_path):
    out = tmp_path / "look.json"
    missing_runs = [tmp_path / "no_such_run"]  # never read: the study is refused first
    with pytest.raises(ValueError, match="fixed seeds: looks are for a study with an `adaptive:` design"):
        write_look({"name": "fixed"}, missing_runs, tmp_path / "published", 0, out)
    assert not out.exists()
