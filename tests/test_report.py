import re
from pathlib import Path

import pandas as pd
import pytest

from augrepro.report.build import build_report as build_page
from augrepro.results.assumptions import Assumptions
from augrepro.results.cells import unmatched
from augrepro.results.compare import compare
from augrepro.results.margins import check_rules
from augrepro.results.published import load_published
from augrepro.results.verdicts import write_chosen_verdicts
from augrepro.studies import select_from_config

REPO = Path(__file__).resolve().parents[1]
PUBLISHED_DIR = REPO / "resources" / "published"


def shipped_studies(imagenet_path: Path, names="all") -> dict:
    """What the report knows of the shipped studies (every one chosen, ImageNet's data and a folder of Stanford
    Cars' files pretended present)."""
    data = {"imagenet_path": str(imagenet_path), "local_dir": str(imagenet_path)}
    return select_from_config({"studies": names, "data": data}, REPO).describe()


def build_report(summary, runs, curves, published_dir, out, studies, **kw):
    """The workflow's last two steps: each chosen study's verdict files (rule verdicts), then the page (rule report)."""
    folder = Path(out).parent / "verdicts"
    write_chosen_verdicts(studies, summary, runs, published_dir, folder, kw.get("status_csv"))
    return build_page(summary, runs, curves, published_dir, out, studies, verdicts_dir=folder, **kw)


