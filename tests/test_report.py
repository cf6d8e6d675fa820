import math
import re
from pathlib import Path

import pandas as pd
import pytest

from augrepro.report.render import build_report
from augrepro.results.compare import compare, load_published, unmatched

REPO = Path(__file__).resolve().parents[1]
PUBLISHED_DIR = REPO / "resources" / "published"


def published_cells(rows):
    return pd.DataFrame(
        [
            {
                "source": "test",
                "dataset": d,
                "traditional": t,
                "model": m,
                "augmentation": a,
                "epochs": 200,
                "metric": "top1_error",
                "mean": mean,
                "std": std,
            }
            for d, t, m, a, mean, std in rows
        ]
    )


def summary_rows(rows):
    return pd.DataFrame(
        [
            {
                "dataset": d,
                "traditional": t,
                "model": m,
                "augmentation": a,
                "method": a,
                "variant": None,
                "n": n,
                "epochs": 200,
                "best_top1_error_mean": mean,
                "best_top1_error_std": std,
                "final_top1_error_mean": mean + 0.1,
                "median_last10_top1_error_mean": mean + 0.05,
                "hours_mean": 1.0,
            }
            for d, t, m, a, mean, std, n in rows
        ]
    )


# --- compare() verdicts -------------------------------------------------------------

def test_compare_verdicts():
    published = published_cells(
        [
            ("cifar10", True, "resnet18", "baseline", 4.72, 0.21),
            ("cifar10", True, "resnet18", "cutout", 3.99, 0.13),
            ("cifar10", True, "resnet18", "cutmix", 3.78, 0.12),
            ("cifar10", True, "resnet18", "saliencymix", 3.65, 0.10),
        ]
    )
    # se for baseline: sqrt(0.2^2/4 + 0.21^2/5) = 0.1433 -> 2se = 0.2866
    summary = summary_rows(
        [
            ("cifar10", True, "resnet18", "baseline", 4.90, 0.20, 4),  # diff +0.18: reproduced
            ("cifar10", True, "resnet18", "cutout", 3.50, 0.10, 3),  # diff -0.49: better
            ("cifar10", True, "resnet18", "cutmix", 4.50, 0.10, 3),  # diff +0.72: worse
        ]
    )
    out = compare(summary, published).set_index("augmentation")
    assert len(out) == 4
    assert out.loc["baseline", "verdict"] == "reproduced"
    assert out.loc["cutout", "verdict"] == "better"
    assert out.loc["cutmix", "verdict"] == "worse"
    assert out.loc["saliencymix", "verdict"] == "missing"
    assert out.loc["baseline", "n"] == 4
    assert out.loc["saliencymix", "n"] == 0
    assert out.loc["baseline", "diff"] == pytest.approx(0.18)
    assert out.loc["baseline", "tolerance"] == pytest.approx(2 * math.sqrt(0.04 / 4 + 0.0441 / 5))
    assert out.loc["baseline", "ours_final_mean"] == pytest.approx(5.0)
    assert out.loc["baseline", "published_mean"] == pytest.approx(4.72)


def test_compare_boundary_is_two_se():
    published = published_cells([("cifar10", False, "resnet18", "baseline", 10.0, 0.5)])
    two_se = 2 * math.sqrt(0.5**2 / 5)  # ours n=1: our std term dropped
    inside = compare(summary_rows([("cifar10", False, "resnet18", "baseline", 10.0 + two_se * 0.99, float("nan"), 1)]), published)
    outside = compare(summary_rows([("cifar10", False, "resnet18", "baseline", 10.0 + two_se * 1.01, float("nan"), 1)]), published)
    assert inside.loc[0, "verdict"] == "reproduced"
    assert outside.loc[0, "verdict"] == "worse"


