"""What makes a loop resumable, shared by training (:mod:`augrepro.train.engine`) and the detection fine-tuning
(:mod:`augrepro.evaluate.detection_finetune`): the resume file, the stop flag and preemption, and the loss check.

* **The resume file** (:class:`ResumeFile`, ``resume.pt`` in the job's output folder): the state a job continues
  from, written atomically (:mod:`augrepro.io`), so a job killed while writing it leaves the previous one. It
  records its kind (training or detection), the version of its layout and the identity of what it belongs to (the
  resolved run; the backbone run, recipe and detection seed), and a job refuses a file of another kind, version or
  identity, naming what differs and what to do, before it trains. It is not a declared Snakemake output, so a
  failed or killed job does not lose it.
* **Preemption**: SLURM sends SIGTERM before a time limit or a preemption. :class:`StopFlag` records it; the loop
  finishes the step it is in, saves the state and raises :class:`Preempted` (:meth:`Preempted.saved`), whose exit
  code (:data:`PREEMPTED_EXIT_CODE`, 143) makes Snakemake retry the job and SLURM requeue it; the next start
  resumes from the file. Under torchrun every rank stops at the same step (:meth:`StopFlag.anywhere`).
* **The loss check** (:func:`check_finite`): a NaN or infinite loss stops the job with
  :class:`NonFiniteLossError` before it writes any output, naming the step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from augrepro.io import atomic_torch_save
from augrepro.runs import PREEMPTED_EXIT_CODE

if TYPE_CHECKING:
    from augrepro.train.distributed import Distributed

__all__ = ["PREEMPTED_EXIT_CODE", "NonFiniteLossError", "Preempted", "ResumeFile", "StopFlag", "check_finite"]


class NonFiniteLossError(RuntimeError):
    pass


class Preempted(RuntimeError):
    """SIGTERM arrived; the state was saved to the resume file. Exit with ``exit_code``."""

    exit_code = PREEMPTED_EXIT_CODE

    @classmethod
    def saved(cls, where: str, path: str | Path) -> Preempted:
        """The exception to raise once the state is saved to ``path``; ``where`` says where the job stopped."""
        return cls(
            f"SIGTERM {where}: state saved to {path}; exiting with code {PREEMPTED_EXIT_CODE}; "
            "the next start resumes from here"
        )


class StopFlag:
    """Set by SIGTERM while the loop runs (``with StopFlag() as stop:``), checked at every step boundary; outside
    the main thread (where no signal handler can be set) it is never set."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None  # what signal.signal returned: a handler, SIG_DFL/SIG_IGN or None

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def anywhere(self, ranks: Distributed | None = None) -> bool:
        """Whether SIGTERM reached this process or, under torchrun, any rank (every rank must ask at the same step:
        it is a collective)."""
        return ranks.any(self.requested) if ranks is not None else self.requested


def check_finite(
    losses: torch.Tensor, where: Callable[[int], str], advice: str, ranks: Distributed | None = None
) -> None:
    """Raise :class:`NonFiniteLossError` when a loss of ``losses`` (one per step, in order) is NaN or infinite, on
    this rank or, with ``ranks``, on any: the message gives the first bad value, ``where(i)`` of its step ``i``
    (0-based) and ``advice``."""
    finite = torch.isfinite(losses)
    bad_here = not bool(finite.all())
    if not (ranks.any(bad_here) if ranks is not None else bad_here):
        return
    place = "on another rank"
    if bad_here:
        first = int((~finite).nonzero()[0])
        place = f"{losses[first].item()} {where(first)}"
    rank = f" (rank {ranks.rank})" if ranks is not None and ranks.enabled else ""
    raise NonFiniteLossError(f"loss became {place}{rank}; stopping without writing outputs ({advice})")


@dataclass(frozen=True)
class ResumeFile:
    """A job's resume file: ``kind`` (what writes it), ``version`` (of its layout: a change of what it holds is a new
    version) and ``identity`` (entries that must equal the job's: a file with other values belongs to another run).
    The identity's entries are stored at the top level of the file beside the state, ``format`` holds the kind and
    version; a file without ``format`` is version 1 of the job's kind (the layout before the field was added)."""

    path: Path
    kind: str
    version: int
    identity: Mapping[str, Any]

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, device: torch.device | str) -> dict[str, Any] | None:
        """The saved state (tensors on ``device``), or None when there is no file; a file of another kind, version
        or identity is refused."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location=device, weights_only=True)
        self._check(state)
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Write ``state`` (with the format and the identity) atomically."""
        atomic_torch_save(self.path, {"format": {"kind": self.kind, "version": self.version}, **self.identity, **state})

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _check(self, state: Mapping[str, Any]) -> None:
        written = state.get("format") or {"kind": self.kind, "version": 1}
        if written.get("kind") != self.kind:
            raise RuntimeError(
                f"{self.path} is the resume file of {written.get('kind')}, not of {self.kind}: delete it to start "
                f"this {self.kind} job afresh"
            )
        if written.get("version") != self.version:
            raise RuntimeError(
                f"{self.path} was written in version {written.get('version')} of the {self.kind} resume file, but "
                f"this augrepro reads version {self.version}; delete it to start this {self.kind} job afresh"
            )
        differences = [d for k, value in self.identity.items() for d in _differences(k, state.get(k, _ABSENT), value)]
        if differences:
            raise RuntimeError(
                f"{self.path} belongs to a different configuration ({'; '.join(differences[:3])}"
                f"{'; ...' if len(differences) > 3 else ''}); delete it to start this {self.kind} job afresh"
            )


_ABSENT = object()


def _differences(where: str, saved: Any, wanted: Any) -> list[str]:
    """Where ``saved`` (the file's) and ``wanted`` (this job's) differ: dotted keys into nested mappings."""
    if isinstance(saved, Mapping) and isinstance(wanted, Mapping):
        keys = {**saved, **wanted}
        return [d for k in keys for d in _differences(f"{where}.{k}", saved.get(k, _ABSENT), wanted.get(k, _ABSENT))]
    if saved == wanted:
        return []
    return [f"{where} is {_shown(saved)} in the file, {_shown(wanted)} here"]


def _shown(value: Any, most: int = 80) -> str:
    text = "absent" if value is _ABSENT else repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."
