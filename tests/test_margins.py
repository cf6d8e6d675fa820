"""Margins declared by the studies (augrepro.results.margins) and the published side they assume
(augrepro.results.assumptions): the rules, their noise figures, and the refusals before any run."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from augrepro.results.assumptions import AssumptionError, Assumptions
from augrepro.results.margins import MarginError, check_rules, column_noise, resolve_margins
from augrepro.results.published import load_published
from augrepro.results.scope import dataset_test_images
from augrepro.studies import ConfigError, select_from_config

ROOT = Path(__file__).resolve().parents[1]


def cells(rows: list[dict]) -> pd.DataFrame:
    base = {"file": "t.csv", "source": "T", "protocol": "p", "dataset": "cifar10", "traditional": True}
    base |= {"model": "resnet18", "metric": "top1_error", "std": math.nan, "runs": math.nan}
    return pd.DataFrame([base | r for r in rows])


def test_sd_rule_uses_the_root_mean_square_of_the_columns_printed_stds():
    frame = cells([{"augmentation": "a", "mean": 4.7, "std": 0.3}, {"augmentation": "b", "mean": 3.6, "std": 0.1}])
    margins = resolve_margins(check_rules({"sd": 2, "reason": "r"}, "s"), frame, dataset_test_images, "s")
    sigma = math.sqrt((0.3**2 + 0.1**2) / 2)
    assert [m.value for m in margins] == pytest.approx([2 * sigma, 2 * sigma])
    assert margins[0].in_sd == pytest.approx(2.0) and "root mean square of the 2 std" in margins[0].sigma_source
    assert margins[0].text.startswith("±") and margins[0].text.endswith("; r")


def test_without_a_printed_std_the_binomial_bound_of_the_test_set():
    frame = cells([{"augmentation": "a", "mean": 4.72}, {"augmentation": "b", "mean": 4.72}])
    noise = column_noise(frame, 10_000)
    assert noise.sigma == pytest.approx(100 * math.sqrt(0.0472 * 0.9528 / 10_000))
    assert noise.sigma == pytest.approx(0.21, abs=0.005)  # what the SaliencyMix table prints for this cell
    assert "binomial bound" in noise.source and "Jordan" in noise.source
    imagenet = cells([{"augmentation": "a", "mean": 23.68, "dataset": "imagenet"}])
    assert column_noise(imagenet, dataset_test_images("imagenet")).sigma == pytest.approx(
        100 * math.sqrt(0.2368 * 0.7632 / 50_000)
    )


def test_detection_noise_comes_from_mocos_readme_and_fgsm_has_none():
    frame = cells([{"augmentation": "a", "mean": 78.0, "metric": "map75", "dataset": "imagenet"}])
    assert column_noise(frame, 50_000).sigma == 0.4 and "MoCo" in column_noise(frame, 50_000).source
    fgsm = cells([{"augmentation": "a", "mean": 31.0, "metric": "fgsm_top1_accuracy"}])
    assert column_noise(fgsm, 50_000) is None
    with pytest.raises(MarginError, match="sd cannot apply.*declare a rule with value"):
        resolve_margins(check_rules({"sd": 2, "reason": "r"}, "s"), fgsm, dataset_test_images, "study x")
    fixed = resolve_margins(check_rules({"value": 1.0, "reason": "r"}, "s"), fgsm, dataset_test_images, "s")
    assert fixed[0].value == 1.0 and math.isnan(fixed[0].in_sd)


def test_rules_apply_in_order_with_selectors_and_relative_margins():
    frame = cells(
        [
            {"augmentation": "a", "mean": 0.8, "metric": "hours"},
            {"augmentation": "a", "mean": 4.7, "std": 0.2},
            {"augmentation": "a", "mean": 30.0, "std": 0.5, "dataset": "cifar100"},
        ]
    )
    rules = check_rules(
        [
            {"metric": "hours", "relative": 0.25, "reason": "gpu"},
            {"datasets": ["cifar100+"], "value": 0.7, "reason": "fixed"},
            {"sd": 2, "reason": "noise"},
        ],
        "s",
    )
    values = [m.value for m in resolve_margins(rules, frame, dataset_test_images, "s")]
    assert values == pytest.approx([0.2, 0.4, 0.7])
    with pytest.raises(MarginError, match="no margin rule covers the published cell t.csv: resnet18 / cifar10\\+"):
        resolve_margins(
            check_rules([{"metric": "hours", "relative": 0.25, "reason": "r"}], "s"), frame, dataset_test_images, "s"
        )


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"sd": 2}, "x.yaml: margin: 'reason' is required: Why this margin, stated before any run"),
        ({"sd": 2, "value": 1, "reason": "r"}, "x.yaml: margin: give exactly one of sd, value, relative"),
        ({"sd": -1, "reason": "r"}, "x.yaml: margin.sd: got -1; expected a finite number > 0"),
        (
            {"sd": 2, "reason": "r", "claimed": {}},
            "x.yaml: margin: unknown key(s) claimed; valid keys: sd, value, relative, reason, metric",
        ),
        ({"sd": 2, "reason": "r", "models": "resnet18"}, "x.yaml: margin.models: got 'resnet18'; expected a list"),
        ("wide", "x.yaml: margin: 'wide' is not of type 'object', 'array'; e.g. margin: {sd: 2, reason: <why>}"),
    ],
)
def test_malformed_margins_are_refused_naming_the_key(raw, message):
    with pytest.raises(MarginError, match=re.escape(message)):
        check_rules(raw, "config/studies/x.yaml")


def test_assumptions_of_the_published_side():
    default = Assumptions()
    assert default.side(20.0, 0.3, math.nan, "top1_error").runs == 2  # a std without a count: 2 runs, assumed
    assert default.side(20.0, 0.3, math.nan, "top1_error").runs_assumed
    assert default.side(20.0, math.nan, math.nan, "top1_error").kind == "draws"  # one published run
    assert default.side(20.0, math.nan, 3, "map50").runs == 3
    assert default.side(20.0, 0.3, 5, "top1_error").kind == "sample"
    declared = Assumptions.parse(
        {"runs": {"count": 3, "plausible": [2, 5], "reason": "r"}, "exact": {"metrics": ["hours"], "reason": "gpu"}},
        "s",
        ("top1_error", "hours"),
    )
    assert declared.plausible == (3, 2, 5)
    assert declared.side(0.8, math.nan, math.nan, "hours").kind == "exact"
    assert declared.side(20.0, 0.3, math.nan, "top1_error", assumed_runs=5).runs == 5
    with pytest.raises(AssumptionError, match="s: published_side.runs.count: got 1; expected an integer >= 2"):
        Assumptions.parse({"runs": {"count": 1, "reason": "r"}}, "s")
    with pytest.raises(
        AssumptionError, match="s: published_side.exact.reason: '' is empty; give it: Why these published"
    ):
        Assumptions.parse({"exact": {"metrics": ["hours"], "reason": ""}}, "s")


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for item in ("config", "resources"):
        shutil.copytree(ROOT / item, project / item)
    return project


def test_a_study_without_margins_is_refused_before_any_run(tmp_path):
    project = _project(tmp_path)
    path = project / "config/studies/saliencymix_cifar.yaml"
    study = yaml.safe_load(path.read_text())
    del study["margin"]
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(
        ConfigError, match="saliencymix_cifar.yaml: the study answers 51 published cells but declares no"
    ):
        select_from_config({"studies": ["demo"]}, project)


def test_every_study_declares_its_margins_with_a_reason():
    """Every study with published cells declares margins; each rule has its reason (checked when loading), and every
    cell of every study resolves to a margin (the plan's selection loads them all)."""
    selection = select_from_config({"studies": "all", "data": {"imagenet_path": str(ROOT)}}, ROOT)
    published = load_published(ROOT / "resources/published")
    for entry in selection.describe()["studies"]:
        if set(entry["published"]) & set(published["file"]):
            assert entry["margin"], entry["name"]
            assert all(rule["reason"].strip() for rule in entry["margin"])
