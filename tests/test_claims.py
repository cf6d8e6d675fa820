"""The papers' claims on hand-made per-seed runs: a claim that holds, one that fails, one that cannot be decided."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from augrepro.results.claims import ClaimError, check_claim, evaluate_claims

GRID = [["p", "cifar10+", "resnet18", a] for a in ("baseline", "cutmix", "saliencymix", "sm_paper")] + [
    ["p", "cifar100+", "resnet18", a] for a in ("baseline", "cutmix", "saliencymix", "sm_paper")
]


def runs_frame(errors: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """runs.csv rows: (dataset key, augmentation) -> one best top-1 error per seed."""
    rows = []
    for (key, aug), values in errors.items():
        for seed, value in enumerate(values):
            rows.append(
                {
                    "protocol": "p",
                    "dataset": key.rstrip("+"),
                    "traditional": key.endswith("+"),
                    "model": "resnet18",
                    "augmentation": aug,
                    "method": "saliencymix" if aug == "sm_paper" else aug,
                    "variant": None,
                    "seed": seed,
                    "best_top1_error": value,
                    "hours": 1.0,
                }
            )
    return pd.DataFrame(rows)


def published_frame(values: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "source": "t",
                "protocol": "p",
                "dataset": k.rstrip("+"),
                "traditional": True,
                "model": "resnet18",
                "augmentation": a,
                "epochs": 200,
                "metric": "top1_error",
                "mean": v,
                "std": 0.1,
                "runs": 5.0,
                "note": "",
                "reported": "",
            }
            for (k, a), v in values.items()
        ]
    )


PUBLISHED = published_frame(
    {
        ("cifar10+", "baseline"): 4.7,
        ("cifar10+", "cutmix"): 3.8,
        ("cifar10+", "saliencymix"): 3.65,
        ("cifar100+", "baseline"): 22.5,
        ("cifar100+", "cutmix"): 19.4,
        ("cifar100+", "saliencymix"): 19.3,
    }
)
RNG = np.random.default_rng(0)


def noisy(level: float) -> list[float]:
    """Five seeds around ``level`` (their own noise per method, so paired differences vary)."""
    return list(level + RNG.normal(0, 0.05, 5))


def claim(**kw):
    return {"claim": "c", "source": "s", **kw}


def evaluate(claims, runs, published=PUBLISHED):
    """Each claim's row with its cells' rows (the two verdict files, joined back)."""
    table, cells = evaluate_claims(claims, runs, published, {"p": "best"}, GRID)
    out = []
    for row in table.to_dict("records"):
        row["cells"] = cells[cells["claim_id"] == row["claim_id"]].to_dict("records")
        out.append(row)
    return out


def test_a_claim_that_holds_one_that_fails_and_one_without_enough_seeds():
    runs = runs_frame(
        {
            ("cifar10+", "saliencymix"): noisy(3.6),
            ("cifar10+", "cutmix"): noisy(3.9),
            ("cifar100+", "saliencymix"): noisy(19.2),
            ("cifar100+", "cutmix"): noisy(19.6),
            ("cifar10+", "baseline"): noisy(3.5),
            ("cifar100+", "baseline"): noisy(19.0),
        }
    )
    holds, fails = evaluate(
        [
            claim(kind="lower", method="saliencymix", than="cutmix"),
            claim(kind="lower", method="saliencymix", than="baseline"),
        ],
        runs,
    )
    assert holds["verdict"] == "holds" and [c["verdict"] for c in holds["cells"]] == ["holds", "holds"]
    assert holds["reason"] == "all 2 cells hold at level 0.05 (intersection-union test)"
    first = holds["cells"][0]
    assert json.loads(first["published"]) == {"saliencymix": 3.65, "cutmix": 3.8} and first["n_pairs"] == 5
    assert first["ci_high"] < 0  # SaliencyMix - CutMix, paired
    assert fails["verdict"] == "fails"  # our baseline is better than our SaliencyMix
    few = runs_frame({("cifar10+", "saliencymix"): [3.6, 3.9], ("cifar10+", "cutmix"): [3.8, 3.7]})
    (undecided,) = evaluate([claim(kind="lower", method="saliencymix", than="cutmix")], few)
    assert undecided["verdict"] == "inconclusive"  # two noisy seeds, and the CIFAR-100 cell not run at all
    assert undecided["cells_total"] == 2 and len(undecided["cells"]) == 1
    (nothing,) = evaluate([claim(kind="lower", method="saliencymix", than="cutmix")], runs_frame({}))
    assert nothing["verdict"] == "not run"


def test_an_improvement_claim_tests_the_direction_and_the_gain_separately():
    """Published: SaliencyMix 3.65 against the baseline 4.70, a gain of 1.05 (each a mean ± 0.1 over 5 runs). Ours
    keeps the direction with half the gain: the direction holds, the gain is not reproduced."""
    half = runs_frame({("cifar10+", "saliencymix"): noisy(4.2), ("cifar10+", "baseline"): noisy(4.725)})
    (result,) = evaluate([claim(kind="lower", method="saliencymix", than="baseline", datasets=["cifar10+"])], half)
    assert result["verdict"] == "holds" and result["gain_verdict"] != "reproduced"
    cell = result["cells"][0]
    assert cell["gain_published"] == pytest.approx(1.05) and cell["gain_margin"] == pytest.approx(0.525)
    assert cell["gain_ours"] == pytest.approx(0.525, abs=0.1)
    whole = runs_frame({("cifar10+", "saliencymix"): noisy(3.65), ("cifar10+", "baseline"): noisy(4.7)})
    (result,) = evaluate([claim(kind="lower", method="saliencymix", than="baseline", datasets=["cifar10+"])], whole)
    assert (result["verdict"], result["gain_verdict"]) == ("holds", "reproduced")
    tiny = runs_frame({("cifar10+", "saliencymix"): noisy(4.6), ("cifar10+", "baseline"): noisy(4.7)})
    (result,) = evaluate([claim(kind="lower", method="saliencymix", than="baseline", datasets=["cifar10+"])], tiny)
    assert result["gain_verdict"] == "differs"


def test_a_claim_over_cells_fails_only_when_a_reversal_survives_holm():
    """Two cells: a small reversal in one (its own p just under 0.05) does not fail a claim over two cells once the
    reversals are Holm-adjusted; a clear reversal does."""
    slight = runs_frame(
        {
            ("cifar10+", "saliencymix"): [3.70, 3.62, 3.75, 3.66, 3.71],
            ("cifar10+", "cutmix"): [3.65, 3.60, 3.66, 3.66, 3.62],
            ("cifar100+", "saliencymix"): noisy(19.3),
            ("cifar100+", "cutmix"): noisy(19.3),
        }
    )
    (result,) = evaluate([claim(kind="lower", method="saliencymix", than="cutmix")], slight)
    cell = result["cells"][0]
    assert cell["verdict_unadjusted"] == "fails" and cell["p_fail"] < 0.05 <= cell["p_fail_adjusted"]
    assert cell["verdict"] == "inconclusive" and "Holm" in cell["reason"]
    assert result["verdict"] == "inconclusive"


def test_best_of_and_ranking_claims():
    runs = runs_frame(
        {
            ("cifar10+", "saliencymix"): noisy(3.6),
            ("cifar10+", "cutmix"): noisy(3.9),
            ("cifar10+", "baseline"): noisy(4.8),
        }
    )
    best, ranking, reversed_ = evaluate(
        [
            claim(kind="best", method="saliencymix", among=["baseline", "cutmix"], datasets=["cifar10+"]),
            claim(kind="ranking", methods=["baseline", "cutmix", "saliencymix"], datasets=["cifar10+"]),
            claim(kind="best", method="baseline", among=["cutmix", "saliencymix"], datasets=["cifar10+"]),
        ],
        runs,
    )
    assert best["verdict"] == "holds"
    cell = ranking["cells"][0]
    assert ranking["verdict"] == "holds" and cell["tau"] == pytest.approx(1.0)
    assert "saliencymix < cutmix: holds" in cell["comparisons"] and "cutmix < baseline: holds" in cell["comparisons"]
    assert reversed_["verdict"] == "fails"


def test_a_claim_about_an_alias_uses_the_alias_runs():
    """In an ablation study without published cells, a claim names an alias (sm_paper): its own runs, not the
    registered method's."""
    runs = runs_frame({("cifar10+", "sm_paper"): noisy(3.5), ("cifar10+", "saliencymix"): noisy(3.9)})
    (result,) = evaluate(
        [claim(kind="lower", method="sm_paper", than="saliencymix", datasets=["cifar10+"])], runs, PUBLISHED.iloc[0:0]
    )
    assert result["verdict"] == "holds" and result["gain_verdict"] == ""  # no published gain to compare with


