"""Time aggregating and rendering N synthetic runs.

Usage: PYTHONPATH=src python bench/bench_report.py [--runs 1000] [--epochs 200]

Writes synthetic run directories to a temporary folder, then prints how long
write_aggregate (collect + summarize + three CSVs), the study's verdicts (write_verdicts: the tests, the
adjustments and the seeds that would decide each undecided cell) and build_report take. The goal
(issue 6): aggregate + render of 1,000 runs of 200 epochs in at most 20 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import tempfile
import time
from pathlib import Path

from augrepro.report.build import build_report
from augrepro.results.aggregate import write_aggregate
from augrepro.results.verdicts import write_chosen_verdicts
from augrepro.runs import RunKey, dataset_key, identity_record
from augrepro.studies import select_from_config

REPO = Path(__file__).resolve().parents[1]
HEADER = "epoch,lr,train_loss,train_top1_error,test_loss,test_top1_error,test_top5_error,epoch_seconds"
DATASETS = [("cifar10", False), ("cifar10", True), ("cifar100", False), ("cifar100", True)]
MODELS = ["resnet18", "resnet50", "wrn28_10"]
AUGMENTATIONS = ["baseline", "cutout", "cutmix", "saliencymix"]


def make_runs(root: Path, n_runs: int, epochs: int, rng: random.Random) -> list[Path]:
    configs = list(itertools.product(DATASETS, MODELS, AUGMENTATIONS))
    dirs = []
    for i in range(n_runs):
        (dataset, trad), model, aug = configs[i % len(configs)]
        seed = i // len(configs)
        key = RunKey("saliencymix_cifar", dataset_key(dataset, trad), model, aug, seed)
        run_dir = root / key.subdir
        run_dir.mkdir(parents=True)
        floor = (30.0 if dataset == "cifar100" else 6.0) - (2.0 if trad else 0.0)
        lines = [HEADER]
        for e in range(1, epochs + 1):
            top1 = floor + 60.0 / (1 + e) + rng.gauss(0, 0.3)
            lines.append(
                f"{e},0.1,{2.0 / e:.4f},{top1 + 2:.3f},{1.0 / e:.4f},{top1:.3f},{top1 / 4:.3f},{rng.uniform(20, 30):.2f}"
            )
        (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
        wall = epochs * 25.0
        (run_dir / "timing.json").write_text(
            json.dumps(
                {
                    "wall_seconds": wall,
                    "train_seconds": wall * 0.9,
                    "eval_seconds": wall * 0.1,
                    "images_per_second": 2000.0,
                    "device": "cuda",
                    "device_name": "Synthetic GPU",
                    "epochs": epochs,
                }
            )
        )
        (run_dir / "meta.json").write_text(
            json.dumps(
                {
                    "run": identity_record(key, aug, "official" if aug == "saliencymix" else None),
                    "config": {},
                    "code_version": "bench",
                    "packages": {},
                    "python": "3.11",
                    "hostname": "bench",
                }
            )
        )
        dirs.append(run_dir)
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        dirs = make_runs(tmp / "runs", args.runs, args.epochs, random.Random(args.seed))
        t1 = time.perf_counter()
        out = tmp / "out"
        write_aggregate(dirs, out / "runs.csv", out / "summary.csv", out / "curves.csv")
        t2 = time.perf_counter()
        studies = select_from_config({"studies": ["saliencymix_cifar"]}, REPO).describe()
        published = REPO / "resources" / "published"
        write_chosen_verdicts(studies, out / "summary.csv", out / "runs.csv", published, out / "verdicts")
        t_verdicts = time.perf_counter()
        build_report(
            out / "summary.csv",
            out / "runs.csv",
            out / "curves.csv",
            REPO / "resources" / "published",
            out / "report.html",
            studies=studies,
            verdicts_dir=out / "verdicts",
            provenance={"code version": "bench"},
        )
        t3 = time.perf_counter()
        size_kib = (out / "report.html").stat().st_size / 1024

    print(f"runs: {args.runs}, epochs: {args.epochs}")
    print(f"write synthetic runs: {t1 - t0:8.3f} s")
    print(f"aggregate (3 CSVs):   {t2 - t1:8.3f} s")
    print(f"verdicts:             {t_verdicts - t2:8.3f} s")
    print(f"render report:        {t3 - t_verdicts:8.3f} s  ({size_kib:.0f} KiB HTML)")
    print(f"aggregate + render:   {t3 - t1:8.3f} s  (goal: <= 20 s for 1,000 runs x 200 epochs)")


if __name__ == "__main__":
    main()