def published_cells(rows):
    return pd.DataFrame(
        [
            {
                "source": "test",
                "protocol": "p",
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
                "protocol": "p",
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

FIXED = check_rules({"value": 0.3, "reason": "a fixed margin for the test"}, "test")
SD2 = check_rules({"sd": 2, "reason": "two run-to-run stds"}, "test")


def test_compare_verdicts_tight_equal_far_and_one_seed():
    """The three outcomes on hand-made cells (published: 5 runs, std printed; margin 0.3)."""
    published = published_cells(
        [
            ("cifar10", True, "resnet18", "baseline", 4.72, 0.05),
            ("cifar10", True, "resnet18", "cutout", 3.99, 0.05),
            ("cifar10", True, "resnet18", "cutmix", 3.78, 0.05),
            ("cifar10", True, "resnet18", "saliencymix", 3.65, 0.05),
        ]
    )
    published["runs"] = 5.0
    summary = summary_rows(
        [
            ("cifar10", True, "resnet18", "baseline", 4.75, 0.05, 5),  # tight and equal: reproduced
            ("cifar10", True, "resnet18", "cutout", 3.10, 0.05, 5),  # tight and far below: better
            ("cifar10", True, "resnet18", "cutmix", 4.80, 0.05, 5),  # tight and far above: worse
        ]
    )
    out = compare(summary, published, FIXED).set_index("augmentation")
    assert out.loc["baseline", "verdict"] == "reproduced" and out.loc["baseline", "more_seeds"] == 0
    assert out.loc["cutout", "verdict"] == "better" and out.loc["cutmix", "verdict"] == "worse"
    assert out.loc["saliencymix", "verdict"] == "missing" and out.loc["saliencymix", "margin"] == 0.3
    # one seed: the published spread (0.2, 5 runs) stands in for ours; undecided, with the seeds that would decide it
    wide = published_cells([("cifar10", True, "resnet18", "saliencymix", 3.65, 0.2)]).assign(runs=5.0)
    ours = summary_rows([("cifar10", True, "resnet18", "saliencymix", 3.75, float("nan"), 1)])
    one = compare(ours, wide, check_rules({"value": 0.45, "reason": "r"}, "t")).iloc[0]
    assert one["verdict"] == "inconclusive" and one["seeds_to_decide"] > 1 and "80% power" in one["power"]
    assert out.loc["baseline", "margin"] == pytest.approx(0.3) and out.loc["baseline", "margin_rule"] == "value"
    assert out.loc["baseline", "ci_low"] < 0.03 < out.loc["baseline", "ci_high"]
    assert out.loc["baseline", "diff"] == pytest.approx(0.03)
    assert out.loc["baseline", "published_side"] == "sample" and out.loc["baseline", "published_runs_used"] == 5


def test_compare_agrees_with_the_cell_statistics_and_adjusts_a_tables_cells_together():
    """A single cell's verdict is stats.cell_equivalence's; among many cells the p-values are adjusted
    (Benjamini-Hochberg), so a barely equivalent cell alone can be inconclusive in a table of doubtful ones, and its
    reason and seeds say so."""
    from augrepro.results.stats import PublishedSide, cell_equivalence

    rule = check_rules({"value": 0.5, "reason": "r"}, "test")
    published = published_cells([("cifar100", True, "resnet18", "baseline", 22.0, 0.3)])
    published["runs"] = 5.0
    alone = summary_rows([("cifar100", True, "resnet18", "baseline", 22.1, 0.25, 5)])
    eq = cell_equivalence(22.1, 0.25, 5, PublishedSide(22.0, 0.3, 5), 0.5)
    row = compare(alone, published, rule).iloc[0]
    assert row["verdict"] == eq.outcome and row["p_equivalence"] == pytest.approx(eq.p_equivalence)
    assert eq.outcome == "reproduced" and 0.01 < eq.p_equivalence < 0.05
    others = [("cifar100", True, "resnet18", a, 22.0, 0.3) for a in ("m1", "m2", "m3")]
    table = published_cells([("cifar100", True, "resnet18", "baseline", 22.0, 0.3), *others])
    table["runs"] = 5.0
    doubtful = summary_rows(
        [("cifar100", True, "resnet18", "baseline", 22.1, 0.25, 5)]
        + [("cifar100", True, "resnet18", a, 22.45, 0.6, 5) for a in ("m1", "m2", "m3")]
    )
    adjusted = compare(doubtful, table, rule).set_index("augmentation")
    demoted = adjusted.loc["baseline"]
    assert demoted["p_equivalence_adjusted"] > demoted["p_equivalence"] == pytest.approx(row["p_equivalence"])
    assert demoted["verdict"] == "inconclusive" and demoted["verdict_unadjusted"] == "reproduced"
    # the demoted cell says so, and more seeds are counted (it is not "0 more seeds")
    assert demoted["reason"].startswith("inconclusive after the Benjamini-Hochberg adjustment over 4 cells")
    assert demoted["more_seeds"] != 0 and "levels the table's adjustment leaves this cell (0.0125" in demoted["power"]


def test_a_published_value_without_std_is_a_draw_and_exact_only_when_declared():
    published = published_cells([("cifar100", True, "wrn28_10", "puzzlemix", 16.23, float("nan"))])
    summary = summary_rows([("cifar100", True, "wrn28_10", "puzzlemix", 16.30, 0.1, 5)])
    row = compare(summary, published, FIXED).iloc[0]
    assert row["published_side"] == "draws" and row["published_runs_used"] == 1
    assert row["verdict"] == "inconclusive"  # one published run: its own noise widens the interval
    exact = compare(
        summary,
        published,
        FIXED,
        Assumptions.parse({"exact": {"metrics": ["top1_error"], "reason": "r"}}, "t"),
    ).iloc[0]
    assert exact["published_side"] == "exact" and exact["verdict"] == "reproduced"
    assert exact["ci_high"] - exact["ci_low"] < row["ci_high"] - row["ci_low"]


def test_a_std_without_a_run_count_is_a_sample_of_the_assumed_count_and_its_sensitivity_is_shown():
    published = published_cells(
        [("cifar10", True, "preactresnet18", a, 4.0, 0.08) for a in ("baseline", "cutout", "mixup")]
    )
    summary = summary_rows([("cifar10", True, "preactresnet18", a, 4.05, 0.05, 5) for a in ("baseline", "cutout")])
    assumptions = Assumptions.parse({"runs": {"count": 2, "plausible": [2, 5], "reason": "r"}}, "t")
    out = compare(summary, published, FIXED, assumptions).set_index("augmentation")
    base = out.loc["baseline"]
    assert base["published_runs_used"] == 2 and bool(base["published_runs_assumed"])
    # with two runs (one degree of freedom) the cell cannot be shown reproduced; with five it can
    assert base["verdict"] == "inconclusive"
    assert base["sensitivity"] == "changes with the assumed run count: 2 runs: inconclusive; 5 runs: reproduced"
    assert out.loc["mixup", "sensitivity"] != out.loc["mixup", "sensitivity"]  # not run: no sensitivity (NaN)


def test_the_sd_margin_uses_the_columns_printed_stds_and_says_so():
    published = published_cells(
        [
            ("cifar100", False, "resnet18", "baseline", 36.68, 0.57),
            ("cifar100", False, "resnet18", "saliencymix", 28.73, 0.13),
            ("cifar10", True, "resnet18", "baseline", 4.72, float("nan")),
        ]
    ).assign(runs=5.0)
    summary = summary_rows([("cifar100", False, "resnet18", "baseline", 37.0, 0.5, 5)])
    out = compare(summary, published, SD2, test_images=lambda d: 10_000).set_index(["dataset", "augmentation"])
    sigma = ((0.57**2 + 0.13**2) / 2) ** 0.5
    assert out.loc[("cifar100", "baseline"), "margin"] == pytest.approx(2 * sigma)
    assert out.loc[("cifar100", "baseline"), "margin_in_sd"] == pytest.approx(2.0)
    assert "root mean square of the 2 std(s)" in out.loc[("cifar100", "baseline"), "margin_reason"]
    assert "two run-to-run stds" in out.loc[("cifar100", "baseline"), "margin_reason"]
    binomial = out.loc[("cifar10", "baseline")]
    assert binomial["sigma"] == pytest.approx(100 * (0.0472 * 0.9528 / 10_000) ** 0.5)


def test_compare_hours_margin_is_a_quarter_of_the_published_time():
    published = published_cells([("cifar10", True, "resnet18", "baseline", 0.8, float("nan"))])
    published["metric"] = "hours"
    summary = summary_rows([("cifar10", True, "resnet18", "baseline", 4.0, 0.1, 3)])
    summary["hours_mean"] = [0.85]
    summary["hours_std"] = [0.01]
    quarter = check_rules({"relative": 0.25, "reason": "the GPU"}, "t")
    out = compare(summary, published, quarter)
    assert out.loc[0, "margin"] == pytest.approx(0.2) and out.loc[0, "verdict"] == "reproduced"
    summary["hours_mean"] = [0.5]
    assert compare(summary, published, quarter).loc[0, "verdict"] == "better"


def test_compare_failed_and_missing_cells_and_n_failed():
    published = published_cells(
        [
            ("cifar10", True, "resnet18", "baseline", 4.72, 0.21),
            ("cifar10", True, "resnet18", "saliencymix", 3.65, 0.10),
            ("cifar10", True, "resnet18", "cutmix", 3.78, 0.12),
        ]
    )
    summary = summary_rows([("cifar10", True, "resnet18", "baseline", 4.75, 0.2, 2)])
    status = pd.DataFrame(
        [
            {
                "protocol": "p",
                "dataset": "cifar10",
                "traditional": True,
                "model": "resnet18",
                "augmentation": a,
                "method": a,
                "variant": None,
                "seed": s,
                "epochs": 200,
                "status": st,
            }
            for a, s, st in (
                ("baseline", 0, "ok"),
                ("baseline", 1, "ok"),
                ("baseline", 2, "failed"),
                ("saliencymix", 0, "failed"),
                ("saliencymix", 1, "failed"),
                ("cutmix", 0, "missing"),
            )
        ]
    )
    out = compare(summary, published, FIXED, status=status).set_index("augmentation")
    assert out.loc["baseline", "verdict"] == "inconclusive"  # tested (two seeds: a wide interval)
    assert out.loc["baseline", "n"] == 2 and out.loc["baseline", "n_failed"] == 1
    assert out.loc["saliencymix", "verdict"] == "failed"
    assert out.loc["saliencymix", "n_failed"] == 2 and out.loc["saliencymix", "n"] == 0
    assert out.loc["cutmix", "verdict"] == "missing"


def test_a_cell_matches_only_its_own_protocol():
    """Two protocols with the same epochs (the released SaliencyMix CIFAR recipe and its batch-256 variant):
    a run of one never fills a cell of the other."""
    published = published_cells([("cifar10", True, "resnet18", "baseline", 4.72, 0.21)])
    published["protocol"] = "saliencymix_cifar"
    summary = summary_rows([("cifar10", True, "resnet18", "baseline", 4.75, 0.2, 5)])
    summary["protocol"] = "saliencymix_cifar_batch256"  # same epochs (200), another recipe
    out = compare(summary, published, FIXED)
    assert list(out["verdict"]) == ["missing"]
    assert len(unmatched(summary, published)) == 1
    summary["protocol"] = "saliencymix_cifar"
    assert list(compare(summary, published, FIXED)["n"]) == [5]
    assert unmatched(summary, published).empty


def test_the_protocols_reported_statistic_is_compared():
    """PuzzleMix's code reports the median of the last 10 epochs: a cell of its protocol is compared with
    our median of the last 10, not our best epoch; top-5 is taken at the best top-1 epoch."""
    published = published_cells([("cifar100", True, "preactresnet18", "hybridmix_v3", 18.96, 0.13)])
    summary = summary_rows([("cifar100", True, "preactresnet18", "hybridmix_v3", 18.0, 0.1, 3)])
    summary["median_last10_top1_error_std"] = 0.1
    out = compare(summary, published, FIXED, reported={"p": "median_last10"})
    assert out.loc[0, "ours_mean"] == pytest.approx(18.05) and out.loc[0, "reported"] == "median_last10"
    assert compare(summary, published, FIXED).loc[0, "ours_mean"] == pytest.approx(18.0)


def test_not_runnable_cells_say_why():
    published = published_cells([("cifar100", True, "wrn28_10", "puzzlemix", 16.23, float("nan"))])
    out = compare(summary_rows([]), published, FIXED, not_runnable={"puzzlemix": "needs a graph-cut solver"})
    assert out.loc[0, "verdict"] == "not runnable" and "graph-cut" in out.loc[0, "note"]


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
    out = compare(summary, published.assign(runs=5.0), FIXED)
    assert len(out) == 1
    assert out.loc[0, "verdict"] == "reproduced"
    assert out.loc[0, "variant"] == "official"
    assert out.loc[0, "our_augmentation"] == "salmix_official"
    extra = unmatched(summary, published)
    assert sorted(extra["dataset"]) == ["cifar10", "demo"]


# --- published tables: loading errors (contents: test_report_published.py) ---------------


def test_load_published_names_missing_column(tmp_path):
    (tmp_path / "bad.csv").write_text(
        "source,protocol,dataset,traditional,model,augmentation,epochs,metric,mean\n"
        "x,p,cifar10,true,resnet18,baseline,200,top1_error,1.0\n"
    )
    with pytest.raises(ValueError) as err:
        load_published(tmp_path)
    assert "bad.csv" in str(err.value) and "std" in str(err.value)


# --- rendered report ----------------------------------------------------------------

EVIL = "<script>alert(1)</script>"


def png_bytes(seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (16, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def report_html(tmp_path):
    # every shipped study is chosen but saliencymix_imagenet (skipped: no ImageNet) and the demo (not chosen);
    # the grids are widened to these test rows (resnet18 and an odd augmentation name)
    studies = shipped_studies(tmp_path, [n.stem for n in (REPO / "config/studies").glob("*.yaml") if n.stem != "demo"])
    for study in studies["studies"]:
        if study["name"] == "saliencymix_cifar":
            study["grid"] += [["saliencymix_cifar", "cifar10+", "resnet18", EVIL]]
        if study["name"] == "saliencymix_imagenet":
            study.update(status="skipped", reason="needs imagenet: set data.imagenet_path")
    studies["studies"].append(
        {
            **studies["studies"][0],
            "name": "mine",
            "title": "My demo study",
            "published": [],
            "grid": [["demo", "demo", "resnet18", "baseline"]],
            "protocols": {"demo": "demo"},
            "reported": {"demo": "best"},
            "not_runnable": {},
            "notes": "",
            "status": "chosen",
        }
    )
    summary = summary_rows(
        [
            ("cifar10", True, "resnet18", "baseline", 4.65, 0.10, 5),
            ("cifar10", True, "resnet18", EVIL, 3.0, 0.1, 2),
            ("demo", False, "resnet18", "baseline", 50.0, 1.0, 2),
        ]
    )
    # the ResNet-18 baseline cell is one the table quotes from the Cutout paper: runs of Cutout's recipe answer it
    summary["protocol"] = ["cutout_cifar", "saliencymix_cifar", "demo"]
    summary.loc[0, "variant"] = None
    for col in (
        "final_top1_error_std",
        "median_last10_top1_error_std",
        "top5_at_best_top1_error_mean",
        "top5_at_best_top1_error_std",
    ):
        summary[col] = 0.1
    runs = pd.DataFrame(
        [
            {
                "protocol": p,
                "dataset": d,
                "traditional": t,
                "model": "resnet18",
                "augmentation": a,
                "method": a,
                "variant": None,
                "seed": s,
                "epochs": 5,
                "hours": 0.5,
                "device": dev,
                "device_name": name,
                "numerics": numerics,
            }
            for p, d, t, a in (
                ("cutout_cifar", "cifar10", True, "baseline"),
                ("saliencymix_cifar", "cifar10", True, EVIL),
                ("demo", "demo", False, "baseline"),
            )
            for s, dev, name, numerics in ((0, "cuda", "NVIDIA H100", "bf16+channels_last"), (1, "cpu", "cpu", "fp32"))
        ]
    )
    curves = pd.DataFrame(
        [
            {
                "protocol": r.protocol,
                "dataset": r.dataset,
                "traditional": r.traditional,
                "model": r.model,
                "augmentation": r.augmentation,
                "seed": r.seed,
                "epoch": e,
                "train_loss": 1.0 / e,
                "test_top1_error": 50.0 / e + r.seed,
                "test_top5_error": 10.0 / e,
            }
            for r in runs.itertuples()
            for e in range(1, 6)
        ]
    )
    summary.to_csv(tmp_path / "summary.csv", index=False)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    curves.to_csv(tmp_path / "curves.csv", index=False)
    preview = tmp_path / "preview" / "cifar10" / "saliencymix.png"
    preview.parent.mkdir(parents=True)
    preview.write_bytes(png_bytes(0))
    absent = tmp_path / "preview" / "cifar10" / "cutmix.png"
    out = tmp_path / "report" / "report.html"
    build_report(
        tmp_path / "summary.csv",
        tmp_path / "runs.csv",
        tmp_path / "curves.csv",
        PUBLISHED_DIR,
        out,
        studies=studies,
        provenance={"code version": "abc123", "packages": {"torch": "2.4.0"}, "note": EVIL},
        previews=[preview, absent],
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html", "verdicts"]  # no temp file left
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(report_html):
    assert re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", report_html, re.I) is None
    assert "http://" not in report_html and "https://" not in report_html
    links = re.findall(r"<link[^>]*>", report_html, re.I)
    assert all('href="data:' in link for link in links), links  # only the empty data: favicon
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
    # ResNet-18 baseline on CIFAR-10+ is the Cutout paper's number: its final epoch (4.75) is compared, not the best
    assert "4.75 ± 0.10 (n=5)" in report_html and "compared: final epoch" in report_html
    assert "4.72 ± 0.21" in report_html
    assert "+0.03" in report_html and "(margin ±0.29 = 2 σ)" in report_html
    assert 'class="reproduced"' in report_html
    assert "published 16.23, not run" in report_html  # missing cell, published std absent
    assert 'class="missing"' in report_html
    # the verdict rule in three lines, its details folded under them, and the margins of each study
    rule = report_html.split('class="rule"')[1].split("</div>")[0]
    assert rule.count("<li>") == 3 and "<details" in rule
    assert "two one-sided tests" in rule and "Benjamini-Hochberg" in rule and "results/verdicts/" in rule
    assert "Margins and the published side, declared before any run" in report_html
    assert "2 x the run-to-run std of one run in the cell&#39;s column" in report_html
    # our runs without a published cell: the odd augmentation in its study, the demo in its own
    mine = report_html.split('id="study-mine"')[1].split("</section>")[0]
    assert "Our runs in this study without a published cell" in mine and "50.00 ± 1.00" in mine
    cifar = report_html.split('id="study-saliencymix_cifar"')[1].split("</section>")[0]
    assert "&lt;script&gt;" in cifar.split("without a published cell")[1]
    # a study skipped for lack of data is folded away with why; not-runnable cells say why
    assert "saliencymix_imagenet" in report_html.split('id="summary"')[1].split("</section>")[0]
    assert "needs imagenet: set data.imagenet_path" in report_html
    assert "not runnable: PuzzleMix needs a graph-cut" in cifar
    # provenance
    prov = report_html.split('id="provenance"')[1]
    assert "abc123" in prov and "torch 2.4.0" in prov
    assert "number of runs</th><td>6" in prov
    assert "NVIDIA H100" in prov
    assert "total GPU hours (wall hours x GPUs per run)</th><td>1.500" in prov
    assert "total CPU hours</th><td>1.500" in prov
    assert "bf16+channels_last: 3 runs, fp32: 3 runs" in prov
    # every chosen study's published table is shown, laid out like the paper
    assert "SalfMix Sensors 2021, Table 4 (CIFAR-10)" in report_html
    assert "<th>PreActResNet-101</th>" in report_html  # Table 4: columns are the models
    assert "hybridmix_v3 (1200 epochs)" in report_html
    # the figures, in the study's section: learning curves, ours vs published, the time table
    assert cifar.count('<img src="data:image/png;base64,') >= 2
    time_section = report_html.split('id="study-saliencymix_time"')[1].split("</section>")[0]
    assert "Training hours per method" in time_section


def test_report_has_one_section_per_chosen_study(report_html):
    summary = report_html.split('id="summary"')[1].split("</section>")[0]
    assert 'href="#study-saliencymix_cifar"' in summary and 'href="#study-salfmix_table4"' in summary
    assert 'id="study-saliencymix_imagenet"' not in report_html  # skipped: folded into the summary


def test_report_gallery_embeds_existing_previews(report_html):
    gallery = report_html.split('id="gallery"')[1].split("</section>")[0]
    assert gallery.count("<img") == 1
    assert "cifar10 / saliencymix" in gallery and "cutmix" not in gallery


def test_report_refuses_a_preview_that_is_not_png(tmp_path):
    summary = summary_rows([("cifar10", True, "resnet18", "baseline", 4.90, 0.20, 2)])
    summary.to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "runs.csv").write_text("")
    (tmp_path / "curves.csv").write_text("")
    bad = tmp_path / "bad.png"
    bad.write_text("<html>not a png</html>")
    with pytest.raises(ValueError, match="bad.png.*not a PNG"):
        build_report(
            tmp_path / "summary.csv",
            tmp_path / "runs.csv",
            tmp_path / "curves.csv",
            PUBLISHED_DIR,
            tmp_path / "out.html",
            studies=shipped_studies(tmp_path),
            previews=[bad],
        )
    assert not (tmp_path / "out.html").exists()


def test_report_with_no_runs_lists_every_cell_missing(tmp_path):
    for name in ("summary.csv", "runs.csv", "curves.csv"):
        (tmp_path / name).write_text("")
    comparison = build_report(
        tmp_path / "summary.csv",
        tmp_path / "runs.csv",
        tmp_path / "curves.csv",
        PUBLISHED_DIR,
        tmp_path / "out.html",
        studies=shipped_studies(tmp_path, [p.stem for p in (REPO / "config/studies").glob("*.yaml")]),
    )
    assert set(comparison["verdict"]) == {"missing", "not runnable"}
    assert len(comparison) == len(load_published(PUBLISHED_DIR))  # every cell of every table, once
    html = (tmp_path / "out.html").read_text()
    assert "0 of 320 runs done" in html  # the SaliencyMix CIFAR table with its Cutout-code cells


def test_figures_show_dollar_signs_as_text():
    from augrepro.report.figures import learning_curves

    curves = pd.DataFrame(
        [
            {
                "dataset": "cifar10",
                "traditional": True,
                "model": "m$x",
                "augmentation": "a$b^{c$",
                "seed": s,
                "epoch": e,
                "train_loss": 1.0,
                "test_top1_error": 10.0 / e + s,
                "test_top5_error": 1.0,
            }
            for s in (0, 1)
            for e in range(1, 4)
        ]
    )
    figures = learning_curves(curves)  # as mathtext, "$b^{c$" would raise (unbalanced brace)
    assert len(figures) == 1 and figures[0][0] == "CIFAR-10+ / m$x"  # (no protocol column: none in the title)


def test_an_alias_named_like_a_published_cell_is_compared_with_that_cell():
    """Table 9's "SalfMix w/o saliency" runs as an alias (method salfmix, saliency: false); its config
    name matches the published name. Other aliases (saliencymix_paper) match their method's cells."""
    import pandas as pd

    from augrepro.results.compare import compare

    published = pd.DataFrame(
        [
            dict(
                source="T9",
                protocol="salfmix",
                dataset="cifar10",
                traditional=True,
                model="preactresnet101",
                augmentation=a,
                epochs=300,
                metric="top1_error",
                mean=m,
                std=float("nan"),
            )
            for a, m in (("salfmix", 3.38), ("salfmix_nosaliency", 3.45), ("saliencymix", 2.82))
        ]
    )
    summary = pd.DataFrame(
        [
            dict(
                protocol="salfmix",
                dataset="cifar10",
                traditional=True,
                model="preactresnet101",
                augmentation=aug,
                method=method,
                variant=None,
                n=2,
                epochs=300,
                best_top1_error_mean=m,
                best_top1_error_std=0.1,
                final_top1_error_mean=m,
                median_last10_top1_error_mean=m,
                hours_mean=1.0,
            )
            for aug, method, m in (
                ("salfmix", "salfmix", 3.4),
                ("salfmix_nosaliency", "salfmix", 3.5),
                ("saliencymix_paper", "saliencymix", 2.9),
            )
        ]
    )
    table = compare(summary, published, FIXED)
    got = {(r.augmentation, round(r.ours_mean, 2)) for r in table.itertuples() if r.verdict != "missing"}
    assert got == {("salfmix", 3.4), ("salfmix_nosaliency", 3.5), ("saliencymix", 2.9)}
