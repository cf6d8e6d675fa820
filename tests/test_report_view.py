"""The report's view model (augrepro.report.view): numbers from the comparison, labels from the registries, the
layout from the study's config; and the one place numbers become text (augrepro.report.format)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from augrepro.data.datasets import DATASETS, dataset_label
from augrepro.models.registry import MODELS, model_label
from augrepro.registry import Registry
from augrepro.report import format as fmt
from augrepro.report.claims import claims_of
from augrepro.report.tables import comparison_tables
from augrepro.report.values import Estimate
from augrepro.report.view import study_sections
from augrepro.results.compare import compare as compare_with_margins
from augrepro.results.margins import check_rules
from augrepro.results.published import load_published
from augrepro.results.verdicts import study_verdicts
from augrepro.studies import select_from_config
from augrepro.studies.protocols import ConfigError
from augrepro.studies.study import parse_study

REPO = Path(__file__).resolve().parents[1]


def published(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "source": "T",
                "protocol": "p",
                "dataset": d,
                "traditional": t,
                "model": m,
                "augmentation": a,
                "epochs": 200,
                "metric": "top1_error",
                "mean": mean,
                "std": 0.1,
                "runs": 5.0,
                "note": "",
                "reported": "",
            }
            for d, t, m, a, mean in rows
        ]
    )


def summary(rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "protocol": "p",
                "dataset": d,
                "traditional": t,
                "model": m,
                "augmentation": a,
                "method": a,
                "variant": None,
                "n": 5,
                "epochs": 200,
                "best_top1_error_mean": mean,
                "best_top1_error_std": 0.1,
                "final_top1_error_mean": mean + 0.2,
                "median_last10_top1_error_mean": mean + 0.1,
                "hours_mean": 1.0,
            }
            for d, t, m, a, mean in rows
        ]
    )


PUBLISHED = published(
    [
        ("cifar10", True, "resnet18", "baseline", 4.7),
        ("cifar10", True, "resnet18", "cutmix", 3.8),
        ("cifar10", True, "resnet50", "baseline", 4.5),
        ("cifar100", True, "resnet18", "baseline", 22.0),
    ]
)
OURS = summary([("cifar10", True, "resnet18", "baseline", 4.75), ("cifar10", True, "resnet50", "baseline", 4.1)])
MARGIN = check_rules({"sd": 2, "reason": "two run-to-run stds"}, "test")


def compare(ours, cells):
    return compare_with_margins(ours, cells, MARGIN)


def test_a_cell_holds_the_numbers_of_its_comparison_row():
    comparison = compare(OURS, PUBLISHED)
    (table,) = comparison_tables(comparison)
    row = comparison.set_index(["model", "augmentation", "dataset"]).loc[("resnet18", "baseline", "cifar10")]
    (entry,) = table.rows[0].cells[0].entries
    assert entry.ours == Estimate(row["ours_mean"], row["ours_std"]) and entry.n == 5
    assert entry.published == Estimate(4.7, 0.1) and entry.published_epochs == 200
    assert entry.diff == pytest.approx(0.05) and entry.margin == row["margin"] == pytest.approx(0.2)
    assert entry.margin_in_sd == pytest.approx(2.0) and "two run-to-run stds" in entry.margin_reason
    assert entry.published_side == "sample" and entry.published_runs == 5 and not entry.published_runs_assumed
    assert entry.interval == (row["ci_low"], row["ci_high"]) and entry.verdict == row["verdict"]
    assert entry.ours_final == pytest.approx(4.95) and entry.ours_median10 == pytest.approx(4.85)
    assert entry.compared == "best epoch" and entry.tested
    # a published cell without runs of ours: its published numbers, no test
    missing = table.rows[0].cells[1].entries[0]  # CIFAR-100+
    assert missing.verdict == "missing" and not missing.tested and math.isnan(missing.ours.mean)
    assert missing.published == Estimate(22.0, 0.1)
    # the paper has no ResNet-50 cutmix or CIFAR-100 ResNet-50 cell: an empty cell
    assert [r.method for r in table.rows] == ["baseline", "cutmix", "baseline"] and table.rows[2].cells[1] is None


def test_labels_come_from_the_registries():
    (table,) = comparison_tables(compare(OURS, PUBLISHED))
    assert table.columns == (DATASETS["cifar10"].label + "+", DATASETS["cifar100"].label + "+")
    assert table.rows[0].model == MODELS.label("resnet18") == "ResNet-18"
    assert table.metrics == ("top-1 error (%)",)
    assert model_label("resnet34") == "ResNet-34"  # torchvision's (ImageNet-style only)
    assert model_label("no_such_model") == "no_such_model"
    # "+" only where the traditional augmentation is a choice (the CIFAR-style tables)
    assert dataset_label("tinyimagenet", True) == "TinyImageNet-200" and dataset_label("demo", True) == "demo+"
    registry = Registry("thing")
    registry.register("a", label="Thing A")(object)
    registry.register("b")(object)
    assert registry.label("a") == "Thing A" and registry.label("b") == "b"
    with pytest.raises(KeyError, match="valid things: a, b"):
        registry.label("c")


def test_the_layout_is_the_one_given_not_guessed():
    """One dataset, two models: the same comparison in both layouts."""
    comparison = compare(OURS, PUBLISHED[PUBLISHED["dataset"] == "cifar10"])
    (by_dataset,) = comparison_tables(comparison)
    assert by_dataset.layout == "datasets" and by_dataset.columns == ("CIFAR-10+",)
    assert [(r.model, r.method) for r in by_dataset.rows] == [
        ("ResNet-18", "baseline"),
        ("ResNet-18", "cutmix"),
        ("ResNet-50", "baseline"),
    ]
    (by_model,) = comparison_tables(comparison, {"T": "models"})
    assert by_model.columns == ("ResNet-18", "ResNet-50") and by_model.heading == "CIFAR-10+, top-1 error (%)"
    assert [r.method for r in by_model.rows] == ["baseline", "cutmix"]
    assert by_model.rows[0].cells[1].entries[0].ours.mean == pytest.approx(4.1)
    assert by_model.rows[1].cells[1] is None
    # several datasets in the models layout: a column per model and dataset
    (wide,) = comparison_tables(compare(OURS, PUBLISHED), {"T": "models"})
    assert wide.columns == ("ResNet-18 CIFAR-10+", "ResNet-50 CIFAR-10+", "ResNet-18 CIFAR-100+")
    with pytest.raises(ValueError, match="valid layouts: datasets, models"):
        comparison_tables(comparison, {"T": "sideways"})


def test_the_layout_comes_from_the_study_config():
    studies = select_from_config({"studies": ["salfmix_table4", "salfmix_table9"]}, REPO).describe()
    layouts = {s["name"]: s["layout"] for s in studies["studies"] if s["status"] == "chosen"}
    assert layouts == {"salfmix_table4": {"salfmix_table4.csv": "models"}, "salfmix_table9": {}}
    empty = pd.DataFrame()
    published = load_published(REPO / "resources/published")
    verdicts = {
        s["name"]: study_verdicts(s, published, empty, empty) for s in studies["studies"] if s["status"] == "chosen"
    }
    sections = study_sections(studies, verdicts, published, empty, empty, empty)
    tables = {s.name: s.tables for s in sections}
    assert sections[0].margins[0].startswith("2 x the run-to-run std of one run in the cell's column: a mean within")
    assert sections[0].published_side.startswith("a std printed without a run count is taken over 3 runs")
    assert [t.layout for t in tables["salfmix_table4"]] == ["models"]
    assert tables["salfmix_table4"][0].columns == ("PreActResNet-18", "PreActResNet-50", "PreActResNet-101")
    assert [t.layout for t in tables["salfmix_table9"]] == ["datasets"]
    assert tables["salfmix_table9"][0].columns == ("CIFAR-10+", "CIFAR-100+", "TinyImageNet-200")


@pytest.mark.parametrize(
    "layout, message",
    [
        ("sideways", "layout: 'sideways' is not valid; valid: datasets, models"),
        ({"other.csv": "models"}, "not one of the study's published files"),
        (["models"], "layout: ['models'] is not of type 'string', 'object'"),
    ],
)
def test_a_bad_layout_is_refused(layout, message):
    raw = {
        "title": "t",
        "source": "s",
        "published": ["t.csv"],
        "protocol": "p",
        "datasets": ["cifar10"],
        "models": ["resnet18"],
        "augmentations": ["baseline"],
        "seeds": [0],
        "layout": layout,
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_study("t", raw, "t.yaml")
    assert parse_study("t", {**raw, "layout": "models"}, "t.yaml").layout == {"t.csv": "models"}


def test_numbers_become_text_in_one_place():
    assert fmt.estimate(Estimate(7.594, 0.2213)) == "7.59 ± 0.22"
    assert fmt.estimate(Estimate(7.594)) == "7.59" and fmt.estimate(Estimate(math.nan, 0.1)) == "–"
    assert fmt.number(1.23456, 3) == "1.235" and fmt.number(None) == "–"
    assert fmt.signed(0.28) == "+0.28" and fmt.signed(-1.1) == "-1.10" and fmt.signed(math.nan) == "–"
    assert fmt.interval((-0.123, 0.31)) == "[-0.12, +0.31]" and fmt.interval(None) == ""
    assert fmt.margin(0.3) == "±0.30" and fmt.margin(math.nan) == ""
    assert fmt.value_text({"torch": "2.4.0", "x": None}) == "torch 2.4.0" and fmt.value_text(["a", "b"]) == "a, b"
    assert fmt.sigmas(2.0) == " = 2 σ" and fmt.sigmas(math.nan) == ""
    assert fmt.values((("saliencymix", 3.65), ("cutmix", math.nan))) == "saliencymix 3.65, cutmix –"


def test_claims_come_from_the_claim_files_with_their_numbers():
    studies = select_from_config({"studies": ["saliencymix_cifar"]}, REPO).describe()
    study = studies["studies"][0]
    published = load_published(REPO / "resources/published")
    runs = pd.DataFrame(
        [
            {
                "protocol": "saliencymix_cifar",
                "dataset": "cifar10",
                "traditional": True,
                "model": "resnet18",
                "augmentation": a,
                "method": a,
                "variant": None,
                "seed": s,
                "best_top1_error": v + 0.02 * s,
                "final_top1_error": v + 0.02 * s,
            }
            for a, v in (("saliencymix", 3.6), ("cutmix", 3.8), ("cutout", 4.0), ("baseline", 4.7))
            for s in range(5)
        ]
    )
    claims = claims_of(study_verdicts(study, published, pd.DataFrame(), runs))
    lower = claims[0]
    assert lower.kind == "lower" and lower.cells_total == 12 and len(lower.cells) == 1
    cell = lower.cells[0]
    assert cell.published == (("saliencymix", 3.65), ("cutmix", 3.78)) and cell.ours[0][1] == pytest.approx(3.64)
    assert cell.interval == pytest.approx((-0.2, -0.2)) and cell.verdict == "holds"
    assert cell.gain_published == pytest.approx(0.13) and cell.gain_margin == pytest.approx(0.065)
    assert lower.verdict == "inconclusive"  # 11 of its 12 cells not run