def test_compare_missing_stds_use_half_point_tolerance():
    published = published_cells(
        [
            ("cifar100", True, "wrn28_10", "puzzlemix", 16.23, float("nan")),
            ("cifar100", True, "wrn28_10", "cutmix", 16.66, float("nan")),
        ]
    )
    summary = summary_rows(
        [
            ("cifar100", True, "wrn28_10", "puzzlemix", 16.60, float("nan"), 1),  # +0.37 <= 0.5
            ("cifar100", True, "wrn28_10", "cutmix", 16.00, float("nan"), 1),  # -0.66 < -0.5
        ]
    )
    out = compare(summary, published).set_index("augmentation")
    assert out.loc["puzzlemix", "verdict"] == "reproduced"
    assert out.loc["puzzlemix", "tolerance"] == pytest.approx(0.5)
    assert out.loc["cutmix", "verdict"] == "better"


def test_compare_only_our_std_when_published_std_missing():
    published = published_cells([("cifar100", True, "wrn28_10", "puzzlemix", 16.23, float("nan"))])
    # ours std 0.1, n=4 -> se 0.05, 2se 0.1; diff 0.3 -> worse (the 0.5 fallback would say reproduced)
    summary = summary_rows([("cifar100", True, "wrn28_10", "puzzlemix", 16.53, 0.1, 4)])
    out = compare(summary, published)
    assert out.loc[0, "verdict"] == "worse"
    assert out.loc[0, "tolerance"] == pytest.approx(0.1)


def test_compare_matches_on_method_and_traditional():
    published = published_cells([("cifar10", True, "resnet18", "saliencymix", 3.65, 0.10)])
    summary = summary_rows(
        [
            ("cifar10", False, "resnet18", "saliencymix", 3.65, 0.1, 3),  # wrong column
            ("cifar10", True, "resnet18", "salmix_official", 3.70, 0.1, 3),
            ("demo", False, "resnet18", "baseline", 50.0, 1.0, 2),
        ]
    )
    summary.loc[1, "method"] = "saliencymix"
    summary.loc[1, "variant"] = "official"
    out = compare(summary, published)
    assert len(out) == 1
    assert out.loc[0, "verdict"] == "reproduced"
    assert out.loc[0, "variant"] == "official"
    assert out.loc[0, "our_augmentation"] == "salmix_official"
    extra = unmatched(summary, published)
    assert sorted(extra["dataset"]) == ["cifar10", "demo"]


# --- published table ----------------------------------------------------------------

def test_published_table_cells():
    pub = load_published(PUBLISHED_DIR)
    cifar = pub[pub["source"] == "SaliencyMix ICLR 2021, CIFAR table"]
    # 4 ResNet-18 rows x 4 + 4 ResNet-50 rows x 4 + WRN: 4 full rows x 4 + AutoAugment 2 + PuzzleMix 1
    assert len(cifar) == 51
    assert (cifar["epochs"] == 200).all()
    assert (cifar["metric"] == "top1_error").all()

    def cell(model, aug, dataset, trad):
        sel = cifar[
            (cifar["model"] == model)
            & (cifar["augmentation"] == aug)
            & (cifar["dataset"] == dataset)
            & (cifar["traditional"] == trad)
        ]
        assert len(sel) == 1
        return sel.iloc[0]

    c = cell("wrn28_10", "saliencymix", "cifar100", True)
    assert (c["mean"], c["std"]) == (pytest.approx(16.56), pytest.approx(0.17))
    c = cell("resnet18", "baseline", "cifar10", True)
    assert (c["mean"], c["std"]) == (pytest.approx(4.72), pytest.approx(0.21))
    c = cell("wrn28_10", "puzzlemix", "cifar100", True)
    assert c["mean"] == pytest.approx(16.23) and math.isnan(c["std"])
    c = cell("resnet50", "baseline", "cifar10", False)
    assert (c["mean"], c["std"]) == (pytest.approx(12.14), pytest.approx(0.95))
    assert len(cifar[(cifar["augmentation"] == "autoaugment")]) == 2
    assert set(cifar["model"]) == {"resnet18", "resnet50", "wrn28_10"}


