"""How much pairing by seed buys: the spread of paired differences (method - baseline at the same seed) against
that of unpaired ones, on the demo study.

Trains the demo study's grid (config/studies/demo.yaml: protocol ``demo``, resnet8, the embedded dataset, its five
methods) for the seeds given, each run through ``python -m augrepro.train`` on the CPU (``--jobs`` at a time, one
thread each), and prints per method, for the protocol's reported value (best-epoch top-1 error) and the final
epoch's:

* ``paired std``: the sample std over seeds s of ``e(method, s) - e(baseline, s)``;
* ``unpaired std``: ``sqrt(s_method^2 + s_baseline^2)``, the std of the difference of two independent runs;
* ``ratio``: paired / unpaired (1: pairing by seed buys nothing; below 1: the paired test needs fewer seeds, about
  ratio^2 as many for the same power), and the correlation of the two methods' errors over seeds; from 5 seeds
  on, the ratio's 90 % percentile bootstrap interval over seeds (scipy.stats.bootstrap);
* ``all (pooled)``: the same over every method, from the mean paired and unpaired variances.

With ``--out`` the runs are kept in ``<out>/<method>/seed<s>/`` (else in a temporary folder, removed at the end); a
run that has its ``metrics.csv`` there is not trained again, so a second call with more seeds trains only the new
ones, and ``--no-train`` only reads. The trainings run the ``augrepro`` that
``PYTHONPATH`` names, so an older checkout measures the streams it had (each run's meta.json says which:
``random_streams``, absent before they were split by purpose):

    PYTHONPATH=src python bench/bench_paired_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9 --out /tmp/crn_after
    PYTHONPATH=/tmp/old/src python bench/bench_paired_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9 --out /tmp/crn_before
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.stats

from augrepro.data.demo import build_arrays
from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.runs import RunKey
from augrepro.studies import load_protocols, resolve_run

ROOT = Path(__file__).resolve().parents[1]
# the five methods of the README's pairing figures (the demo study now runs four of them)
DEMO_METHODS = ["baseline", "cutout", "mixup", "cutmix", "saliencymix"]


def prepare_data(path: Path, n_train: int, n_test: int) -> Path:
    """The embedded demo dataset (its first ``n_train`` / ``n_test`` images), once."""
    if not path.exists():
        train_x, train_y, test_x, test_y = build_arrays()
        classes = [str(i) for i in range(10)]
        data = PreparedData(train_x[:n_train], train_y[:n_train], test_x[:n_test], test_y[:n_test], classes)
        save_prepared(data, path)
    return path


def check_settings(path: Path, settings: dict) -> None:
    """The runs kept in one folder share their epochs and images: refuse to add runs of other settings."""
    if path.exists() and json.loads(path.read_text()) != settings:
        raise SystemExit(f"{path.parent} holds runs of {path.read_text().strip()}, not {settings}: give another --out")
    path.write_text(json.dumps(settings))


def train(run: dict, data: Path, out: Path) -> float:
    """One run in its own process (one thread); returns its wall seconds (0 when it was already done)."""
    if (out / "metrics.csv").exists():
        return 0.0
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(run))
    start = time.perf_counter()
    command = [sys.executable, "-m", "augrepro.train", str(out / "run.json"), str(data), str(out), "--threads", "1"]
    command += ["--execution", json.dumps({"device": "cpu"})]
    with open(out / "train.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"training {out} failed (exit {done.returncode}); see {out / 'train.log'}")
    return time.perf_counter() - start


def read_run(out: Path) -> dict:
    """The run's best-epoch and final top-1 error, and the random streams it was trained with."""
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    errors = [float(r["test_top1_error"]) for r in rows]
    meta = json.loads((out / "meta.json").read_text())
    streams = meta.get("random_streams", {}).get("version", "shared (before random_streams)")
    return {"best": min(errors), "final": errors[-1], "streams": streams}


def ratio(errors: np.ndarray, seeds: np.ndarray) -> float:
    """Pooled over the methods (rows 1.. of ``errors``; row 0 the baseline; a column per seed), on the seeds
    ``seeds``: sqrt(mean paired variance) / sqrt(mean unpaired variance)."""
    e = errors[:, seeds]
    paired = np.var(e[1:] - e[0], axis=1, ddof=1)
    unpaired = np.var(e[1:], axis=1, ddof=1) + np.var(e[0], ddof=1)
    return float(np.sqrt(paired.mean() / unpaired.mean())) if unpaired.mean() > 0 else math.nan


