"""The report's view model (augrepro.report.view): numbers from the comparison, labels from the registries, the
layout from the study's config; and the one place numbers become text (augrepro.report.format)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from augrepro.data.datasets import DATASETS, dataset_label
from augrepro.models.registry import MODELS, model_label
from augrepro.registry import Registry
from augrepro.report import format as fmt
from augrepro.report.view import Estimate, comparison_tables, study_sections
from augrepro.results.compare import compare, load_published
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


def test_a_cell_holds_the_numbers_of_its_comparison_row():
    comparison = compare(OURS, PUBLISHED)
    (table,) = comparison_tables(comparison)
    row = comparison.set_index(["model", "augmentation", "dataset"]).loc[("resnet18", "baseline", "cifar10")]
    (entry,) = table.rows[0].cells[0].entries
    assert entry.ours == Estimate(row["ours_mean"], row["ours_std"]) and entry.n == 5
    assert entry.published == Estimate(4.7, 0.1) and entry.published_epochs == 200
    assert entry.diff == pytest.approx(0.05) and entry.delta == row["delta"]
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
    sections, _ = study_sections(studies, load_published(REPO / "resources/published"), empty, empty, empty, None)
    tables = {s.name: s.tables for s in sections}
    assert [t.layout for t in tables["salfmix_table4"]] == ["models"]
    assert tables["salfmix_table4"][0].columns == ("PreActResNet-18", "PreActResNet-50", "PreActResNet-101")
    assert [t.layout for t in tables["salfmix_table9"]] == ["datasets"]
    assert tables["salfmix_table9"][0].columns == ("CIFAR-10+", "CIFAR-100+", "TinyImageNet-200")


@pytest.mark.parametrize(
    "layout, message",
    [
        ("sideways", "valid layouts: datasets, models"),
        ({"other.csv": "models"}, "not one of the study's published files"),
        (["models"], "expected one of datasets, models"),
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
    with pytest.raises(ConfigError, match=message):
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
    assert fmt.margin_text({"value": 1, "reason": "why"}) == "±1 points on every cell: why"
