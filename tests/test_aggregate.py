import json
import math
from pathlib import Path

import pandas as pd
import pytest

from augrepro.results.aggregate import collect_runs, summarize, write_aggregate
from augrepro.runs import RunKey, dataset_key, identity_record

HEADER = "epoch,lr,train_loss,train_top1_error,test_loss,test_top1_error,test_top5_error,epoch_seconds"


def make_run(
    root: Path,
    top1: list[float],
    top5: list[float] | None = None,
    *,
    protocol="saliencymix_cifar",
    dataset="cifar10",
    traditional=True,
    model="resnet18",
    augmentation="saliencymix",
    method=None,
    variant="official",
    seed=0,
    wall_seconds=7200.0,
    skip: str | None = None,
) -> Path:
    """A finished run's folder under ``root`` (standing for results/runs), as the engine writes it."""
    key = RunKey(protocol, dataset_key(dataset, traditional), model, augmentation, seed)
    run_dir = root / key.subdir
    run_dir.mkdir(parents=True)
    top5 = top5 if top5 is not None else [e / 4 for e in top1]
    lines = [HEADER]
    for i, (e1, e5) in enumerate(zip(top1, top5), start=1):
        lines.append(f"{i},0.1,{2.0 / i:.4f},{e1 + 1},{1.0 / i:.4f},{e1},{e5},3.5")
    files = {
        "metrics.csv": "\n".join(lines) + "\n",
        "timing.json": json.dumps(
            {
                "wall_seconds": wall_seconds,
                "train_seconds": wall_seconds * 0.9,
                "eval_seconds": wall_seconds * 0.1,
                "images_per_second": 1234.5,
                "device": "cuda",
                "device_name": "Test GPU",
                "epochs": len(top1),
            }
        ),
        "meta.json": json.dumps(
            {
                "run": identity_record(key, method or augmentation, variant),
                "config": {},
                "code_version": "abc123",
                "packages": {"torch": "2.4.0"},
                "python": "3.11.9",
                "hostname": "node1",
            }
        ),
    }
    for name, text in files.items():
        if name != skip:
            (run_dir / name).write_text(text)
    return run_dir


# 12 epochs: best 3.0 at epoch 4; last 10 = epochs 3..12
SEED0 = [9.0, 7.0, 5.0, 3.0, 6.0, 5.5, 4.0, 4.5, 5.0, 6.5, 4.2, 4.8]
SEED1 = [8.0, 6.0, 4.0, 5.0, 3.5, 4.5, 4.4, 4.6, 4.0, 3.9, 4.1, 4.4]


def test_per_run_statistics(tmp_path):
    top5 = [2.0, 1.5, 1.0, 1.2, 0.8, 0.9, 1.1, 1.3, 0.95, 1.0, 1.05, 1.1]
    run = make_run(tmp_path, SEED0, top5, seed=0)
    runs, curves = collect_runs([run])
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["best_top1_error"] == pytest.approx(3.0)
    assert row["best_epoch"] == 4
    assert row["final_top1_error"] == pytest.approx(4.8)
    expected_median = float(pd.Series(SEED0[-10:]).median())
    assert expected_median != pytest.approx(float(pd.Series(SEED0).median()))
    assert row["median_last10_top1_error"] == pytest.approx(expected_median)
    assert row["top5_at_best_top1_error"] == pytest.approx(1.2)  # at the best top-1 epoch (4), not the minimum 0.8
    assert row["final_top5_error"] == pytest.approx(1.1)
    assert row["epochs"] == 12
    assert row["hours"] == pytest.approx(2.0)
    assert row["train_hours"] == pytest.approx(1.8)
    assert row["device_name"] == "Test GPU"
    assert row["numerics"] is None  # a timing.json without the numerics flags
    assert row["traditional"] is True or row["traditional"] == True  # noqa: E712
    assert len(curves) == 12
    assert list(curves["epoch"]) == list(range(1, 13))
    assert set(curves.columns) >= {
        "protocol",
        "dataset",
        "traditional",
        "model",
        "augmentation",
        "seed",
        "epoch",
        "train_loss",
        "test_top1_error",
        "test_top5_error",
    }


