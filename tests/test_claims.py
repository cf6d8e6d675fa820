"""The papers' claims on hand-made per-seed runs: a claim that holds, one that fails, one that cannot be decided."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augrepro.results.claims import evaluate_claims
from augrepro.studies.protocols import ConfigError
from augrepro.studies.study import check_claim

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
    holds, fails = evaluate_claims(
        [
            claim(kind="lower", method="saliencymix", than="cutmix"),
            claim(kind="lower", method="saliencymix", than="baseline"),
        ],
        runs,
        PUBLISHED,
        {"p": "best"},
        GRID,
    )
    assert holds["verdict"] == "holds" and [c["verdict"] for c in holds["cells"]] == ["holds", "holds"]
    assert "3.65 vs 3.80" in holds["cells"][0]["published"] and "(5 seeds)" in holds["cells"][0]["ours"]
    assert fails["verdict"] == "fails"  # our baseline is better than our SaliencyMix
    few = runs_frame({("cifar10+", "saliencymix"): [3.6, 3.9], ("cifar10+", "cutmix"): [3.8, 3.7]})
    (undecided,) = evaluate_claims(
        [claim(kind="lower", method="saliencymix", than="cutmix")], few, PUBLISHED, {"p": "best"}, GRID
    )
    assert undecided["verdict"] == "inconclusive"  # two noisy seeds, and the CIFAR-100 cell not run at all
    assert undecided["cells_total"] == 2 and len(undecided["cells"]) == 1
    (nothing,) = evaluate_claims(
        [claim(kind="lower", method="saliencymix", than="cutmix")], runs_frame({}), PUBLISHED, {"p": "best"}, GRID
    )
    assert nothing["verdict"] == "not run"


def test_best_of_and_ranking_claims():
    runs = runs_frame(
        {
            ("cifar10+", "saliencymix"): noisy(3.6),
            ("cifar10+", "cutmix"): noisy(3.9),
            ("cifar10+", "baseline"): noisy(4.8),
        }
    )
    best, ranking, reversed_ = evaluate_claims(
        [
            claim(kind="best", method="saliencymix", among=["baseline", "cutmix"], datasets=["cifar10+"]),
            claim(kind="ranking", methods=["baseline", "cutmix", "saliencymix"], datasets=["cifar10+"]),
            claim(kind="best", method="baseline", among=["cutmix", "saliencymix"], datasets=["cifar10+"]),
        ],
        runs,
        PUBLISHED,
        {"p": "best"},
        GRID,
    )
    assert best["verdict"] == "holds"
    assert ranking["cells"][0]["published"] == "saliencymix < cutmix < baseline"
    assert "Kendall's tau +1.00" in ranking["cells"][0]["interval"]
    assert reversed_["verdict"] == "fails"


def test_a_claim_about_an_alias_uses_the_alias_runs():
    """In an ablation study without published cells, a claim names an alias (sm_paper): its own runs, not the
    registered method's."""
    runs = runs_frame({("cifar10+", "sm_paper"): noisy(3.5), ("cifar10+", "saliencymix"): noisy(3.9)})
    (result,) = evaluate_claims(
        [claim(kind="lower", method="sm_paper", than="saliencymix", datasets=["cifar10+"])],
        runs,
        PUBLISHED.iloc[0:0],
        {"p": "best"},
        GRID,
    )
    assert result["verdict"] == "holds"


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
    (result,) = evaluate_claims(
        [check_claim(equivalent, "numerics.yaml, claim 1")],
        pd.concat([rows, variant], ignore_index=True),
        PUBLISHED.iloc[0:0],
        {"p": "best", "p_bf16": "best"},
        grid,
    )
    cells = {c["cell"]: c for c in result["cells"]}
    assert result["cells_total"] == 2 and cells["cifar10+ / resnet18"]["verdict"] == "holds"
    assert cells["cifar100+ / resnet18"]["verdict"] == "fails" and result["verdict"] == "fails"
    assert "p_bf16 - p: [+1.50, +1.50]" in cells["cifar100+ / resnet18"]["interval"]
    assert "within ±0.3 (the floor)" in cells["cifar10+ / resnet18"]["published"]
    (one,) = evaluate_claims(
        [dict(equivalent, datasets=["cifar10+"])],
        pd.concat([rows, variant], ignore_index=True),
        PUBLISHED.iloc[0:0],
        {"p": "best", "p_bf16": "best"},
        grid,
    )
    assert one["verdict"] == "holds" and one["cells_total"] == 1


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"kind": "lower", "method": "a"}, "needs 'than'"),
        ({"kind": "sideways"}, "valid kinds: lower, best, ranking, equivalent"),
        (
            {"kind": "equivalent", "method": "a", "protocols": ["p"], "margin": {"value": 0.3, "reason": "r"}},
            "compares two protocols",
        ),
        ({"kind": "equivalent", "method": "a", "protocols": ["p", "q"], "margin": 0.3}, "margin is 0.3; expected"),
        ({"kind": "equivalent", "method": "a", "protocols": ["p", "q"]}, "needs 'margin'"),
        ({"kind": "best", "method": "a", "among": []}, "'among' must be a non-empty list"),
        ({"kind": "lower", "method": "a", "than": "b", "wherever": 1}, "unknown key(s) wherever"),
    ],
)
def test_malformed_claims_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_claim(claim(**bad), "study.yaml, claim 1")
