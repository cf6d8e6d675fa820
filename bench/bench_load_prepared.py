"""How long a training job waits for its dataset: load a CIFAR-10-sized prepared data.npz.

Writes a data.npz with CIFAR-10's shapes (50,000 + 10,000 uint8 images of 3x32x32; random pixels,
the size is what matters) with the project's own writer, then times ``load_prepared`` a few times
(the first read may be cold, the others come from the page cache).

    python bench/bench_load_prepared.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from augrepro.data.prepared import PreparedData, load_prepared, save_prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = PreparedData(
        rng.integers(0, 256, (50_000, 3, 32, 32), dtype=np.uint8),
        rng.integers(0, 10, 50_000),
        rng.integers(0, 256, (10_000, 3, 32, 32), dtype=np.uint8),
        rng.integers(0, 10, 10_000),
        [f"class{i}" for i in range(10)],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        t = time.perf_counter()
        save_prepared(data, path)
        print(f"write {path.stat().st_size / 2**20:.0f} MiB: {time.perf_counter() - t:.2f} s")
        for i in range(args.repeats):
            t = time.perf_counter()
            loaded = load_prepared(path)
            assert loaded.train_x.shape == (50_000, 3, 32, 32)
            print(f"load #{i + 1}: {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
