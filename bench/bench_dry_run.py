"""Time the whole paper's dry run, as a user starts it: the checks of every study file, the plan, the DAG.

Usage: python bench/bench_dry_run.py [--repeats 2] [--studies a,b]

Runs ``snakemake --profile slurm --dry-run --quiet rules`` in this repository (``--studies``: only those studies,
through ``--config studies=[...]``) in a fresh interpreter, first *cold* (the methods' builds checked: their
markers in .snakemake/augrepro/ removed before, as after a change of the studies or the library), then *warm*
``--repeats`` times, and prints each wall time and whether the run imported torch or torchvision. The goal (issue
23): the whole paper within 10 s on a 2-core machine, without torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# snakemake's command line in this interpreter, reporting at exit whether torch was imported
RUNNER = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('TORCH', any(m.split('.')[0] in ('torch', 'torchvision') for m in sys.modules),"
    " file=sys.stderr))\n"
    "from snakemake.cli import main\n"
    "sys.argv = ['snakemake', *sys.argv[1:]]\n"
    "main()\n"
)


def dry_run(studies: list[str] | None) -> tuple[float, bool]:
    """(wall seconds, whether torch was imported) of one dry run."""
    args = ["--profile", "slurm", "--dry-run", "--quiet", "rules"]
    if studies:
        args += ["--config", f"studies=[{','.join(studies)}]"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"the dry run failed:\n{done.stderr[-3000:]}")
    return wall, "TORCH True" in done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="warm dry runs after the cold one")
    parser.add_argument("--studies", default="", help="comma-separated studies (default: config/paper.yaml's)")
    args = parser.parse_args()
    studies = [s for s in args.studies.split(",") if s] or None
    for marker in (REPO / ".snakemake" / "augrepro").glob("builds-*.ok"):
        marker.unlink()
    cold, cold_torch = dry_run(studies)
    warm = [dry_run(studies) for _ in range(args.repeats)]
    print(f"dry run of {'the studies ' + args.studies if studies else 'the whole paper'} ({os.cpu_count()} cores)")
    print(f"  cold (methods' builds checked): {cold:6.2f} s  torch imported: {'yes' if cold_torch else 'no'}")
    for i, (wall, torch_imported) in enumerate(warm, 1):
        print(f"  warm {i}:                         {wall:6.2f} s  torch imported: {'yes' if torch_imported else 'no'}")
    if warm:
        print(
            f"  warm median: {statistics.median(w for w, _ in warm):.2f} s; cold / warm: "
            f"{cold / statistics.median(w for w, _ in warm):.2f}"
        )


if __name__ == "__main__":
    main()
