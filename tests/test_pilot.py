"""The pilot: one short job per shape of the chosen studies' runs, measured on this machine; the summary that names every
failed shape before any training job; the plan priced on the measurements (and on the FLOP estimate where there is
none); bad settings refused before any job."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest
import yaml
from conftest import ROOT, TINY_PROTOCOL, add_protocol, add_study, copy_project, job_counts, snakemake

from augrepro.augment import method_cost
from augrepro.runs import PilotKey, RunKey
from augrepro.studies import plan_rows, select_from_config
from augrepro.studies.costs import estimate_hours, load_costs
from augrepro.studies.pilot import PilotSettings
from augrepro.studies.plan import pilot_shapes

RESOURCES = {"gpus": 0, "threads": 1, "mem_mb": 1000, "runtime_min": 10}
# Two studies, three shapes: tiny on demo and demo+ in one process; a protocol whose learning rate (1e38) overflows
# the weights in its first steps, on the 2 processes of its study's shape (torchrun, gloo): a failure that only running
# finds (a batch the processes cannot split is refused before, when the studies are checked). (A pilot measured on 2
# processes: tests/test_slurm.py.)
STUDIES = {
    "pilot_one": {
        "protocol": "tiny",
        "datasets": ["demo", "demo+"],
        "models": ["resnet8"],
        "augmentations": ["baseline", "cutmix"],
        "seeds": [0, 1],
        "resources": RESOURCES,
    },
    "pilot_bad": {
        "protocol": "tiny_nan",
        "datasets": ["demo"],
        "models": ["resnet8"],
        "augmentations": ["baseline"],
        "seeds": [0],
        "resources": dict(RESOURCES, gpus=2, threads=2),
    },
}
CONFIG = {"studies": list(STUDIES)}
BAD = PilotKey("tiny_nan", "demo", "resnet8", 2, 1)


@pytest.fixture(scope="module")
def piloted(tmp_path_factory):
    """The studies' pilot, run once through Snakemake: (project, completed process)."""
    project = copy_project(tmp_path_factory.mktemp("pilot") / "project")
    add_protocol(project, "tiny", TINY_PROTOCOL)
    add_protocol(project, "tiny_nan", {"title": "tiny with a learning rate that overflows", "base": "tiny", "lr": 1e38})
    for name, study in STUDIES.items():
        add_study(project, name, study)
    result = snakemake(
        project,
        "--cores",
        "2",
        "--config",
        "pilot=true",
        f"studies=[{','.join(STUDIES)}]",
        "pilot_settings={steps: 4, warmup: 2}",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return project, result


def expected_gpu_hours(record: dict, epochs: int) -> float:
    """What a pilot file implies for one run of its shape: start-up (setup, the warm-up's time beyond the steady rate)
    plus, per epoch, a fresh epoch's first batch, training and test images at the measured rates and a checkpoint;
    wall hours times the GPUs."""
    startup = record["setup_seconds"] + max(
        0.0, record["warmup_seconds"] - record["warmup_images"] / record["train_images_per_second"]
    )
    epoch = (
        record["epoch_start_seconds"]
        + record["train_images"] / record["train_images_per_second"]
        + record["test_images"] / record["eval_images_per_second"]
        + record["checkpoint_seconds"]
    )
    return (startup + epochs * epoch) / 3600 * record["world_size"]


def test_the_pilot_measures_every_shape_and_trains_nothing(piloted):
    project, result = piloted
    counts = job_counts(result.stdout + result.stderr)
    assert counts["pilot"] == 3 and counts["pilot_summary"] == 1 and "train" not in counts
    assert not (project / "results/runs").exists()
    selection = select_from_config(CONFIG, project)
    shapes = pilot_shapes(selection)
    assert {key.label() for key in shapes} == {
        "tiny/demo/resnet8/gpus0_nodes1",
        "tiny/demo+/resnet8/gpus0_nodes1",
        "tiny_nan/demo/resnet8/gpus2_nodes1",
    }
    from augrepro.provenance import device_name

    cpu = device_name(__import__("torch").device("cpu"))
    for key in shapes:
        record = json.loads((project / key.result).read_text())
        if key == BAD:
            continue
        assert record["status"] == "ok", record.get("failure")
        assert record["world_size"] == max(1, key.gpus) and len(record["ranks"]) == record["world_size"]
        assert record["device_name"] == cpu and record["memory"]["peak_host_memory_bytes"] > 100e6
        assert record["steps"] == 4 and record["train_images_measured"] == 4 * 32
        assert record["train_images_per_second"] > 0 and record["eval_images_per_second"] > 0
        assert (record["train_images"], record["test_images"]) == (192, 100)  # the tiny protocol's subsets
        # the shape's costliest method by the plan's per-method cost: CutMix over the baseline
        assert record["method"] == "cutmix" and method_cost("cutmix") > method_cost("baseline")
        assert not (project / key.result).with_name("work").exists()  # the worker's files are gone
    with open(project / "results/pilot/summary.csv", newline="") as fh:
        rows = {r["shape"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {key.label() for key in shapes}
    assert [rows[k.label()]["status"] for k in shapes if k != BAD] == ["ok"] * 2


def test_a_failed_shape_is_named_with_why_before_any_training_job(piloted):
    project, result = piloted
    output = result.stdout + result.stderr
    failed = [line for line in output.splitlines() if "FAILED" in line and BAD.label() in line]
    assert failed, output[-3000:]
    assert "non_finite_loss" in failed[0] and "loss became" in failed[0]
    assert "augrepro pilot: 3 shapes, 2 measured, 1 failed" in output
    assert f"pilot the failed shapes again: --config pilot=true --forcerun {BAD.result}" in output
    assert not (project / "results/runs").exists()  # no training job started, none was scheduled
    record = json.loads((project / BAD.result).read_text())
    assert record["status"] == "failed" and record["failure"]["kind"] == "non_finite_loss"
    assert record["run"] == "tiny_nan/demo/resnet8/baseline/seed0" and record["world_size"] == 2
    with open(project / "results/pilot/summary.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["shape"] == BAD.label())
    assert row["status"] == "failed" and "loss became" in row["failure"] and row["run_hours"] == ""


def test_the_plan_prices_on_the_measurements_and_says_which_price_it_used(piloted):
    project, result = piloted
    selection = select_from_config(CONFIG, project)
    rows = {r.study: r for r in plan_rows(selection)}
    shapes = pilot_shapes(selection)
    costs = load_costs()
    from augrepro.studies.costs import reference_rate

    rate = reference_rate(costs)

    def price(run: RunKey) -> float:
        key = next(k for k, s in shapes.items() if run in s.runs)
        record = json.loads((project / key.result).read_text())
        resolved = selection.resolved_run(run)
        if record["status"] == "ok":
            return expected_gpu_hours(record, resolved.protocol.epochs)
        return estimate_hours(resolved, costs, rate)

    for name in STUDIES:
        study = next(s for s in selection.studies if s.name == name)
        assert rows[name].gpu_hours == pytest.approx(sum(price(k) for k in study.runs()), rel=1e-12)
    assert (rows["pilot_one"].price, rows["pilot_bad"].price) == ("pilot", "FLOPs")
    assert rows["pilot_one"].measured == 8 and rows["pilot_bad"].measured == 0
    total = rows["all chosen studies (each run once)"]
    assert total.price == "pilot+FLOPs" and total.measured == 8
    assert any(BAD.label() in note and "failed" in note for note in total.notes)
    # the summary job printed that plan: the measured studies say so, with the device they were measured on
    output = result.stdout + result.stderr
    plan = output[output.index("The plan on the pilot's measurements") :]
    assert re.search(r"^pilot_one\s+8\s.*\spilot$", plan, re.M) and re.search(r"^pilot_bad\s+1\s.*\sFLOPs$", plan, re.M)
    assert (
        f"price: 8 runs measured on {json.loads((project / next(iter(shapes)).result).read_text())['device_name']}"
        in plan
    )
    assert f"pilot failed: {BAD.label()}: non_finite_loss" in plan


def test_a_shape_without_a_valid_measurement_keeps_the_flop_estimate(piloted, tmp_path):
    """A shape with no pilot file is priced on the FLOP estimate beside the measured one (pilot+FLOPs); a pilot that
    measured other protocol values than the runs now have is stale, and says so."""
    project, _ = piloted
    copy = tmp_path / "copy"
    shutil.copytree(project / "config", copy / "config")
    shutil.copytree(project / "results/pilot", copy / "results/pilot")
    plus = PilotKey("tiny", "demo+", "resnet8", 0, 1)
    (copy / plus.result).unlink()
    selection = select_from_config(CONFIG, ROOT, workdir=copy)  # the copy's config/ and results/
    row = next(r for r in plan_rows(selection) if r.study == "pilot_one")
    record = json.loads((copy / PilotKey("tiny", "demo", "resnet8", 0, 1).result).read_text())
    costs = load_costs()
    from augrepro.studies.costs import reference_rate

    rate = reference_rate(costs)
    runs = next(s for s in selection.studies if s.name == "pilot_one").runs()
    expected = sum(
        expected_gpu_hours(record, 2)
        if k.dataset_key == "demo"
        else estimate_hours(selection.resolved_run(k), costs, rate)
        for k in runs
    )
    assert row.price == "pilot+FLOPs" and row.measured == 4
    assert row.gpu_hours == pytest.approx(expected, rel=1e-12)
    # the tiny protocol's lr changed after the pilot: its shapes' measurements are stale
    protocols = yaml.safe_load((copy / "config/protocols.yaml").read_text())
    protocols["tiny"]["lr"] = 0.01
    (copy / "config/protocols.yaml").write_text(yaml.safe_dump(protocols, sort_keys=False))
    rows = plan_rows(select_from_config(CONFIG, ROOT, workdir=copy))
    assert next(r for r in rows if r.study == "pilot_one").price == "FLOPs"
    assert any("pilot stale: tiny/demo/resnet8/gpus0_nodes1" in note for note in rows[-1].notes)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("pilot=maybe", "schema['properties']['pilot']"),
        ("pilot_settings={steps: 0}", "pilot_settings.steps is '0'; expected an integer >= 1"),
        ("pilot_settings={stpes: 3}", "stpes"),
    ],
)
def test_bad_pilot_settings_are_refused_before_any_job(project, setting, message):
    result = snakemake(project, "--dry-run", "--config", "pilot=true", setting)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, (result.stdout + result.stderr)[-2000:]
    assert not (project / "results").exists()


def test_the_pilot_settings_have_one_set_of_defaults():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    properties = schema["properties"]["pilot_settings"]["properties"]
    assert {k: v["default"] for k, v in properties.items()} == PilotSettings().as_dict()
    assert schema["properties"]["pilot"]["default"] is False
    assert PilotSettings.of({"steps": "100", "warmup": None}) == PilotSettings(steps=100)
    with pytest.raises(ValueError, match="pilot_settings.warmup is -1; expected an integer >= 0"):
        PilotSettings.of({"warmup": -1})


def test_the_paper_pilot_runs_one_job_per_shape_with_its_gpus_on_slurm(project, tmp_path):
    """The whole paper in pilot mode through the SLURM profile, dry-run: one pilot job per distinct (protocol, dataset,
    model, GPUs), with the shape's GPUs (4 for ImageNet), no training job; the rule's path is augrepro.runs'."""
    from augrepro.runs import PILOT_LOG, PILOT_RESULT

    rule = (ROOT / "workflow/rules/pilot.smk").read_text()
    assert f'result="{PILOT_RESULT}"' in rule and f'"{PILOT_LOG}"' in rule
    imagenet = tmp_path / "imagenet"
    imagenet.mkdir()
    result = snakemake(
        project, "--profile", "slurm", "--dry-run", "--config", "pilot=true", f"data={{imagenet_path: {imagenet}}}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    selection = select_from_config(
        {**yaml.safe_load((ROOT / "config/paper.yaml").read_text()), "data": {"imagenet_path": str(imagenet)}}, ROOT
    )
    shapes = pilot_shapes(selection)
    counts = job_counts(result.stdout)
    assert counts["pilot"] == len(shapes) and "train" not in counts and "report" not in counts
    assert len(shapes) < len(selection.runs) / 5  # the pilot is a small fraction of the bill's jobs
    pilots = [line for line in result.stdout.splitlines() if "resources:" in line and " gpu=" in line]
    assert len(pilots) == len(shapes) and all("runtime=30" in line for line in pilots)  # pilot_settings.runtime_min
    assert sum("gpu=4" in line for line in pilots) == sum(k.gpus == 4 for k in shapes) == 2  # ResNet-50 and -101
    cifar = shapes[PilotKey("saliencymix_cifar", "cifar10+", "resnet18", 1, 1)]
    assert selection.resolved_run(cifar.run).method == "saliencymix"  # its costliest method, by the plan's table


def test_a_pilot_past_its_deadline_is_stopped_and_recorded_as_timed_out(piloted, tmp_path):
    """The supervisor stops a worker that runs past the deadline (SIGTERM to its process group) and writes the
    result anyway: every shape's result comes back."""
    from augrepro.train.pilot import run_pilot

    project, _ = piloted
    selection = select_from_config(CONFIG, project)
    key, shape = next(iter(pilot_shapes(selection).items()))
    result = tmp_path / key.result
    settings = PilotSettings(steps=100_000, warmup=0)
    data = project / "results/data/demo/data.npz"
    run = selection.resolved_run(shape.run)
    record = run_pilot(key, run, data, result, {"device": "cpu"}, 1, settings=settings, deadline_seconds=8)
    assert record["status"] == "failed" and record["failure"]["kind"] == "timeout"
    assert "did not finish" in record["failure"]["message"] and "lower steps (100000)" in record["failure"]["message"]
    assert json.loads(result.read_text()) == json.loads(json.dumps(record, default=str))
    assert 8 <= record["job"]["wall_seconds"] < 8 + 30 and not result.with_name("work").exists()


def test_augrepro_pilot_measures_on_this_machine_and_records_what_it_cannot_start(piloted, tmp_path, capsys):
    """Outside Snakemake: the demo's shape measured from the prepared data; a study whose data is not prepared here
    (CIFAR-10) is recorded as missing data with the command that prepares it; the summary, the plan, exit 1."""
    from augrepro.cli import main

    project, _ = piloted
    for item in ("config", "resources", "results/data/demo"):
        shutil.copytree(project / item, tmp_path / item)
    args = ["pilot", "--root", str(tmp_path), "--studies", "demo,saliencymix_time", "--steps", "2", "--warmup", "0"]
    assert main([*args, "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    demo = json.loads((tmp_path / PilotKey("demo", "demo", "resnet8", 0, 1).result).read_text())
    assert demo["status"] == "ok" and demo["steps"] == 2 and demo["method"] == "saliencymix"
    missing = json.loads((tmp_path / PilotKey("saliencymix_cifar", "cifar10+", "resnet18", 1, 1).result).read_text())
    assert missing["status"] == "failed" and missing["failure"]["kind"] == "missing_data"
    assert "snakemake results/data/cifar10/data.npz" in missing["failure"]["message"]
    assert "FAILED saliencymix_cifar/cifar10+/resnet18/gpus1_nodes1: missing_data" in out
    demo_study = yaml.safe_load((ROOT / "config/studies/demo.yaml").read_text())
    demo_runs = len(demo_study["augmentations"]) * len(demo_study["seeds"])
    assert re.search(rf"^demo\s+{demo_runs}\s.*\spilot$", out, re.M) and re.search(
        r"^saliencymix_time\s+25\s.*\sFLOPs$", out, re.M
    )
    assert (tmp_path / "results/pilot/summary.csv").is_file()
