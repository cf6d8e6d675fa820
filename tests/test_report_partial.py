"""`snakemake report_partial`: a report from whatever runs of the grid exist, without training.

A study of 4 runs (the SaliencyMix CIFAR protocol, CIFAR-10+, ResNet-18, CutMix and SaliencyMix, 2 seeds)
with hand-made run folders: the rule needs no run as input, marks failed and missing runs, and reruns exactly
when a run's outputs change.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import add_study, copy_project, snakemake
from test_aggregate import make_run

STUDY = {
    "published": ["saliencymix_cifar.csv"],
    "protocol": "saliencymix_cifar",
    "datasets": ["cifar10+"],
    "models": ["resnet18"],
    "augmentations": ["cutmix", "saliencymix"],  # (the table's ResNet-18 baseline is a Cutout-code cell)
    "seeds": [0, 1],
    "margin": {"sd": 2, "reason": "as the SaliencyMix CIFAR study: two run-to-run standard deviations"},
}
EPOCHS = 200


def curve(final: float) -> list[float]:
    return [final + 40.0 / (e + 1) for e in range(EPOCHS)]  # best: the last epoch, final + 0.2


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("partial") / "project")
    add_study(project, "grid", STUDY)
    runs = project / "results" / "runs"
    make_run(runs, curve(4.6), augmentation="cutmix", variant=None, seed=0, wall_seconds=3000)
    make_run(runs, curve(4.8), augmentation="cutmix", variant=None, seed=1, wall_seconds=3100)
    log = project / "results/logs/train/saliencymix_cifar/cifar10+/resnet18/saliencymix/seed0.log"
    log.parent.mkdir(parents=True)
    log.write_text("RuntimeError: CUDA out of memory\n")  # saliencymix seed 0 failed; seed 1 never ran
    return project


def run_partial(project: Path):
    result = snakemake(project, "--cores", "1", "--config", "studies=[grid]", "--", "report_partial")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_partial_report_marks_failed_and_missing_runs(project):
    run_partial(project)
    status = pd.read_csv(project / "results/aggregate/partial/status.csv")
    assert list(zip(status["augmentation"], status["seed"], status["status"])) == [
        ("cutmix", 0, "ok"),
        ("cutmix", 1, "ok"),
        ("saliencymix", 0, "failed"),
        ("saliencymix", 1, "missing"),
    ]
    assert status.loc[2, "variant"] == "official"  # from the config, though the run left no meta.json
    html = (project / "results/report/partial.html").read_text()
    assert "4.90 ± 0.14 (n=2)" in html and "3.78 ± 0.12" in html  # CutMix: best epochs 4.8 and 5.0; published 3.78
    assert "published 3.65 ± 0.10, 1 run(s) failed" in html
    assert "ok 2, failed 1, missing 1" in html
    assert not (project / "results/aggregate/runs.csv").exists()  # the complete target was not built


def test_partial_report_reruns_only_when_runs_change(project):
    again = run_partial(project)
    assert "Nothing to be done" in again.stdout + again.stderr
    make_run(project / "results/runs", curve(3.7), augmentation="saliencymix", seed=1, wall_seconds=3300)
    third = run_partial(project)
    assert "report_partial" in third.stdout + third.stderr and "Params have changed" in third.stdout + third.stderr
    status = pd.read_csv(project / "results/aggregate/partial/status.csv")
    assert list(status["status"]) == ["ok", "ok", "failed", "ok"]
    html = (project / "results/report/partial.html").read_text()
    assert "3.90 (n=1)" in html and "1 run(s) failed" in html