def test_load_published_names_missing_column(tmp_path):
    (tmp_path / "bad.csv").write_text(
        "source,dataset,traditional,model,augmentation,epochs,metric,mean\n"
        "x,cifar10,true,resnet18,baseline,200,top1_error,1.0\n"
    )
    with pytest.raises(ValueError) as err:
        load_published(tmp_path)
    assert "bad.csv" in str(err.value) and "std" in str(err.value)


# --- rendered report ----------------------------------------------------------------

EVIL = "<script>alert(1)</script>"


@pytest.fixture()
def report_html(tmp_path):
    summary = summary_rows(
        [
            ("cifar10", True, "resnet18", "baseline", 4.90, 0.20, 2),
            ("cifar10", True, "resnet18", EVIL, 3.0, 0.1, 2),
            ("demo", False, "resnet18", "baseline", 50.0, 1.0, 2),
        ]
    )
    summary.loc[0, "variant"] = None
    for col in ("final_top1_error_std", "median_last10_top1_error_std", "best_top5_error_mean", "best_top5_error_std"):
        summary[col] = 0.1
    runs = pd.DataFrame(
        [
            {"dataset": d, "traditional": t, "model": "resnet18", "augmentation": a, "method": a,
             "variant": None, "seed": s, "epochs": 5, "hours": 0.5, "device": dev, "device_name": name}
            for d, t, a in (("cifar10", True, "baseline"), ("cifar10", True, EVIL), ("demo", False, "baseline"))
            for s, dev, name in ((0, "cuda", "NVIDIA H100"), (1, "cpu", "cpu"))
        ]
    )
    curves = pd.DataFrame(
        [
            {"dataset": r.dataset, "traditional": r.traditional, "model": r.model,
             "augmentation": r.augmentation, "seed": r.seed, "epoch": e, "train_loss": 1.0 / e,
             "test_top1_error": 50.0 / e + r.seed, "test_top5_error": 10.0 / e}
            for r in runs.itertuples()
            for e in range(1, 6)
        ]
    )
    summary.to_csv(tmp_path / "summary.csv", index=False)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    curves.to_csv(tmp_path / "curves.csv", index=False)
    out = tmp_path / "report" / "report.html"
    build_report(
        tmp_path / "summary.csv",
        tmp_path / "runs.csv",
        tmp_path / "curves.csv",
        PUBLISHED_DIR,
        out,
        provenance={"code version": "abc123", "packages": {"torch": "2.4.0"}, "note": EVIL},
    )
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(report_html):
    assert re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", report_html, re.I) is None
    assert "http://" not in report_html and "https://" not in report_html
    assert "<link" not in report_html.lower()
    assert "<script" not in report_html.lower()
    assert "@import" not in report_html and "@font-face" not in report_html
    assert "<style>" in report_html
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', report_html)


def test_report_escapes_names(report_html):
    assert EVIL not in report_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_html


def test_report_content(report_html):
    # comparison laid out like the paper
    for col in ("CIFAR-10", "CIFAR-10+", "CIFAR-100", "CIFAR-100+"):
        assert f"<th>{col}</th>" in report_html
    assert "4.90 ± 0.20 (n=2)" in report_html
    assert "4.72 ± 0.21" in report_html
    assert "+0.18" in report_html
    assert 'class="reproduced"' in report_html
    assert "published 16.23, not run" in report_html  # missing cell, published std absent
    assert 'class="missing"' in report_html
    # verdict rule stated
    assert "2 se" in report_html
    # our runs without a published cell: demo dataset and the odd augmentation
    unmatched_section = report_html.split('id="unmatched"')[1].split("</section>")[0]
    assert "demo" in unmatched_section
    assert "50.00 ± 1.00" in unmatched_section
    # provenance
    prov = report_html.split('id="provenance"')[1]
    assert "abc123" in prov and "torch 2.4.0" in prov
    assert "number of runs</th><td>6" in prov
    assert "NVIDIA H100" in prov
    assert "total GPU hours</th><td>1.500" in prov
    assert "total CPU hours</th><td>1.500" in prov
