"""Where a training run is: its random streams, its epochs so far, resume.pt, and its final outputs.

``resume.pt`` holds the full state (model, optimizer, scheduler, epoch, every random stream, the metrics
so far, and a partial epoch's sums when SIGTERM stopped it mid-epoch); it is written atomically after every
epoch and at SIGTERM, read back when a job starts where it exists (a file of another run is refused:
:class:`augrepro.train.resumable.ResumeFile`), and removed when the run's outputs are written. Under torchrun every
rank's random streams and partial sums are gathered and rank 0 writes.

The best epoch's weights (the lowest test top-1 error so far, the first epoch to reach it) are written when an
epoch sets a new best, atomically, to ``best.epoch<E>.pt`` (:data:`augrepro.runs.BEST_SO_FAR`); resume.pt names
the epoch that counts, so a job killed between the two writes resumes with the right one. The end copies it to
``best.pt`` (atomically), the run's output that evaluations of the best checkpoint read (SaliencyMix README:
``test.py --pretrained .../model_best.pth.tar``), and removes it once resume.pt is gone, so that a job killed
while writing its outputs still resumes with it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from augrepro import runs
from augrepro.io import atomic_fill, atomic_torch_save, atomic_write_text
from augrepro.train.resumable import ResumeFile
from augrepro.train.streams import Generators

# The training resume file's kind and layout version (augrepro.train.resumable.ResumeFile): a change of what
# resume.pt holds is a new version, which refuses the files of the old one.
RESUME_KIND, RESUME_VERSION = "training", 1


class EpochState:
    """One epoch in progress: its order, the steps done, the sums so far; what a mid-epoch checkpoint holds
    to replay the rest of the epoch exactly."""

    def __init__(self, order: torch.Tensor, device: torch.device) -> None:
        self.order = order
        self.step = 0
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device)
        self.step_losses: list[torch.Tensor] = []
        self.seconds = 0.0
        self.gpu_seconds = 0.0

    def to_dict(self) -> dict:
        return {
            "order": self.order,
            "step": self.step,
            "loss_sum": self.loss_sum.detach().cpu(),
            "correct": self.correct.detach().cpu(),
            "step_losses": torch.stack(self.step_losses).cpu() if self.step_losses else torch.zeros(0),
            "seconds": self.seconds,
            "gpu_seconds": self.gpu_seconds,
        }

    @classmethod
    def from_dict(cls, d: dict, device: torch.device) -> EpochState:
        state = cls(d["order"], device)
        state.step = int(d["step"])
        state.loss_sum = d["loss_sum"].to(device)
        state.correct = d["correct"].to(device)
        state.step_losses = list(d["step_losses"].to(device).unbind()) if len(d["step_losses"]) else []
        state.seconds = float(d["seconds"])
        state.gpu_seconds = float(d["gpu_seconds"])
        return state


class Progress:
    """A run's epochs so far (``rows``), its time totals, and the epoch to start from; loads and saves
    resume.pt and writes the final outputs (rank 0)."""

    def __init__(self, out_dir: str | Path, run: dict[str, Any], dist, started: float | None = None) -> None:
        """``started``: when this start of the run began (time.perf_counter()), for its wall time."""
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.run, self.dist = run, dist
        self.path = self.out / runs.RESUME_FILE
        self.resume_file = ResumeFile(self.path, RESUME_KIND, RESUME_VERSION, {"run": run})
        self.started = time.perf_counter() if started is None else started
        self.rows: list[dict[str, float]] = []
        self.totals = {
            "train_seconds": 0.0,
            "eval_seconds": 0.0,
            "gpu_seconds": 0.0,
            "images": 0,
            "previous_wall_seconds": 0.0,
        }
        self.start_epoch = 1
        self.partial: EpochState | None = None  # the epoch SIGTERM stopped, to finish first
        self.best_epoch: int | None = None  # the epoch whose weights best.epoch<E>.pt holds

    def resume(self, model, optimizer, scheduler, generators: Generators, device, log, steps: int) -> None:
        """Continue from resume.pt when there is one (of this very run and world size)."""
        state = self.resume_file.load(device)
        if state is None:
            return
        self.dist.check_resume(state, self.path)
        rng = self.dist.mine(state["rng"])
        Generators.check_saved(rng, self.path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generators.restore(rng)
        self.rows, self.totals = state["metrics"], state["totals"]
        self.start_epoch = state["epoch"] + 1
        self.best_epoch = state.get("best_epoch")
        if self.dist.is_main and self.best_epoch is not None and not self.best_path(self.best_epoch).exists():
            raise RuntimeError(
                f"{self.path} says epoch {self.best_epoch} is the best so far, but its weights "
                f"({self.best_path(self.best_epoch).name}) are gone; delete {self.path.name} to train the run afresh"
            )
        if state["partial"] is not None:
            self.partial = EpochState.from_dict(self.dist.mine(state["partial"]), device)
            self.start_epoch = state["epoch"]
            log(f"resuming from {self.path} in epoch {self.start_epoch} after step {self.partial.step}/{steps}")
        else:
            log(f"resuming from {self.path} after epoch {state['epoch']}")

    def best_path(self, epoch: int) -> Path:
        return self.out / runs.BEST_SO_FAR.format(epoch=epoch)

    def keep_best(self, model, epoch: int) -> None:
        """After ``epoch``'s row is recorded: when its test top-1 error is below every earlier epoch's (ties keep the
        earlier epoch, as aggregation's best_epoch), write its weights to best.epoch<E>.pt, atomically (rank 0). The
        earlier best file stays until resume.pt names the new one (:meth:`save`)."""
        *earlier, latest = [float(row["test_top1_error"]) for row in self.rows]
        if not math.isfinite(latest) or any(e <= latest for e in earlier):
            return
        self.best_epoch = epoch
        if self.dist.is_main:
            atomic_torch_save(self.best_path(epoch), self._weights(model, epoch))

    def _weights(self, model, epoch: int) -> dict[str, Any]:
        """What checkpoint.pt and best.pt hold: the resolved run, the epoch and the model's weights."""
        return {"run": self.run, "epoch": epoch, "model": model.state_dict()}

    def _drop_stale_best(self, keep: Path | None) -> None:
        """Remove best.epoch<E>.pt files but ``keep`` (earlier bests, or an epoch that a kill interrupted)."""
        pattern = runs.BEST_SO_FAR.format(epoch="*")
        for path in self.out.glob(pattern):
            if path != keep:
                path.unlink(missing_ok=True)

    def take_partial(self) -> EpochState | None:
        """The interrupted epoch to finish (once), or None."""
        partial, self.partial = self.partial, None
        return partial

    def wall_seconds(self) -> float:
        """Wall time of the run over all its starts."""
        return self.totals["previous_wall_seconds"] + time.perf_counter() - self.started

    def save(
        self, epoch: int, model, optimizer, scheduler, generators: Generators, epoch_state: EpochState | None = None
    ) -> None:
        """Write resume.pt after ``epoch`` (or inside it, with ``epoch_state``): every rank's random streams and
        partial sums, gathered; rank 0 writes, the others wait for it."""
        rng_states = self.dist.per_rank(generators.state())
        partial_states = self.dist.per_rank(epoch_state.to_dict()) if epoch_state is not None else None
        if self.dist.is_main:
            self.resume_file.save(
                {
                    "epoch": epoch,
                    "world_size": self.dist.world_size,
                    "partial": partial_states,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_states,
                    "metrics": self.rows,
                    "totals": {**self.totals, "previous_wall_seconds": self.wall_seconds()},
                    "best_epoch": self.best_epoch,
                },
            )
            if self.best_epoch is not None:
                self._drop_stale_best(self.best_path(self.best_epoch))
        self.dist.barrier()

    def record(self, row: dict[str, float], train_seconds: float, gpu_seconds: float, images: int) -> None:
        """One finished epoch: its metrics row (whose epoch_seconds include the evaluation) and its times."""
        self.totals["train_seconds"] += train_seconds
        self.totals["eval_seconds"] += row["epoch_seconds"] - train_seconds
        self.totals["gpu_seconds"] += gpu_seconds
        self.totals["images"] += images
        self.rows.append(row)

    def write_outputs(self, model, epochs: int, timing: dict, meta: dict) -> None:
        """metrics.csv, checkpoint.pt, best.pt (the best epoch's weights, copied from best.epoch<E>.pt), timing.json
        and meta.json, each atomically (rank 0); then resume.pt goes, and best.epoch<E>.pt after it."""
        if not self.dist.is_main:
            return
        if self.best_epoch is None:
            raise RuntimeError("no epoch had a finite test error: there are no best weights to keep")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=runs.EPOCH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        files = runs.RUN_FILES
        atomic_torch_save(self.out / files["checkpoint"], self._weights(model, epochs))
        kept = self.best_path(self.best_epoch)
        atomic_fill(self.out / files["best"], lambda staged: shutil.copyfile(kept, staged))
        atomic_write_text(self.out / files["timing"], json.dumps(timing, indent=2) + "\n")
        atomic_write_text(self.out / files["meta"], json.dumps(meta, indent=2, default=str) + "\n")
        atomic_write_text(self.out / files["metrics"], buf.getvalue())
        self.resume_file.remove()
        self._drop_stale_best(None)