def test_short_run_median_uses_all_epochs(tmp_path):
    run = make_run(tmp_path, [5.0, 1.0, 3.0], seed=0)
    runs, _ = collect_runs([run])
    assert runs.iloc[0]["median_last10_top1_error"] == pytest.approx(3.0)
    assert runs.iloc[0]["best_epoch"] == 2


def test_summarize_over_seeds_and_null_variant(tmp_path):
    runs_dirs = [
        make_run(tmp_path, SEED0, seed=0),
        make_run(tmp_path, SEED1, seed=1),
        make_run(tmp_path, [10.0, 9.0], augmentation="baseline", variant=None, seed=0),
    ]
    runs, _ = collect_runs(runs_dirs)
    summary = summarize(runs)
    assert len(summary) == 2  # the baseline row with a null variant is kept

    sal = summary[summary["augmentation"] == "saliencymix"].iloc[0]
    assert sal["n"] == 2
    assert sal["variant"] == "official"
    assert sal["best_top1_error_mean"] == pytest.approx((3.0 + 3.5) / 2)
    # sample std (ddof=1) of [3.0, 3.5]
    assert sal["best_top1_error_std"] == pytest.approx(math.sqrt(0.125))
    assert sal["final_top1_error_mean"] == pytest.approx((4.8 + 4.4) / 2)
    assert sal["hours_mean"] == pytest.approx(2.0)

    base = summary[summary["augmentation"] == "baseline"].iloc[0]
    assert base["n"] == 1
    assert pd.isna(base["variant"])
    assert math.isnan(base["best_top1_error_std"])
    assert base["best_top1_error_mean"] == pytest.approx(9.0)


def test_write_aggregate_roundtrip(tmp_path):
    dirs = [make_run(tmp_path / "runs", SEED0, seed=0), make_run(tmp_path / "runs", SEED1, seed=1)]
    out = tmp_path / "out"
    write_aggregate(dirs, out / "runs.csv", out / "summary.csv", out / "curves.csv")
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "runs.csv", "summary.csv"]
    runs = pd.read_csv(out / "runs.csv")
    summary = pd.read_csv(out / "summary.csv")
    curves = pd.read_csv(out / "curves.csv")
    assert len(runs) == 2 and len(summary) == 1 and len(curves) == 24
    assert summary.loc[0, "n"] == 2


@pytest.mark.parametrize("missing", ["metrics.csv", "timing.json", "meta.json"])
def test_missing_file_names_path(tmp_path, missing):
    run = make_run(tmp_path, SEED0, skip=missing)
    with pytest.raises(ValueError) as err:
        collect_runs([run])
    assert missing in str(err.value)
    assert str(run) in str(err.value)


def test_empty_metrics_raises(tmp_path):
    run = make_run(tmp_path, SEED0)
    (run / "metrics.csv").write_text("")
    with pytest.raises(ValueError, match="metrics.csv"):
        collect_runs([run])
    (run / "metrics.csv").write_text(HEADER + "\n")
    with pytest.raises(ValueError, match="metrics.csv"):
        collect_runs([run])


# --- partial aggregation -------------------------------------------------------------

from augrepro.results.aggregate import run_status, scan_grid, write_partial_aggregate  # noqa: E402


def grid_entry(root: Path, augmentation: str, seed: int, **extra) -> dict:
    key = RunKey("saliencymix_cifar", "cifar10+", "resnet18", augmentation, seed)
    entry = {
        "protocol": key.protocol,
        "dataset": "cifar10",
        "traditional": True,
        "model": "resnet18",
        "augmentation": augmentation,
        "method": augmentation,
        "variant": None,
        "seed": seed,
        "epochs": 12,
        "run_dir": str(root / key.subdir),
        "log": str(root / "logs" / f"{augmentation}-{seed}.log"),
    }
    entry.update(extra)
    return entry


def test_run_status_ok_failed_missing(tmp_path):
    ok = make_run(tmp_path, SEED0, seed=0)
    assert run_status(ok, tmp_path / "no.log") == ("ok", "")
    log = tmp_path / "train.log"
    assert run_status(tmp_path / "nothing", log)[0] == "missing"
    log.write_text("Traceback ...\n")
    status, reason = run_status(tmp_path / "nothing", log)
    assert status == "failed" and str(log) in reason
    partial = make_run(tmp_path, SEED1, seed=1, skip="meta.json")
    status, reason = run_status(partial, tmp_path / "absent.log")
    assert status == "failed" and "meta.json" in reason


