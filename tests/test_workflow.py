"""The workflow end to end: lint, the whole paper's dry-run, a tiny real run of two studies, incremental runs,
one protocol changed, and bad input refused before any job."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TINY_PROTOCOL, add_protocol, add_study, copy_project, job_counts, snakemake, write_config

from augrepro.studies import select_from_config

# Two studies, two protocols: "tiny" (8 runs) and "tiny_lr" (1 run of another recipe with the same epochs).
TINY_STUDY = {
    "protocol": "tiny",
    "datasets": ["demo", "demo+"],
    "models": ["resnet8"],
    "augmentations": ["baseline", "saliencymix"],
    "seeds": [0, 1],
    "resources": {"gpus": 0, "threads": 1, "mem_mb": 1000, "runtime_min": 10},
}
TINY_LR_STUDY = dict(TINY_STUDY, protocol="tiny_lr", datasets=["demo"], augmentations=["baseline"], seeds=[0])


def tiny_project(root: Path) -> Path:
    project = copy_project(root / "project")
    add_protocol(project, "tiny", TINY_PROTOCOL)
    add_protocol(project, "tiny_lr", {"title": "tiny, another lr", "base": "tiny", "lr": 0.02})
    add_study(project, "tiny", TINY_STUDY)
    add_study(project, "tiny_lr", TINY_LR_STUDY)
    return project


def test_lint_has_no_findings(project):
    result = snakemake(project, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_run_folders_are_the_train_rules_outputs():
    """augrepro.runs is the one home of a run's folder: the train rule's outputs are its files there."""
    from augrepro.runs import RUN_DIR, RUN_FILES, TRAIN_LOG

    rule = (ROOT / "workflow/rules/train.smk").read_text()
    for name, file in RUN_FILES.items():
        assert f'{name}="{RUN_DIR}/{file}"' in rule
    assert f'"{TRAIN_LOG}"' in rule


# --- the whole paper: every study, dry-run ---------------------------------------------------------


def test_each_study_counts_its_runs_and_shared_runs_count_once(tmp_path):
    every = [p.stem for p in (ROOT / "config/studies").glob("*.yaml")]
    selection = select_from_config({"studies": every, "data": {"imagenet_path": str(tmp_path)}}, ROOT)
    sizes = {s.name: len(s.runs()) for s in selection.studies}
    # the CIFAR table: 240 runs, and its 16 cells quoted from the Cutout paper in Cutout's recipe (2 x 2 x 4 x 5)
    assert sizes["saliencymix_cifar"] == 3 * 4 * 4 * 5 + 2 * 2 * 4 * 5
    assert sizes["saliencymix_imagenet"] == 2 * 5 * 3
    # 300-epoch grid + the 1200-epoch rows + the SaliencyMix of HybridMix v2 (PreActResNet-18, for its claim)
    assert sizes["salfmix_table5"] == 3 * 10 * 5 + 3 * 5 + 1 * 5
    assert sizes["salfmix_table4"] == 3 * 10 * 5 + 3 * 5
    assert sizes["numerics"] == 8 * 2 * 5  # 8 recipe families x (fp32, bf16) x 5 seeds
    union = set().union(*(s.runs() for s in selection.studies))
    assert len(selection.runs) == len(union) < sum(sizes.values())  # shared runs once
    # the team's runs are all in the CIFAR table's grid (same protocol, CIFAR-10+): nothing of its own
    team = next(s for s in selection.studies if s.name == "team000")
    cifar = next(s for s in selection.studies if s.name == "saliencymix_cifar")
    assert set(team.runs()) <= set(cifar.runs())


# Runs of the paper with ImageNet given and Stanford Cars not (its official URLs are gone, so a plain
# checkout has no copy): 1,243 runs in all (README), less the 60 Cars runs of the SnapMix study. The 1,243: the
# 1,099 of the paper's tables before issue 22, the 80 runs of the CIFAR table's Cutout-code cells, the 15 + 5 of the
# SaliencyMix of HybridMix v2 (Tables 4 and 5), and the numerics study's 44 runs of its own (its 40 bf16 runs and
# seeds 3 and 4 of its Tiny-ImageNet and CUB fp32 cells; its other 36 fp32 runs are the paper studies').
PAPER_RUNS = 1099 + 80 + 15 + 5 + 44 - 60
IMAGENET_RUNS = 30


def test_paper_dry_run_schedules_every_study_once_per_distinct_run(project, tmp_path):
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    result = snakemake(
        project, "--dry-run", "--configfile", "config/paper.yaml", "--config", f"data={{imagenet_path: {imagenet}}}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    selection = select_from_config(
        {**yaml.safe_load((ROOT / "config/paper.yaml").read_text()), "data": {"imagenet_path": str(imagenet)}}, ROOT
    )
    counts = job_counts(result.stdout)
    assert counts["train"] == len(selection.runs) == PAPER_RUNS
    # CIFAR-10, CIFAR-100, Tiny-ImageNet, the three VOC archives, CUB-200-2011 and FGVC-Aircraft; prepared: the
    # six datasets among them and ImageNet
    assert counts["download"] == 8 and counts["prepare"] == 7
    assert counts["verdicts"] == len(selection.studies)  # one verdict job per chosen study
    # the plan came first: per study, with GPU-hours
    plan = result.stderr
    assert (
        "saliencymix_cifar" in plan and "GPU-h" in plan and f"all chosen studies (each run once)   {PAPER_RUNS}" in plan
    )
    assert "snapmix_finegrained runs without cars" in plan


def test_paper_without_imagenet_skips_that_study_with_one_line_and_runs_the_rest(project):
    result = snakemake(project, "--dry-run", "--configfile", "config/paper.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "skipped" in line and "saliencymix_imagenet" in line]
    assert lines and "data.imagenet_path" in lines[0]
    assert job_counts(result.stdout)["train"] == PAPER_RUNS - IMAGENET_RUNS


def test_slurm_profile_dry_runs_every_study_with_each_studys_gpus(project, tmp_path):
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    result = snakemake(project, "--profile", "slurm", "--dry-run", "--config", f"data={{imagenet_path: {imagenet}}}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert job_counts(out)["train"] == PAPER_RUNS
    resources = [line for line in out.splitlines() if "resources:" in line and "gpu=" in line]
    assert sum("gpu=4" in line for line in resources) == IMAGENET_RUNS  # the ImageNet study's jobs
    assert (
        sum("gpu=1" in line for line in resources) == PAPER_RUNS - IMAGENET_RUNS + 60
    )  # and the 60 FGSM and detection jobs


def test_paper_dry_run_schedules_the_evaluation_jobs_on_the_runs_checkpoints(project, tmp_path):
    """FGSM once per ImageNet ResNet-50 run, detection once per (backbone run, detection seed), from the runs'
    checkpoints (their training jobs are the classification studies', not new ones); without ImageNet, the two
    studies that need it are skipped with one line each and SalfMix Table 8 still fine-tunes its detectors."""
    from augrepro.runs import DETECTION_LOG, DETECTION_RESULT, FGSM_LOG, FGSM_RESULT

    rules = (ROOT / "workflow/rules/evaluate.smk").read_text()
    for path in (FGSM_RESULT, FGSM_LOG, DETECTION_RESULT, DETECTION_LOG):  # augrepro.runs knows the rules' paths
        assert f'"{path}"' in rules
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    result = snakemake(
        project, "--dry-run", "--configfile", "config/paper.yaml", "--config", f"data={{imagenet_path: {imagenet}}}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["fgsm"] == 5 * 3  # 5 methods x 3 seeds of the ImageNet ResNet-50
    assert counts["detect"] == 5 * 3 * 1 + 10 * 3 * 1  # SaliencyMix (ImageNet) + SalfMix Table 8 (Tiny-ImageNet)
    out = result.stdout
    fgsm_outputs = [line.split("output: ")[1] for line in out.splitlines() if "output: results/evaluate/fgsm/" in line]
    assert (
        "results/evaluate/fgsm/cutmix_fgsm/saliencymix_imagenet/imagenet+/resnet50/cutmix/seed2/fgsm.json"
        in fgsm_outputs
    )
    # each recipe reads the weights it names: the best epoch's (SaliencyMix README: model_best)
    inputs = {}  # the rule and input line of each evaluation job, by its output
    rule = line_input = None
    for line in out.splitlines():
        if line.startswith("rule "):
            rule, line_input = line[5:].rstrip(":"), None
        elif line.strip().startswith("input: "):
            line_input = line.strip()[len("input: ") :]
        elif line.strip().startswith("output: ") and rule in ("fgsm", "detect"):
            inputs[line.strip()[len("output: ") :]] = line_input
    fgsm_result = "results/evaluate/fgsm/cutmix_fgsm/saliencymix_imagenet/imagenet+/resnet50/cutmix/seed2/fgsm.json"
    assert "results/runs/saliencymix_imagenet/imagenet+/resnet50/cutmix/seed2/best.pt" in inputs[fgsm_result]
    detections = [i for o, i in inputs.items() if "/detection/" in o]
    assert len(detections) == 45 and all("/best.pt" in i and "checkpoint.pt" not in i for i in detections)
    detect = [line for line in out.splitlines() if "output: results/evaluate/detection/" in line]
    assert any(
        "detection/salfmix_voc/salfmix_backbone/tinyimagenet+/resnet50/hybridmix_v3/seed0/det_seed0/" in line
        for line in detect
    )
    assert any(
        "detection/saliencymix_voc/saliencymix_imagenet/imagenet+/resnet50/baseline/seed1/det_seed0/" in line
        for line in detect
    )
    assert "results/downloads/voc/VOCtest_06-Nov-2007.tar" in out and "results/data/voc/data.npz" in out
    # Table 8's backbones are new runs of their own protocol; the ImageNet ones are the ImageNet study's
    assert (
        sum("output: results/runs/salfmix_backbone/tinyimagenet+/resnet50/" in line for line in out.splitlines()) == 30
    )
    plan = result.stderr
    for study, runs, evals in (
        ("saliencymix_robustness", 15, 15),
        ("saliencymix_detection", 15, 15),
        ("salfmix_table8", 30, 30),
    ):
        row = next(line for line in plan.splitlines() if line.startswith(study + " "))
        assert row.split()[1:5] == [str(runs), "0", str(runs if study != "salfmix_table8" else 0), str(evals)], row

    without = snakemake(project, "--dry-run", "--configfile", "config/paper.yaml")
    assert without.returncode == 0, without.stderr[-3000:]
    for study in ("saliencymix_robustness", "saliencymix_detection"):
        lines = [line for line in without.stderr.splitlines() if line.startswith(f"augrepro: study {study} skipped")]
        assert len(lines) == 1 and "data.imagenet_path" in lines[0]
    counts = job_counts(without.stdout)
    assert "fgsm" not in counts and counts["detect"] == 30


def test_slurm_profile_asks_a_multi_node_study_for_gpus_per_node_and_nodes(project):
    """gpus per node on several nodes: --gres=gpu:G and --nodes=M (sbatch's --gpus would count the whole job)."""
    add_protocol(project, "tiny", TINY_PROTOCOL)
    add_study(
        project,
        "wide",
        {
            "protocol": "tiny",
            "datasets": ["demo"],
            "models": ["resnet8"],
            "augmentations": ["baseline"],
            "seeds": [0],
            "resources": {"gpus": 4, "nodes": 2, "threads": 8},
        },
    )
    result = snakemake(project, "--profile", "slurm", "--dry-run", "--config", "studies=[wide]")
    assert result.returncode == 0, result.stderr[-3000:]
    train = [line for line in result.stdout.splitlines() if "resources:" in line and "nodes=" in line]
    assert len(train) == 1 and "gres=gpu:4" in train[0] and "nodes=2" in train[0] and " gpu=" not in train[0], train


# --- a tiny real run: two studies, two protocols ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real run of two tiny studies (8 + 1 training jobs)."""
    project = tiny_project(tmp_path_factory.mktemp("tiny"))
    result = snakemake(project, "--cores", "2", "--config", "studies=[tiny,tiny_lr]")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return project, result


def run_folder(project: Path, protocol, dataset, aug, seed) -> Path:
    return project / f"results/runs/{protocol}/{dataset}/resnet8/{aug}/seed{seed}"


def test_tiny_end_to_end_writes_every_output(tiny_run):
    project, result = tiny_run
    assert job_counts(result.stderr + result.stdout)["train"] == 9
    for dataset in TINY_STUDY["datasets"]:
        for aug in TINY_STUDY["augmentations"]:
            for seed in TINY_STUDY["seeds"]:
                run = run_folder(project, "tiny", dataset, aug, seed)
                rows = list(csv.DictReader((run / "metrics.csv").open()))
                assert [int(r["epoch"]) for r in rows] == [1, 2]
                assert set(rows[0]) == {
                    "epoch",
                    "lr",
                    "train_loss",
                    "train_top1_error",
                    "test_loss",
                    "test_top1_error",
                    "test_top5_error",
                    "epoch_seconds",
                }
                assert all(0 <= float(r["test_top1_error"]) <= 100 for r in rows)
                timing = json.loads((run / "timing.json").read_text())
                assert timing["images_per_second"] > 0 and timing["device_name"]
                meta = json.loads((run / "meta.json").read_text())
                assert meta["run"]["seed"] == seed and meta["run"]["augmentation"] == aug
                assert meta["run"]["protocol"] == "tiny"
                assert meta["run"]["traditional"] == dataset.endswith("+")
                assert meta["config"]["recipe"]["epochs"] == 2 and meta["config"]["recipe"]["lr"] == 0.05
                # '+': the protocol's traditional augmentation (the demo recipe's pad-and-crop plus flip); else none
                pipeline = meta["pipeline"]
                assert (
                    (pipeline["name"], pipeline["padding"]) == ("pad_crop_flip", 4)
                    if dataset.endswith("+")
                    else pipeline is None
                )
                assert "device" in meta["execution"]
                assert "torch" in meta["packages"] and meta["code_version"]
                assert (run / "checkpoint.pt").stat().st_size > 0
                assert not (run / "resume.pt").exists()
                assert (project / f"results/logs/train/tiny/{dataset}/resnet8/{aug}/seed{seed}.log").exists()
                assert (project / f"results/benchmarks/train/tiny/{dataset}/resnet8/{aug}/seed{seed}.tsv").exists()
    other = json.loads((run_folder(project, "tiny_lr", "demo", "baseline", 0) / "meta.json").read_text())
    assert other["config"]["recipe"]["lr"] == 0.02 and other["run"]["protocol"] == "tiny_lr"
    variants = {
        json.loads(p.read_text())["run"]["variant"]
        for p in (project / "results/runs/tiny").glob("*/resnet8/saliencymix/seed*/meta.json")
    }
    assert variants == {"official"}  # the demo protocol's SaliencyMix default


def test_tiny_end_to_end_aggregates_over_seeds_per_protocol(tiny_run):
    project, _ = tiny_run
    rows = list(csv.DictReader((project / "results/aggregate/summary.csv").open()))
    assert len(rows) == 5  # tiny: (demo, demo+) x (baseline, saliencymix); tiny_lr: one
    runs = list(csv.DictReader((project / "results/aggregate/runs.csv").open()))
    for row in rows:
        mine = [
            float(r["best_top1_error"])
            for r in runs
            if (r["protocol"], r["traditional"], r["augmentation"])
            == (row["protocol"], row["traditional"], row["augmentation"])
        ]
        assert int(row["n"]) == len(mine) == (2 if row["protocol"] == "tiny" else 1)
        assert float(row["best_top1_error_mean"]) == pytest.approx(sum(mine) / len(mine))


def test_tiny_end_to_end_report_has_a_section_per_study(tiny_run):
    project, _ = tiny_run
    html = (project / "results/report/report.html").read_text()
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html
    assert 'id="study-tiny"' in html and 'id="study-tiny_lr"' in html
    assert "8 of 8 runs done" in html and "1 of 1 runs done" in html
    assert "saliencymix" in html and "official" in html
    # the shipped studies that did not run are folded away, one line each
    assert "other studies did not run here" in html and "saliencymix_cifar" in html


def test_adding_an_augmentation_or_a_seed_to_one_study_schedules_only_those_runs(tiny_run, tmp_path):
    project, _ = tiny_run
    shutil.copytree(project / "config/studies", project / "config/studies_more", dirs_exist_ok=True)
    add_study(
        project, "tiny", dict(TINY_STUDY, augmentations=["baseline", "saliencymix", "cutmix"]), "config/studies_more"
    )
    result = snakemake(project, "--dry-run", "--config", "studies=[tiny,tiny_lr]", "studies_dir=config/studies_more")
    assert result.returncode == 0, result.stderr[-3000:]
    # its 4 training jobs (2 datasets x 2 seeds), its preview on the demo images, aggregate and report
    counts = {"train": 4, "preview": 1, "aggregate": 1, "verdicts": 2, "report": 1, "all": 1, "total": 10}
    assert job_counts(result.stdout) == counts
    assert "/cutmix/" in result.stdout and "/baseline/seed" not in result.stdout.split("rule aggregate")[0]

    add_study(project, "tiny", dict(TINY_STUDY, seeds=[0, 1, 2]), "config/studies_more")
    result = snakemake(project, "--dry-run", "--config", "studies=[tiny,tiny_lr]", "studies_dir=config/studies_more")
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == {"train": 4, "aggregate": 1, "verdicts": 2, "report": 1, "all": 1, "total": 9}
    assert "seed2" in result.stdout and "seed1/" not in result.stdout.split("rule aggregate")[0]


def test_adding_a_study_schedules_only_its_new_runs(tiny_run):
    project, _ = tiny_run
    add_study(
        project, "tiny_more", dict(TINY_STUDY, datasets=["demo"], augmentations=["baseline", "cutout"], seeds=[0])
    )
    result = snakemake(project, "--dry-run", "--config", "studies=[tiny,tiny_lr,tiny_more]")
    assert result.returncode == 0, result.stderr[-3000:]
    # baseline/demo/seed0 is the tiny study's (shared, done): only cutout trains
    assert job_counts(result.stdout)["train"] == 1
    assert "augmentation=cutout" in result.stdout
    (project / "config/studies/tiny_more.yaml").unlink()


def test_changing_one_protocol_reruns_only_its_runs_in_their_own_folders(tiny_run):
    project, _ = tiny_run
    tiny_files = {p: p.stat().st_mtime_ns for p in (project / "results/runs/tiny").rglob("*") if p.is_file()}
    before = (run_folder(project, "tiny_lr", "demo", "baseline", 0) / "metrics.csv").read_text()
    text = (project / "config/protocols.yaml").read_text()
    (project / "config/protocols_changed.yaml").write_text(text.replace("lr: 0.02", "lr: 0.01"))
    args = ("--config", "studies=[tiny,tiny_lr]", "protocols=config/protocols_changed.yaml")
    dry = snakemake(project, "--dry-run", *args)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout)["train"] == 1 and "protocol=tiny_lr" in dry.stdout
    result = snakemake(project, "--cores", "2", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_folder(project, "tiny_lr", "demo", "baseline", 0) / "metrics.csv").read_text() != before
    assert {p: p.stat().st_mtime_ns for p in (project / "results/runs/tiny").rglob("*") if p.is_file()} == tiny_files


# --- the demo: its verdicts as data, and the report showing the files' numbers -----------------------


def test_the_demo_writes_its_verdicts_and_the_report_shows_their_numbers(tmp_path):
    """The demo study end to end with its recipe shortened (2 epochs on a few hundred images, two seeds): the verdict
    files exist, one row per published cell and per claim, and every number the report prints for a cell is the
    file's."""
    import math
    import re

    import pandas as pd

    project = copy_project(tmp_path / "project")
    protocols = yaml.safe_load((project / "config/protocols.yaml").read_text())
    protocols["demo"].update({k: v for k, v in TINY_PROTOCOL.items() if k not in ("title", "base")})
    (project / "config/protocols.yaml").write_text(yaml.safe_dump(protocols, sort_keys=False))
    study = yaml.safe_load((project / "config/studies/demo.yaml").read_text())
    (project / "config/studies/demo.yaml").write_text(yaml.safe_dump(dict(study, seeds=[0, 1]), sort_keys=False))
    result = snakemake(project, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    folder = project / "results/verdicts"
    cells = pd.read_csv(folder / "demo.csv")
    claims = pd.read_csv(folder / "demo.claims.csv")
    claim_cells = pd.read_csv(folder / "demo.claim_cells.csv")
    published = pd.read_csv(project / "resources/published/demo_reference.csv")
    assert len(cells) == len(published) and set(cells["augmentation"]) == set(published["augmentation"])
    assert len(claims) == len(study["claims"]) and len(claim_cells) == len(claims)
    assert (cells["n"] == 2).all() and cells["margin_rule"].eq("sd").all()
    html = (project / "results/report/report.html").read_text()
    section = html.split('id="study-demo"')[1].split("</section>")[0]
    for row in cells.itertuples():
        entry = f"{row.ours_mean:.2f} ± {row.ours_std:.2f} (n={row.n})"
        assert entry in section, entry
        assert f"(margin ±{row.margin:.2f} = {row.margin_in_sd:.2g} σ)" in section
        assert f"[{row.ci_low:+.2f}, {row.ci_high:+.2f}]" in section
        if row.verdict == "inconclusive" and not math.isnan(row.more_seeds):
            assert row.power in section.replace("&#39;", "'")
    verdicts = re.findall(r'class="entry ([a-z-]+)"', section)
    assert sorted(verdicts) == sorted(v.replace(" ", "-") for v in cells["verdict"])
    assert f'data-verdict="{claims.loc[0, "verdict"]}"' in section


# --- adaptive seeds: a checkpoint per look adds seeds only where the verdict is undecided --------------


def test_an_adaptive_study_trains_more_seeds_only_for_an_undecided_cell_and_stops(tmp_path):
    """Two cells, seeds in looks of 3 and 4: the baseline's published number is far from ours (decided at the first
    look: 3 seeds), SaliencyMix's is too noisy to decide (its published std over two runs): it gets the second look's
    fourth seed, then stops at the last look. A rerun runs nothing."""
    import pandas as pd

    project = copy_project(tmp_path / "project")
    add_protocol(project, "tiny", TINY_PROTOCOL)
    (project / "resources/published/tiny_reference.csv").write_text(
        "source,protocol,dataset,traditional,model,augmentation,epochs,metric,mean,std,runs,note\n"
        "tiny ref,tiny,demo,false,resnet8,baseline,2,top1_error,1.0,0.01,5,far from ours\n"
        "tiny ref,tiny,demo,false,resnet8,saliencymix,2,top1_error,50.0,40.0,2,too noisy to decide\n"
    )
    study = dict(
        TINY_STUDY,
        datasets=["demo"],
        seeds={"start": 3, "step": 1, "max": 4, "futility": 0},
        published=["tiny_reference.csv"],
        margin={"value": 1.0, "reason": "a test margin"},
    )
    add_study(project, "tiny_adaptive", study)
    result = snakemake(project, "--cores", "2", "--config", "studies=[tiny_adaptive]")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    runs = project / "results/runs/tiny/demo/resnet8"
    assert sorted(p.name for p in (runs / "baseline").iterdir()) == ["seed0", "seed1", "seed2"]
    assert sorted(p.name for p in (runs / "saliencymix").iterdir()) == ["seed0", "seed1", "seed2", "seed3"]
    looks = sorted((project / "results/verdicts/tiny_adaptive").glob("look*.json"))
    assert [p.name for p in looks] == ["look0.json", "look1.json"]
    verdicts = pd.read_csv(project / "results/verdicts/tiny_adaptive.csv").set_index("augmentation")
    assert (verdicts.loc["baseline", "n"], verdicts.loc["baseline", "looks"]) == (3, 1)
    assert verdicts.loc["baseline", "verdict"] == "worse" and verdicts.loc["baseline", "stop"].startswith("decided")
    assert (verdicts.loc["saliencymix", "n"], verdicts.loc["saliencymix", "looks"]) == (4, 2)
    assert verdicts.loc["saliencymix", "stop"] == "undecided at the last look (4 seeds)"
    html = (project / "results/report/report.html").read_text()
    assert "adaptive seeds: decided at look 1 of 2" in html
    rerun = snakemake(project, "--cores", "2", "--config", "studies=[tiny_adaptive]")
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout + rerun.stderr


# --- bad input: refused before any job, naming the file, the key and the valid values ----------------


def bad_project(tmp_path: Path, case: str) -> tuple[Path, list[str]]:
    project = tiny_project(tmp_path)
    studies = ["tiny"]
    if case == "unknown study":
        studies, expected = ["nosuchstudy"], ["studies", "nosuchstudy", "saliencymix_cifar", "tiny"]
    elif case == "two studies give one alias different parameters":
        add_study(
            project,
            "tiny",
            dict(TINY_STUDY, augmentations=["sm"], methods={"sm": {"method": "saliencymix", "variant": "paper"}}),
        )
        add_study(
            project,
            "tiny_lr",
            dict(TINY_LR_STUDY, augmentations=["sm"], methods={"sm": {"method": "saliencymix", "variant": "official"}}),
        )
        expected = ["methods.sm", "tiny.yaml", "tiny_lr.yaml", "same parameters"]
    elif case == "protocol cycle":
        add_protocol(project, "loop_a", {"base": "loop_b"})
        add_protocol(project, "loop_b", {"base": "loop_a"})
        expected = ["protocol cycle", "loop_a -> loop_b -> loop_a"]
    else:
        expected = bad_tiny_study(project, case)
    write_config(project / "bad.yaml", {"studies": studies})
    return project, expected


def bad_tiny_study(project: Path, case: str) -> list[str]:
    """A bad ``tiny`` study (or protocol) for ``case``, written into ``project``; what its error must name."""
    if case == "unknown protocol":
        add_study(project, "tiny", dict(TINY_STUDY, protocol="fastest"))
        expected = ["tiny.yaml", "fastest", "saliencymix_cifar"]
    elif case == "unknown model":
        add_study(project, "tiny", dict(TINY_STUDY, models=["resnet9000"]))
        expected = ["tiny.yaml", "models", "resnet9000", "resnet18", "wrn28_10"]
    elif case == "unknown method":
        add_study(project, "tiny", dict(TINY_STUDY, augmentations=["fancymix"]))
        expected = ["tiny.yaml", "fancymix", "cutmix", "saliencymix"]
    elif case == "unknown dataset":
        add_study(project, "tiny", dict(TINY_STUDY, datasets=["mnist"]))
        expected = ["tiny.yaml", "datasets", "mnist", "cifar10", "cifar100"]
    elif case == "unknown method parameter":
        add_study(
            project, "tiny", dict(TINY_STUDY, augmentations=["cm"], methods={"cm": {"method": "cutmix", "alpha": 1.0}})
        )
        expected = ["tiny.yaml", "cm", "alpha", "beta, prob"]
    elif case == "parameter out of range":
        add_study(
            project, "tiny", dict(TINY_STUDY, augmentations=["cm"], methods={"cm": {"method": "cutmix", "beta": -1}})
        )
        expected = ["tiny.yaml", "cutmix.beta = -1", "expected > 0", "use the method `baseline`"]
    elif case == "bad variant":
        add_study(
            project,
            "tiny",
            dict(TINY_STUDY, augmentations=["sm"], methods={"sm": {"method": "saliencymix", "variant": "magic"}}),
        )
        expected = ["tiny.yaml", "saliencymix", "magic", "one of official, paper"]
    elif case == "alias shadows a registered method":
        add_study(project, "tiny", dict(TINY_STUDY, methods={"saliencymix": {"variant": "paper"}}))
        expected = ["tiny.yaml", "methods.saliencymix", "variant", "define an alias"]
    elif case == "study without seeds":
        add_study(project, "tiny", {k: v for k, v in TINY_STUDY.items() if k != "seeds"})
        expected = ["tiny.yaml", "no seeds", "seeds: [0, 1, 2, 3, 4]"]
    elif case == "wrong type":
        add_study(project, "tiny", dict(TINY_STUDY, seeds=[0, "one"]))
        expected = ["tiny.yaml", "seeds", "one", "integer"]
    elif case == "unknown study key":
        add_study(project, "tiny", dict(TINY_STUDY, epochs=10))
        expected = ["tiny.yaml", "epochs", "valid keys", "protocol"]
    elif case == "published cells without a margin":
        add_study(project, "tiny", dict(TINY_STUDY, published=["demo_reference.csv"], protocol="demo"))
        expected = ["tiny.yaml", "published cells but declares no margin", "margin: {sd: 2, reason: <why>}"]
    elif case == "margin without a reason":
        study = dict(TINY_STUDY, published=["demo_reference.csv"], protocol="demo", margin={"sd": 2})
        add_study(project, "tiny", study)
        expected = ["tiny.yaml", "margin", "'reason' is required"]
    else:
        raise AssertionError(case)
    return expected


BAD_CASES = [
    "unknown study",
    "unknown protocol",
    "unknown model",
    "unknown method",
    "unknown dataset",
    "unknown method parameter",
    "parameter out of range",
    "bad variant",
    "alias shadows a registered method",
    "two studies give one alias different parameters",
    "protocol cycle",
    "study without seeds",
    "wrong type",
    "unknown study key",
    "published cells without a margin",
    "margin without a reason",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_refused_before_any_job(tmp_path, case):
    project, expected = bad_project(tmp_path, case)
    result = snakemake(project, "--dry-run", "--configfile", "bad.yaml")
    message = result.stdout + result.stderr
    assert result.returncode != 0
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message[-2000:]}"
    assert not (project / "results").exists()


def test_bad_config_keys_are_refused(project):
    write_config(project / "bad.yaml", {"training": {"epochs": 10}})
    result = snakemake(project, "--dry-run", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert "epochs" in result.stdout + result.stderr and "Additional properties" in result.stdout + result.stderr