def test_an_equivalence_claim_pairs_one_method_under_two_protocols_seed_by_seed():
    """The numerics study's claim: one method under a recipe (fp32) and its variant (bf16), the same seeds paired,
    in every (dataset key, model) both run; equal within the margin holds, a shift beyond it fails."""
    rng = np.random.default_rng(3)
    fp32 = {key: list(level + rng.normal(0, 0.2, 5)) for key, level in (("cifar10+", 3.7), ("cifar100+", 19.4))}
    rows = runs_frame({(key, "saliencymix"): values for key, values in fp32.items()})
    variant = runs_frame(
        {
            ("cifar10+", "saliencymix"): [v + 0.02 * (-1) ** i for i, v in enumerate(fp32["cifar10+"])],
            ("cifar100+", "saliencymix"): [v + 1.5 for v in fp32["cifar100+"]],
        }
    ).assign(protocol="p_bf16")
    grid = [["p", k, "resnet18", "saliencymix"] for k in fp32] + [
        ["p_bf16", k, "resnet18", "saliencymix"] for k in fp32
    ]
    margin = {"value": 0.3, "reason": "the floor"}
    equivalent = claim(kind="equivalent", method="saliencymix", protocols=["p", "p_bf16"], margin=margin)
    both = pd.concat([rows, variant], ignore_index=True)
    table, cells = evaluate_claims(
        [check_claim(equivalent, "numerics.yaml, claim 1")],
        both,
        PUBLISHED.iloc[0:0],
        {"p": "best", "p_bf16": "best"},
        grid,
    )
    result, cells = table.iloc[0], cells.set_index("cell")
    assert result["cells_total"] == 2 and cells.loc["cifar10+ / resnet18", "verdict"] == "holds"
    assert cells.loc["cifar100+ / resnet18", "verdict"] == "fails" and result["verdict"] == "fails"
    far = cells.loc["cifar100+ / resnet18"]
    assert (far["diff"], far["ci_low"], far["ci_high"]) == pytest.approx((1.5, 1.5, 1.5))
    assert json.loads(cells.loc["cifar10+ / resnet18", "published"]) == {"the same within": 0.3}
    assert "(the floor)" in cells.loc["cifar10+ / resnet18", "reason"]
    table, _ = evaluate_claims(
        [dict(equivalent, datasets=["cifar10+"])], both, PUBLISHED.iloc[0:0], {"p": "best", "p_bf16": "best"}, grid
    )
    assert table.iloc[0]["verdict"] == "holds" and table.iloc[0]["cells_total"] == 1


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"kind": "lower", "method": "a"}, "study.yaml, claim 1: 'than' is required: lower: the method it beats"),
        (
            {"kind": "sideways"},
            "study.yaml, claim 1: kind: 'sideways' is not valid; valid: lower, best, ranking, equivalent",
        ),
        (
            {"kind": "equivalent", "method": "a", "protocols": ["p"], "margin": {"value": 0.3, "reason": "r"}},
            "claim 1: protocols: ['p'] is too short; e.g. protocols: [reference, variant]",
        ),
        (
            {"kind": "equivalent", "method": "a", "protocols": ["p", "q"], "margin": 0.3},
            "claim 1: margin: got 0.3; expected a mapping; e.g. margin: {value: 0.3, reason: <why>}",
        ),
        (
            {"kind": "equivalent", "method": "a", "protocols": ["p", "q"]},
            "claim 1: 'margin' is required: equivalent: the largest difference",
        ),
        ({"kind": "best", "method": "a", "among": []}, "claim 1: among: [] should be non-empty"),
        (
            {"kind": "lower", "method": "a", "than": "b", "wherever": 1},
            "claim 1: unknown key(s) wherever; valid keys: claim, source, kind",
        ),
        (
            {"kind": "lower", "method": "a", "than": "b", "gain_margin": {"relative": 0.5}},
            "claim 1: gain_margin: 'reason' is required: Why this margin",
        ),
        (
            {"kind": "best", "method": "a", "among": ["b"], "gain_margin": {"value": 1, "reason": "r"}},
            "lower claims only",
        ),
    ],
)
def test_malformed_claims_are_refused(bad, message):
    with pytest.raises(ClaimError, match=re.escape(message)):
        check_claim(claim(**bad), "study.yaml, claim 1")
