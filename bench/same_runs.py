"""Whether a change of the code changed what training computes: a short run of every registered method on the demo
data, each summarized by a digest of its epoch log (every column but the seconds) and of its final weights.

For refactors that must not change a number: ``--write digests.json`` before the change, ``--against digests.json``
after it (exit 1 and the methods that differ when any does). Each run goes through ``python -m augrepro.train`` on
the CPU, one thread, like the workflow's train rule, with the ``augrepro`` that ``PYTHONPATH`` names.

    PYTHONPATH=src python bench/same_runs.py --write /tmp/before.json
    ... the change ...
    PYTHONPATH=src python bench/same_runs.py --against /tmp/before.json
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from bench_paired_seeds import ROOT, prepare_data, train

from augrepro.augment import AUGMENTATIONS
from augrepro.runs import RunKey
from augrepro.studies import load_protocols, resolve_run

EPOCHS = 3  # the SalfMix family leaves its first epoch clean (first_epoch 2): three epochs let every method mix twice


def digest(out: Path) -> str:
    """sha256 of the run's epoch log without its timings, then of its final weights (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    with open(out / "metrics.csv") as fh:
        for row in csv.DictReader(fh):
            h.update(json.dumps({k: v for k, v in row.items() if not k.endswith("seconds")}).encode())
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    for name, tensor in sorted(state.items()):
        h.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_all(folder: Path, seed: int, jobs: int) -> dict[str, str]:
    protocols = load_protocols(ROOT / "config/protocols.yaml")
    data = prepare_data(folder / "data.npz", 400, 200)
    runs = []
    for method in AUGMENTATIONS.names():
        run = resolve_run(RunKey("demo", "demo", "resnet8", method, seed), protocols, {})
        run["recipe"]["epochs"] = EPOCHS
        runs.append((method, run, folder / method))
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda job: train(job[1], data, job[2]), runs))
    return {method: digest(out) for method, _, out in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", type=Path, help="write the digests here")
    what.add_argument("--against", type=Path, help="compare with the digests of this file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time (one thread each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        digests = run_all(Path(tmp), args.seed, args.jobs)
    if args.write:
        args.write.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"{len(digests)} methods, digests in {args.write}")
        return
    before = json.loads(args.against.read_text())
    changed = sorted(m for m in before.keys() | digests.keys() if before.get(m) != digests.get(m))
    for method in sorted(digests):
        print(f"{method:<20} {'same' if method not in changed else 'DIFFERS'}")
    for method in sorted(set(before) - set(digests)):
        print(f"{method:<20} DIFFERS (not registered any more)")
    if changed:
        raise SystemExit(f"{len(changed)} methods differ from {args.against}: {', '.join(changed)}")
    print(f"all {len(digests)} methods bitwise the same as {args.against}")


if __name__ == "__main__":
    main()
