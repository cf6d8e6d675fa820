"""A study's evaluate: key: parsed, checked before any job (clear errors), expanded into evaluation jobs."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT, add_study

from augrepro.runs import EvalKey, RunKey
from augrepro.studies import ConfigError, select_from_config


@pytest.fixture
def project(tmp_path):
    for item in ("config", "resources"):
        shutil.copytree(ROOT / item, tmp_path / item)
    return tmp_path


GRID = {
    "protocol": "salfmix_backbone",
    "datasets": ["tinyimagenet+"],
    "models": ["resnet50"],
    "augmentations": ["baseline", "cutmix"],
    "seeds": [0, 1],
}


def test_evaluation_jobs_expand_over_runs_and_detection_seeds(project):
    add_study(project, "det", dict(GRID, evaluate={"detection": {"recipe": "salfmix_voc", "seeds": [0, 1, 2]}}))
    add_study(project, "fg", dict(GRID, evaluate={"fgsm": "cutmix_fgsm"}))
    selection = select_from_config({"studies": ["det", "fg"]}, project)
    assert len(selection.runs) == 4  # shared: one training each
    assert len(selection.jobs_of("detection")) == 4 * 3 and len(selection.jobs_of("fgsm")) == 4
    job = EvalKey("detection", "salfmix_voc", RunKey("salfmix_backbone", "tinyimagenet+", "resnet50", "cutmix", 1), 2)
    assert job in selection.evaluation_jobs
    assert (
        job.result
        == "results/evaluate/detection/salfmix_voc/salfmix_backbone/tinyimagenet+/resnet50/cutmix/seed1/det_seed2/detection.json"
    )
    assert selection.evaluation_resources(job)["runtime_min"] == 2880  # the default of a detection job
    assert selection.evaluation_recipe("detection", "salfmix_voc")["lr"] == 0.02
    assert selection.wildcard_values()["det_recipe"] == ["salfmix_voc"]


@pytest.mark.parametrize(
    "case",
    [
        "unknown recipe",
        "cifar backbone",
        "two recipes for one run",
        "voc as a grid dataset",
        "unknown evaluation",
        "bad seeds",
    ],
)
def test_bad_evaluations_are_refused_with_the_file_and_the_fix(project, case):
    if case == "unknown recipe":
        add_study(project, "bad", dict(GRID, evaluate={"fgsm": "pgd_attack"}))
        expected = ["bad.yaml", "evaluate.fgsm", "pgd_attack", "cutmix_fgsm"]
    elif case == "cifar backbone":
        add_study(
            project,
            "bad",
            dict(
                GRID, protocol="salfmix", models=["preactresnet18"], evaluate={"detection": {"recipe": "salfmix_voc"}}
            ),
        )
        expected = ["bad.yaml", "evaluate.detection", "architecture: imagenet"]
    elif case == "two recipes for one run":
        add_study(project, "bad", dict(GRID, evaluate={"detection": {"recipe": "saliencymix_voc"}}))
        expected = ["saliencymix_voc", "salfmix_voc", "salfmix_table8.yaml", "same recipe"]
    elif case == "voc as a grid dataset":
        add_study(project, "bad", dict(GRID, datasets=["voc"]))
        expected = ["bad.yaml", "voc is a detection dataset", "evaluate: {detection"]
    elif case == "unknown evaluation":
        add_study(project, "bad", dict(GRID, evaluate={"segmentation": "x"}))
        expected = ["bad.yaml", "evaluate: unknown key(s) segmentation", "fgsm, detection"]
    else:
        add_study(project, "bad", dict(GRID, evaluate={"detection": {"recipe": "salfmix_voc", "seeds": ["one"]}}))
        expected = ["bad.yaml", "seeds", "one", "integer"]
    with pytest.raises(ConfigError) as err:
        select_from_config({"studies": ["bad"]}, project)
    for fragment in expected:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_a_bad_recipe_is_refused_when_the_recipes_are_loaded(project):
    path = project / "config/evaluations.yaml"
    path.write_text(path.read_text().replace("lr: 0.02 ", "lr: -1 "))
    with pytest.raises(ConfigError, match="detection.salfmix_voc.lr: got -1; expected a number > 0"):
        select_from_config({"studies": ["demo"]}, project)
