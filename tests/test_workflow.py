"""The workflow end to end: lint, the paper's grid, a tiny real run, incremental methods, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from conftest import copy_project, job_counts, snakemake, write_config

TINY = {
    "datasets": ["demo", "demo+"],
    "models": ["resnet8"],
    "augmentations": ["baseline", "saliencymix"],
    "seeds": [0, 1],
    "training": {
        "preset": "demo",
        "epochs": 2,
        "batch_size": 32,
        "milestones": [1],
        "max_train_images": 192,
        "max_test_images": 100,
    },
}


def test_lint_has_no_findings(project):
    result = snakemake(project, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_paper_grid_dry_run_counts_240_training_jobs(project):
    result = snakemake(project, "--dry-run", "--configfile", "config/paper.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["train"] == 240
    assert counts["download"] == 2 and counts["prepare"] == 2  # CIFAR-10 and CIFAR-100, once each


def test_slurm_profile_dry_runs_the_paper_grid_with_gpus(project):
    result = snakemake(project, "--profile", "slurm", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert job_counts(out)["train"] == 240
    train_resources = [line for line in out.splitlines() if "resources:" in line and "gpu=1" in line]
    assert len(train_resources) == 240


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real run of a tiny grid (2 datasets x 1 model x 2 methods x 2 seeds = 8 jobs)."""
    project = copy_project(tmp_path_factory.mktemp("tiny") / "project")
    write_config(project / "tiny.yaml", TINY)
    result = snakemake(project, "--cores", "2", "--configfile", "tiny.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return project, result


def test_tiny_end_to_end_writes_every_output(tiny_run):
    project, result = tiny_run
    assert job_counts(result.stderr + result.stdout)["train"] == 8
    for dataset in TINY["datasets"]:
        for aug in TINY["augmentations"]:
            for seed in TINY["seeds"]:
                run = project / f"results/runs/{dataset}/resnet8/{aug}/seed{seed}"
                rows = list(csv.DictReader((run / "metrics.csv").open()))
                assert [int(r["epoch"]) for r in rows] == [1, 2]
                assert set(rows[0]) == {
                    "epoch", "lr", "train_loss", "train_top1_error", "test_loss",
                    "test_top1_error", "test_top5_error", "epoch_seconds",
                }
                assert all(0 <= float(r["test_top1_error"]) <= 100 for r in rows)
                timing = json.loads((run / "timing.json").read_text())
                assert timing["images_per_second"] > 0 and timing["device_name"]
                meta = json.loads((run / "meta.json").read_text())
                assert meta["run"]["seed"] == seed and meta["run"]["augmentation"] == aug
                assert meta["run"]["traditional"] == dataset.endswith("+")
                assert meta["config"]["training"]["epochs"] == 2
                assert "torch" in meta["packages"] and meta["code_version"]
                assert (run / "checkpoint.pt").stat().st_size > 0
                assert not (run / "resume.pt").exists()
                assert (project / f"results/logs/train/{dataset}/resnet8/{aug}/seed{seed}.log").exists()
                assert (project / f"results/benchmarks/train/{dataset}/resnet8/{aug}/seed{seed}.tsv").exists()
    variants = {
        json.loads(p.read_text())["run"]["variant"]
        for p in (project / "results/runs").glob("*/resnet8/saliencymix/seed*/meta.json")
    }
    assert variants == {"official"}


def test_tiny_end_to_end_aggregates_over_seeds(tiny_run):
    project, _ = tiny_run
    rows = list(csv.DictReader((project / "results/aggregate/summary.csv").open()))
    assert len(rows) == 4  # (demo, demo+) x (baseline, saliencymix)
    runs = list(csv.DictReader((project / "results/aggregate/runs.csv").open()))
    for row in rows:
        assert int(row["n"]) == 2
        mine = [
            float(r["best_top1_error"])
            for r in runs
            if (r["traditional"], r["augmentation"]) == (row["traditional"], row["augmentation"])
        ]
        assert float(row["best_top1_error_mean"]) == pytest.approx(sum(mine) / 2)


def test_tiny_end_to_end_report_is_self_contained(tiny_run):
    project, _ = tiny_run
    html = (project / "results/report/report.html").read_text()
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html
    assert "4.72" in html  # a published cell of the SaliencyMix CIFAR table
    assert "saliencymix" in html and "official" in html


def test_adding_an_augmentation_schedules_only_its_jobs(tiny_run):
    project, _ = tiny_run
    config = yaml.safe_load((project / "tiny.yaml").read_text())
    config["augmentations"].append("cutmix")
    write_config(project / "tiny_more.yaml", config)
    result = snakemake(project, "--dry-run", "--configfile", "tiny_more.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    # its 4 training jobs (2 datasets x 2 seeds), its preview on the demo images, aggregate and report
    assert counts == {"train": 4, "preview": 1, "aggregate": 1, "report": 1, "all": 1, "total": 8}
    assert "/cutmix/" in result.stdout and "/baseline/seed" not in result.stdout.split("rule aggregate")[0]


BAD_CONFIGS = {
    "unknown model": ({"models": ["resnet9000"]}, ["models", "resnet9000", "resnet18", "wrn28_10"]),
    "unknown method": ({"augmentations": ["fancymix"]}, ["augmentations", "fancymix", "cutmix", "saliencymix"]),
    "unknown dataset": ({"datasets": ["mnist"]}, ["datasets", "mnist", "cifar10", "cifar100"]),
    "unknown method parameter": ({"methods": {"cutmix": {"alpha": 1.0}}}, ["methods.cutmix", "alpha", "beta, prob"]),
    "bad variant": ({"methods": {"saliencymix": {"variant": "magic"}}}, ["saliencymix", "magic", "official, paper"]),
    "wrong type": ({"training": {"epochs": "ten"}}, ["epochs", "ten", "integer"]),
    "unknown preset": ({"training": {"preset": "fastest"}}, ["training.preset", "fastest", "saliencymix_cifar"]),
    "seeds not integers": ({"seeds": [0, "one"]}, ["seeds", "one", "integer"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_refused_before_any_job(project, case):
    override, expected = BAD_CONFIGS[case]
    write_config(project / "bad.yaml", override)
    result = snakemake(project, "--dry-run", "--configfile", "bad.yaml")
    message = result.stdout + result.stderr
    assert result.returncode != 0
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message[-2000:]}"
    assert not (project / "results").exists()


def test_missing_key_is_refused(project):
    config = yaml.safe_load((project / "config/config.yaml").read_text())
    del config["models"]
    write_config(project / "config/config.yaml", config)
    result = snakemake(project, "--dry-run")
    assert result.returncode != 0
    assert "'models' is a required property" in result.stdout + result.stderr
