"""One training job per GPU on a workstation: each job takes a free GPU and pins itself to it.

Snakemake's ``--resources gpu=N`` bounds how many GPU jobs run at once, but not *which* GPU each one
uses: without pinning every job lands on GPU 0. Here a job takes the first free slot 0..N-1 by an
exclusive ``flock`` on a lock file per GPU and sets its own ``CUDA_VISIBLE_DEVICES`` before CUDA is
initialised. The lock is held by the open file, so the operating system releases it when the job ends
in any way (SIGKILL included); no stale lock can block a GPU. A data-parallel job (a study with
``gpus`` > 1) takes that many GPUs at once (``pin_free_gpus``).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import IO


def pin_free_gpu(
    count: int, lock_dir: str | os.PathLike, poll_seconds: float = 0.5, timeout: float | None = None
) -> tuple[int, IO]:
    """Take a free GPU among 0..count-1, set CUDA_VISIBLE_DEVICES to it and return (index, lock handle).

    Keep the handle open for the job's lifetime. Waits (polling) while every GPU is taken.
    """
    indices, handles = pin_free_gpus(count, lock_dir, 1, poll_seconds, timeout)
    return indices[0], handles[0]


def pin_free_gpus(
    count: int, lock_dir: str | os.PathLike, take: int, poll_seconds: float = 0.5, timeout: float | None = None
) -> tuple[list[int], list[IO]]:
    """Take ``take`` free GPUs among 0..count-1 at once (a data-parallel job), set CUDA_VISIBLE_DEVICES to
    them and return (indices, lock handles). While fewer are free it holds none and waits (polling)."""
    if count < 1:
        raise ValueError(f"resources.local_gpus must be at least 1, got {count}")
    if not 1 <= take <= count:
        raise ValueError(
            f"a job asks for {take} GPUs but local_gpus is {count}; raise local_gpus or lower the study's gpus"
        )
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        taken: list[tuple[int, IO]] = []
        for index in range(count):
            handle = open(lock_dir / f"gpu{index}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            taken.append((index, handle))
            if len(taken) == take:
                break
        if len(taken) == take:
            for _, held in taken:
                held.seek(0)
                held.truncate()
                held.write(f"{os.getpid()}\n")
                held.flush()
            indices = [index for index, _ in taken]
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in indices)
            return indices, [held for _, held in taken]
        for _, held in taken:  # not enough: hold none while waiting
            held.close()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"no {take} free GPU(s) among {count} after {timeout} s (locks in {lock_dir})")
        time.sleep(poll_seconds)


LOCK_DIR = Path(".snakemake/augrepro-gpu-locks")  # the workflow's GPU locks, in its working directory


def pin_local_gpus(local_gpus: int | None, take: int, lock_dir: str | os.PathLike = LOCK_DIR) -> list[IO]:
    """A workflow job's GPUs on a workstation (the config's ``local_gpus``, set by the workstation profile): take
    ``take`` free ones and pin the job to them (:func:`pin_free_gpus`), saying so on stderr; nothing under SLURM (it
    pins its own jobs) or without ``local_gpus``. Returns the lock handles, to keep open for the job's lifetime."""
    if not local_gpus or "SLURM_JOB_ID" in os.environ:
        return []
    gpus, locks = pin_free_gpus(int(local_gpus), lock_dir, take)
    print(
        f"pinned to GPU(s) {gpus} of {local_gpus} (CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']})",
        file=sys.stderr,
    )
    return locks
