"""The fgsm rule for real on a tiny study: the run trains once, its checkpoint is attacked, the result reaches
the summary and the report; editing the FGSM recipe reruns the attack only, never the training."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import TINY_PROTOCOL, add_protocol, add_study, copy_project, job_counts, snakemake


def evaluations_with(project, name, recipe):
    """A copy of config/evaluations.yaml with one more FGSM recipe; returns its path relative to the project."""
    values = yaml.safe_load((project / "config/evaluations.yaml").read_text())
    values["fgsm"][name] = recipe
    path = project / f"config/evaluations_{len(list(project.glob('config/evaluations_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return str(path.relative_to(project))


@pytest.mark.slow
def test_fgsm_rule_attacks_the_checkpoint_and_a_recipe_edit_reruns_only_the_attack(tmp_path):
    project = copy_project(tmp_path / "project")
    add_protocol(project, "tiny", TINY_PROTOCOL)
    add_study(
        project,
        "tinyfgsm",
        {
            "protocol": "tiny",
            "datasets": ["demo"],
            "models": ["resnet8"],
            "augmentations": ["baseline"],
            "seeds": [0],
            "resources": {"gpus": 0, "threads": 1, "mem_mb": 1000, "runtime_min": 10},
            "evaluate": {
                "fgsm": {
                    "recipe": "tiny_fgsm",
                    "resources": {"gpus": 0, "threads": 1, "mem_mb": 1000, "runtime_min": 10},
                }
            },
        },
    )
    first = evaluations_with(
        project, "tiny_fgsm", {"checkpoint": "best", "epsilon": 0.03137254901960784, "clip": True, "batch_size": 50}
    )
    run = snakemake(project, "--cores", "2", "--config", "studies=[tinyfgsm]", f"evaluations={first}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert job_counts(run.stdout + run.stderr)["fgsm"] == 1
    result = project / "results/evaluate/fgsm/tiny_fgsm/tiny/demo/resnet8/baseline/seed0/fgsm.json"
    written = json.loads(result.read_text())
    assert written["images"] == 100 and written["fgsm_top1_accuracy"] <= written["clean_top1_accuracy"]
    assert (project / "results/logs/fgsm/tiny_fgsm/tiny/demo/resnet8/baseline/seed0.log").read_text()
    assert (project / "results/benchmarks/fgsm/tiny_fgsm/tiny/demo/resnet8/baseline/seed0.tsv").exists()
    summary = pd.read_csv(project / "results/aggregate/summary.csv").iloc[0]
    assert summary["fgsm_top1_accuracy_mean"] == pytest.approx(written["fgsm_top1_accuracy"])
    # the recipe reads the best epoch's weights (best.pt), the epoch aggregation names best
    best_epoch = int(pd.read_csv(project / "results/aggregate/runs.csv").iloc[0]["best_epoch"])
    assert written["checkpoint"] == {"kind": "best", "file": "best.pt", "epoch": best_epoch}
    checkpoint = project / "results/runs/tiny/demo/resnet8/baseline/seed0/checkpoint.pt"
    trained_at = checkpoint.stat().st_mtime_ns

    edited = evaluations_with(
        project, "tiny_fgsm", {"checkpoint": "best", "epsilon": 0.0156862745, "clip": True, "batch_size": 50}
    )
    dry = snakemake(project, "--dry-run", "--config", "studies=[tinyfgsm]", f"evaluations={edited}")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout) == {"fgsm": 1, "aggregate": 1, "verdicts": 1, "report": 1, "all": 1, "total": 5}
    again = snakemake(project, "--cores", "2", "--config", "studies=[tinyfgsm]", f"evaluations={edited}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert checkpoint.stat().st_mtime_ns == trained_at  # never retrained
    assert json.loads(result.read_text())["epsilon"] == pytest.approx(0.0156862745)