def interval(errors: np.ndarray) -> str:
    """The 90 % percentile bootstrap interval of :func:`ratio` over seeds (scipy's resamples), from 5 seeds on."""
    n = errors.shape[1]
    if n < 5:
        return ""
    result = scipy.stats.bootstrap(
        (np.arange(n),),
        lambda seeds: ratio(errors, seeds),
        vectorized=False,
        method="percentile",
        confidence_level=0.9,
        n_resamples=2000,
        rng=np.random.default_rng(0),
    )
    # a resample of one seed repeated has no spread (its ratio is undefined): left out of the percentiles
    low, high = np.nanpercentile(result.bootstrap_distribution, [5, 95])
    return f"  [{low:.2f}, {high:.2f}]"


def report(results: dict[str, list[dict]], metric: str, title: str) -> None:
    methods = ["baseline"] + [m for m in results if m != "baseline"]
    errors = np.array([[r[metric] for r in results[m]] for m in methods])
    seeds = np.arange(errors.shape[1])
    print(f"\n{title}")
    print(
        f"{'method':12s} {'mean ± std':>14s} {'paired std':>11s} {'unpaired std':>13s} {'ratio':>6s} {'corr':>6s}"
        "  ratio's 90 % interval (bootstrap over seeds)"
    )
    for i, method in enumerate(methods):
        e = errors[i]
        line = f"{method:12s} {e.mean():7.2f} ± {e.std(ddof=1):4.2f}"
        if i:
            paired = np.std(e - errors[0], ddof=1)
            unpaired = math.sqrt(np.var(e, ddof=1) + np.var(errors[0], ddof=1))
            corr = np.corrcoef(e, errors[0])[0, 1] if np.ptp(e) > 0 and np.ptp(errors[0]) > 0 else math.nan
            pair = errors[[0, i]]
            line += f" {paired:11.2f} {unpaired:13.2f} {ratio(pair, seeds):6.2f} {corr:+6.2f}{interval(pair)}"
        print(line)
    paired = math.sqrt(np.var(errors[1:] - errors[0], axis=1, ddof=1).mean())
    unpaired = math.sqrt((np.var(errors[1:], axis=1, ddof=1) + np.var(errors[0], ddof=1)).mean())
    print(
        f"{'all (pooled)':12s} {'':14s} {paired:11.2f} {unpaired:13.2f} {ratio(errors, seeds):6.2f} {'':6s}{interval(errors)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=DEMO_METHODS, help="baseline and the methods to pair with it")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=None, help="default: the demo protocol's (20)")
    parser.add_argument("--train", type=int, default=3000, help="training images (the demo has 3,000)")
    parser.add_argument("--test", type=int, default=1000, help="test images (the demo has 1,000)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time (one thread each)")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--no-train", action="store_true", help="only read the runs already in --out")
    args = parser.parse_args()
    if "baseline" not in args.methods or len(args.methods) < 2 or len(args.seeds) < 2:
        parser.error("give baseline, at least one other method and at least two seeds")
    if args.no_train and args.out is None:
        parser.error("--no-train reads the runs of --out: give it")
    if args.out is not None:
        measure(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.out = Path(tmp)
        measure(args)


def measure(args: argparse.Namespace) -> None:
    protocols = load_protocols(ROOT / "config/protocols.yaml")
    jobs = []
    for seed in args.seeds:  # seed by seed, so that an interrupted call leaves whole pairs
        for method in args.methods:
            run = resolve_run(RunKey("demo", "demo", "resnet8", method, seed), protocols, {})
            if args.epochs:
                run["recipe"]["epochs"] = args.epochs
            jobs.append((run, args.out / method / f"seed{seed}"))
    if not args.no_train:
        args.out.mkdir(parents=True, exist_ok=True)
        check_settings(args.out / "bench.json", {"epochs": args.epochs, "train": args.train, "test": args.test})
        data = prepare_data(args.out / "data.npz", args.train, args.test)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            seconds = list(pool.map(lambda job: train(job[0], data, job[1]), jobs))
        trained = [s for s in seconds if s > 0]
        if trained:
            print(
                f"trained {len(trained)} runs in {time.perf_counter() - start:.0f} s wall "
                f"({statistics.mean(trained):.0f} s each, {args.jobs} at a time)"
            )
    missing = [str(out) for _, out in jobs if not (out / "metrics.csv").exists()]
    if missing:
        raise SystemExit(f"no finished run in {', '.join(missing)}: train them (leave out --no-train)")
    results = {m: [read_run(args.out / m / f"seed{s}") for s in args.seeds] for m in args.methods}
    streams = sorted({r["streams"] for runs in results.values() for r in runs})
    epochs = args.epochs or protocols["demo"]["epochs"]
    print(
        f"demo protocol, resnet8, {epochs} epochs, {args.train} / {args.test} images, seeds {args.seeds}; "
        f"random streams: {', '.join(streams)}"
    )
    report(results, "best", "best-epoch top-1 error (the demo protocol's reported value), %")
    report(results, "final", "final-epoch top-1 error, %")


if __name__ == "__main__":
    main()
