"""One training job per GPU on a workstation: each job takes a free GPU and pins itself to it.

Snakemake's ``--resources gpu=N`` bounds how many GPU jobs run at once, but not *which* GPU each one
uses: without pinning every job lands on GPU 0. Here a job takes the first free slot 0..N-1 by an
exclusive ``flock`` on a lock file per GPU and sets its own ``CUDA_VISIBLE_DEVICES`` before CUDA is
initialised. The lock is held by the open file, so the operating system releases it when the job ends
in any way (SIGKILL included); no stale lock can block a GPU.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO


def pin_free_gpu(count: int, lock_dir: str | os.PathLike, poll_seconds: float = 0.5,
                 timeout: float | None = None) -> tuple[int, IO]:
    """Take a free GPU among 0..count-1, set CUDA_VISIBLE_DEVICES to it and return (index, lock handle).

    Keep the handle open for the job's lifetime. Waits (polling) while every GPU is taken.
    """
    if count < 1:
        raise ValueError(f"resources.local_gpus must be at least 1, got {count}")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for index in range(count):
            handle = open(lock_dir / f"gpu{index}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
            return index, handle
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU among {count} after {timeout} s (locks in {lock_dir})")
        time.sleep(poll_seconds)