def test_scan_grid_reads_what_exists(tmp_path):
    make_run(tmp_path, SEED0, seed=0, augmentation="baseline", variant=None)
    make_run(tmp_path, SEED1, seed=1, augmentation="baseline", variant=None)
    broken = make_run(tmp_path, SEED0, seed=0)  # saliencymix seed 0: unreadable metrics
    (broken / "metrics.csv").write_text("")
    grid = [
        grid_entry(tmp_path, "baseline", 0),
        grid_entry(tmp_path, "baseline", 1),
        grid_entry(tmp_path, "saliencymix", 0),
        grid_entry(tmp_path, "saliencymix", 1),  # never started
        grid_entry(tmp_path, "cutmix", 0),  # started, crashed
    ]
    Path(grid[4]["log"]).parent.mkdir(parents=True, exist_ok=True)
    Path(grid[4]["log"]).write_text("CUDA out of memory\n")
    runs, curves, status = scan_grid(grid)
    assert len(runs) == 2 and set(runs["augmentation"]) == {"baseline"}
    assert len(curves) == 24
    assert list(status["status"]) == ["ok", "ok", "failed", "missing", "failed"]
    assert "metrics.csv is empty" in status.loc[2, "reason"]
    out = tmp_path / "out"
    written = write_partial_aggregate(
        grid, out / "runs.csv", out / "summary.csv", out / "curves.csv", out / "status.csv"
    )
    assert written["status"].tolist() == status["status"].tolist()
    assert pd.read_csv(out / "summary.csv").loc[0, "n"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "runs.csv", "status.csv", "summary.csv"]


def test_scan_grid_with_nothing_run(tmp_path):
    runs, curves, status = scan_grid([grid_entry(tmp_path, "baseline", 0)])
    assert runs.empty and curves.empty and list(status["status"]) == ["missing"]
    assert summarize(runs).empty


def test_scan_grid_refuses_incomplete_entries(tmp_path):
    entry = grid_entry(tmp_path, "baseline", 0)
    del entry["log"]
    with pytest.raises(ValueError, match="lacks key.*log"):
        scan_grid([entry])


def test_a_data_parallel_run_costs_its_wall_hours_on_every_gpu(tmp_path):
    single, multi = make_run(tmp_path, SEED0, seed=0), make_run(tmp_path, SEED1, seed=1)
    timing = json.loads((multi / "timing.json").read_text())
    (multi / "timing.json").write_text(json.dumps({**timing, "world_size": 4}))
    runs, _ = collect_runs([single, multi])
    assert list(runs["world_size"]) == [1, 4]
    assert list(runs["hours"]) == pytest.approx([2.0, 2.0])  # wall time, what the published times compare with
    assert list(runs["device_hours"]) == pytest.approx([2.0, 8.0])


def test_summary_has_hours_std_and_runs_code_version(tmp_path):
    dirs = [make_run(tmp_path, SEED0, seed=0, wall_seconds=3600), make_run(tmp_path, SEED1, seed=1, wall_seconds=7200)]
    runs, _ = collect_runs(dirs)
    assert set(runs["code_version"]) == {"abc123"}
    summary = summarize(runs)
    assert summary.loc[0, "hours_std"] == pytest.approx(math.sqrt(0.5))


@pytest.mark.parametrize(
    "flags, expected",
    [
        ((True, False, True, True), "bf16+channels_last+compile"),
        ((True, False, False, False), "bf16"),
        ((False, True, False, False), "tf32"),
        ((False, False, False, False), "fp32"),
        ((False, None, False, False), "fp32"),  # a timing.json from before TF32 was recorded: TF32 was not set
    ],
)
def test_numerics_name_what_the_run_used(tmp_path, flags, expected):
    run = make_run(tmp_path, SEED0)
    timing = json.loads((run / "timing.json").read_text())
    timing.update({k: v for k, v in zip(("bf16", "tf32", "channels_last", "compile"), flags) if v is not None})
    if flags[1] is None:
        timing.pop("tf32", None)
    (run / "timing.json").write_text(json.dumps(timing))
    runs, _ = collect_runs([run])
    assert runs.iloc[0]["numerics"] == expected
