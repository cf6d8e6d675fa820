"""Evaluation results in the tables: each run's FGSM accuracy and its detection mAPs (mean over detection
seeds) in runs.csv, mean and std over backbone seeds in summary.csv, compared with the published cells
(higher is better for these metrics)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_aggregate import SEED0, make_run

from augrepro.results.aggregate import RUN_COLUMNS, summarize, write_aggregate
from augrepro.results.compare import compare as compare_with_margins
from augrepro.results.margins import check_rules
from augrepro.results.metrics import HIGHER_IS_BETTER, metric_column
from augrepro.runs import EvalKey, RunKey, identity_record


def write_result(root, kind, recipe, key: RunKey, seed=None, **values):
    job = EvalKey(kind, recipe, key, seed)
    path = root / job.result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": identity_record(key, key.augmentation, None), **values}))
    return path


def test_runs_and_summary_carry_the_evaluations(tmp_path):
    runs_root = tmp_path / "results/runs"
    keys = [RunKey("saliencymix_imagenet", "imagenet+", "resnet50", "cutmix", s) for s in (0, 1)]
    dirs = [
        make_run(
            runs_root,
            SEED0,
            protocol=k.protocol,
            dataset="imagenet",
            model="resnet50",
            augmentation="cutmix",
            variant=None,
            seed=k.seed,
        )
        for k in keys
    ]
    other = make_run(runs_root, SEED0, seed=0)  # a CIFAR run without evaluations
    files = [
        write_result(tmp_path, "fgsm", "cutmix_fgsm", keys[0], fgsm_top1_accuracy=30.0),
        write_result(tmp_path, "fgsm", "cutmix_fgsm", keys[1], fgsm_top1_accuracy=32.0),
        # run 0: two detection seeds (averaged first), run 1: one
        write_result(tmp_path, "detection", "saliencymix_voc", keys[0], 0, map50=78.0, map=40.0, map75=41.0),
        write_result(tmp_path, "detection", "saliencymix_voc", keys[0], 1, map50=77.0, map=39.0, map75=40.0),
        write_result(tmp_path, "detection", "saliencymix_voc", keys[1], 0, map50=79.5, map=41.0, map75=42.0),
    ]
    out = tmp_path / "aggregate"
    out.mkdir()
    write_aggregate(dirs + [other], out / "runs.csv", out / "summary.csv", out / "curves.csv", evaluations=files)
    runs = pd.read_csv(out / "runs.csv")
    mine = runs[runs["augmentation"] == "cutmix"].set_index("seed")
    assert mine.loc[0, "fgsm_top1_accuracy"] == 30.0 and mine.loc[1, "fgsm_top1_accuracy"] == 32.0
    assert mine.loc[0, "map50"] == pytest.approx(77.5) and mine.loc[0, "detection_seeds"] == 2
    assert mine.loc[1, "map50"] == pytest.approx(79.5) and mine.loc[1, "detection_seeds"] == 1
    cifar = runs[runs["augmentation"] == "saliencymix"].iloc[0]
    assert pd.isna(cifar["fgsm_top1_accuracy"]) and cifar["detection_seeds"] == 0
    summary = pd.read_csv(out / "summary.csv")
    row = summary[summary["augmentation"] == "cutmix"].iloc[0]
    assert row["fgsm_top1_accuracy_mean"] == pytest.approx(31.0)
    assert row["fgsm_top1_accuracy_std"] == pytest.approx(pd.Series([30.0, 32.0]).std())
    assert row["map50_mean"] == pytest.approx((77.5 + 79.5) / 2)  # over backbone seeds of per-run means
    assert row["map_mean"] == pytest.approx((39.5 + 41.0) / 2) and row["map75_mean"] == pytest.approx((40.5 + 42.0) / 2)

    # an evaluation of a run that is not aggregated is refused, naming it
    stray = write_result(
        tmp_path,
        "fgsm",
        "cutmix_fgsm",
        RunKey("saliencymix_imagenet", "imagenet+", "resnet50", "mixup", 0),
        fgsm_top1_accuracy=1.0,
    )
    with pytest.raises(ValueError, match="saliencymix_imagenet/imagenet/True/resnet50/mixup/0"):
        write_aggregate(dirs, out / "r.csv", out / "s.csv", out / "c.csv", evaluations=files + [stray])


def cell(metric, mean, std=float("nan"), runs=float("nan")):
    return pd.DataFrame(
        [
            {
                "source": "s",
                "protocol": "p",
                "dataset": "imagenet",
                "traditional": True,
                "model": "resnet50",
                "augmentation": "cutmix",
                "epochs": 300,
                "metric": metric,
                "mean": mean,
                "std": std,
                "runs": runs,
                "note": "",
            }
        ]
    )


def compare(summary, published):
    return compare_with_margins(summary, published, check_rules({"value": 1.0, "reason": "one point"}, "test"))


def ours(column, values):
    s = pd.Series(values)
    return pd.DataFrame(
        [
            {
                "protocol": "p",
                "dataset": "imagenet",
                "traditional": True,
                "model": "resnet50",
                "augmentation": "cutmix",
                "method": "cutmix",
                "variant": None,
                "n": len(values),
                "epochs": 300,
                f"{column}_mean": s.mean(),
                f"{column}_std": s.std(),
            }
        ]
    )


@pytest.mark.parametrize("metric", sorted(HIGHER_IS_BETTER))
def test_higher_is_better_for_accuracy_and_map(metric):
    assert metric_column(metric, "best") == metric == metric_column(metric, "median_last10")
    published = cell(metric, 30.0)
    above = compare(ours(metric, [40.0, 40.2, 39.8]), published).iloc[0]
    below = compare(ours(metric, [20.0, 20.2, 19.8]), published).iloc[0]
    close = compare(ours(metric, [30.0, 30.05, 29.95]), published).iloc[0]
    assert above["diff"] == pytest.approx(10.0) and above["verdict"] == "better"
    assert below["diff"] == pytest.approx(-10.0) and below["verdict"] == "worse"
    assert close["verdict"] == "reproduced"
    # the interval and margin are the same as for an error the other way round (symmetric in the sign of diff)
    err = compare(ours("best_top1_error", [20.0, 20.2, 19.8]), cell("top1_error", 30.0)).iloc[0]
    assert err["verdict"] == "better" and above["margin"] == pytest.approx(err["margin"])
    assert (above["ci_low"], above["ci_high"]) == pytest.approx((-err["ci_high"], -err["ci_low"]))


def test_the_report_shows_the_robustness_and_detection_cells_beside_the_published_ones(tmp_path):
    from conftest import ROOT

    from augrepro.report.build import build_report
    from augrepro.results.verdicts import write_chosen_verdicts
    from augrepro.studies import select_from_config

    runs_root = tmp_path / "results/runs"
    dirs, files = [], []
    for seed in (0, 1, 2):
        key = RunKey("saliencymix_imagenet", "imagenet+", "resnet50", "cutmix", seed)
        dirs.append(
            make_run(
                runs_root,
                SEED0,
                protocol=key.protocol,
                dataset="imagenet",
                model="resnet50",
                augmentation="cutmix",
                variant=None,
                seed=seed,
            )
        )
        files.append(write_result(tmp_path, "fgsm", "cutmix_fgsm", key, fgsm_top1_accuracy=40.0 + seed / 10))
        files.append(write_result(tmp_path, "detection", "saliencymix_voc", key, 0, map50=78.3 + seed / 10))
    out = tmp_path / "aggregate"
    out.mkdir()
    write_aggregate(dirs, out / "runs.csv", out / "summary.csv", out / "curves.csv", evaluations=files)
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    studies = select_from_config(
        {"studies": ["saliencymix_robustness", "saliencymix_detection"], "data": {"imagenet_path": str(imagenet)}}, ROOT
    ).describe()
    write_chosen_verdicts(studies, out / "summary.csv", out / "runs.csv", ROOT / "resources/published", tmp_path / "v")
    comparison = build_report(
        out / "summary.csv",
        out / "runs.csv",
        out / "curves.csv",
        ROOT / "resources/published",
        tmp_path / "report.html",
        studies=studies,
        verdicts_dir=tmp_path / "v",
    )
    fgsm = comparison[(comparison["metric"] == "fgsm_top1_accuracy") & (comparison["augmentation"] == "cutmix")].iloc[0]
    assert fgsm["published_mean"] == 31.0 and fgsm["ours_mean"] == pytest.approx(40.1) and fgsm["verdict"] == "better"
    det = comparison[(comparison["metric"] == "map50") & (comparison["augmentation"] == "cutmix")].iloc[0]
    assert det["published_mean"] == 78.31 and det["ours_mean"] == pytest.approx(78.4) and det["verdict"] == "reproduced"
    assert set(comparison.loc[comparison["augmentation"] != "cutmix", "verdict"]) == {"missing"}
    html = (tmp_path / "report.html").read_text()
    assert 'id="study-saliencymix_robustness"' in html and 'id="study-saliencymix_detection"' in html
    assert "FGSM top-1 acc." in html and "mAP50" in html and "31.00" in html and "78.31" in html


def test_the_partial_aggregation_takes_the_evaluations_that_exist(tmp_path):
    from augrepro.results.aggregate import write_partial_aggregate

    runs_root = tmp_path / "results/runs"
    grid, paths = [], []
    for seed in (0, 1, 2):
        key = RunKey("saliencymix_imagenet", "imagenet+", "resnet50", "cutmix", seed)
        if seed < 2:  # seed 2 never trained
            make_run(
                runs_root,
                SEED0,
                protocol=key.protocol,
                dataset="imagenet",
                model="resnet50",
                augmentation="cutmix",
                variant=None,
                seed=seed,
            )
        grid.append(
            {
                "protocol": key.protocol,
                "dataset": "imagenet",
                "traditional": True,
                "model": "resnet50",
                "augmentation": "cutmix",
                "method": "cutmix",
                "seed": seed,
                "epochs": 12,
                "run_dir": str(runs_root / key.subdir),
                "log": str(tmp_path / f"log{seed}"),
            }
        )
        job = EvalKey("fgsm", "cutmix_fgsm", key)
        paths.append(str(tmp_path / job.result))
    write_result(
        tmp_path,
        "fgsm",
        "cutmix_fgsm",
        RunKey("saliencymix_imagenet", "imagenet+", "resnet50", "cutmix", 0),
        fgsm_top1_accuracy=33.0,
    )  # seed 1: trained, not yet attacked
    out = tmp_path / "partial"
    out.mkdir()
    write_partial_aggregate(
        grid, out / "runs.csv", out / "summary.csv", out / "curves.csv", out / "status.csv", evaluations=paths
    )
    runs = pd.read_csv(out / "runs.csv").set_index("seed")
    assert runs.loc[0, "fgsm_top1_accuracy"] == 33.0 and pd.isna(runs.loc[1, "fgsm_top1_accuracy"])
    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert summary["n"] == 2 and summary["fgsm_top1_accuracy_mean"] == 33.0
    # two runs, one FGSM value: the mean and its count are over the values, not the runs
    assert summary["fgsm_top1_accuracy_n"] == 1 and summary["best_top1_error_n"] == 2


def test_summarize_counts_the_values_of_each_metric_and_the_comparison_uses_them():
    """Three runs of which two have an FGSM result: n is 2 for FGSM (df 1 against one published run), 3 for the
    error; the rule this replaces counted rows (n = 3, df 2: too small a standard error)."""
    runs = pd.DataFrame(
        [
            {
                "protocol": "p",
                "dataset": "imagenet",
                "traditional": True,
                "model": "resnet50",
                "augmentation": "cutmix",
                "method": "cutmix",
                "variant": None,
                "seed": seed,
                "epochs": 300,
                "best_top1_error": 21.0 + seed / 10,
                "fgsm_top1_accuracy": accuracy,
                "hours": 1.0,
            }
            for seed, accuracy in ((0, 30.0), (1, 31.0), (2, float("nan")))
        ]
    )
    summary = summarize(runs.reindex(columns=RUN_COLUMNS))
    row = summary.iloc[0]
    assert (row["n"], row["fgsm_top1_accuracy_n"], row["best_top1_error_n"]) == (3, 2, 3)
    verdict = compare(summary, cell("fgsm_top1_accuracy", 30.0)).iloc[0]
    assert verdict["n"] == 2 and verdict["df"] == pytest.approx(1.0)
    assert verdict["se"] == pytest.approx(pd.Series([30.0, 31.0]).std() * (1 / 2 + 1) ** 0.5)
