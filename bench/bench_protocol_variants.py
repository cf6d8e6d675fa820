"""What a protocol's numerics and BatchNorm grouping change on the demo study, against the seed-to-seed spread.

Trains the demo protocol (config/protocols.yaml, `demo`) on the embedded dataset for several seeds under each
variant and prints, per variant, the best-epoch top-1 error (mean ± sample std over seeds) and its difference to
the fp32 reference, beside the reference's own seed spread:

* ``fp32``: the reference (what a CPU run does under ``numerics: auto``);
* ``bf16``: bf16 autocast and channels-last (``numerics: bf16``; on a GPU this is ``auto``'s choice; on the CPU it
  is forced, so the figure is what bf16 arithmetic does to the result, not its speed);
* ``bn2``: BatchNorm over halves of each batch (``batchnorm_replicas: 2``, nn.DataParallel on two GPUs, as the
  released SaliencyMix CIFAR code trains).

    PYTHONPATH=src python bench/bench_protocol_variants.py [--method saliencymix] [--seeds 0 1 2] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from augrepro.data.demo import build_arrays
from augrepro.data.prepared import PreparedData, save_prepared
from augrepro.runs import RunKey
from augrepro.studies import load_protocols, resolve_run

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "fp32": {"numerics": "fp32"},
    "bf16": {"numerics": "bf16"},
    "bn2": {"numerics": "fp32", "batchnorm_replicas": 2},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="saliencymix")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the demo protocol's")
    parser.add_argument("--train", type=int, default=3000, help="training images (the demo has 3,000)")
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from augrepro.train.engine import train_run

    protocols = load_protocols(ROOT / "config/protocols.yaml")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        train_x, train_y, test_x, test_y = build_arrays()
        save_prepared(
            PreparedData(
                train_x[: args.train],
                train_y[: args.train],
                test_x[: args.test],
                test_y[: args.test],
                [str(i) for i in range(10)],
            ),
            data,
        )
        for name in args.variants:
            for seed in args.seeds:
                run = resolve_run(RunKey("demo", "demo", "resnet8", args.method, seed), protocols, {})
                run["recipe"].update(VARIANTS[name])
                if args.epochs:
                    run["recipe"]["epochs"] = args.epochs
                start = time.perf_counter()
                out = train_run(
                    run,
                    data,
                    Path(tmp) / name / str(seed),
                    {"device": "cpu"},
                    threads=args.threads,
                    log=lambda msg: None,
                )
                best = min(r["test_top1_error"] for r in out["metrics"])
                results.setdefault(name, []).append(best)
                print(f"{name:5s} seed {seed}: best top-1 error {best:6.2f} % ({time.perf_counter() - start:5.1f} s)")
    reference = results.get("fp32")
    spread = statistics.stdev(reference) if reference and len(reference) > 1 else float("nan")
    print(f"\nmethod {args.method}, {len(args.seeds)} seeds, torch {torch.__version__}, CPU threads {args.threads}")
    print(f"{'variant':8s} {'best top-1 error':>18s} {'minus fp32':>11s} {'fp32 seed std':>14s}")
    for name, values in results.items():
        mean = statistics.mean(values)
        std = statistics.stdev(values) if len(values) > 1 else float("nan")
        diff = mean - statistics.mean(reference) if reference else float("nan")
        print(f"{name:8s} {mean:9.2f} ± {std:5.2f}   {diff:+9.2f}   {spread:12.2f}")


if __name__ == "__main__":
    main()
