"""Data-parallel training across GPUs and nodes: one process per GPU, started by ``torchrun``.

The engine (:func:`augrepro.train.engine.train_run`) asks this module everything that depends on the
process's place in the run; in a single process every call is the identity, so the single-process path
computes exactly what it computed before.

- **Process group.** torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous; with
  ``WORLD_SIZE`` > 1 :meth:`Distributed.from_environment` joins the group: NCCL on GPUs (each process on
  GPU ``LOCAL_RANK`` of its node), gloo on the CPU. Flags and Python objects (stop requests, RNG states,
  device names) travel over a second, gloo group on the CPU, so agreeing on them never waits for the GPU.
- **Batch.** The protocol's batch size and lr are global: each step takes the next ``batch_size`` images of
  the epoch's global order (drawn from the run's seed on every rank alike) and rank r trains on the r-th
  of ``world_size`` nearly equal parts of it (``torch.tensor_split``). Gradients are averaged by
  ``DistributedDataParallel``; each rank's loss is scaled by ``world_size * n_rank / n_step`` so that a
  step whose parts differ in size (the epoch's last one) still gets the mean over all its images, as one
  process (or ``DataParallel``) would. A last step with fewer images than ranks is skipped.
- **Randomness** (:mod:`augrepro.train.streams`): the initial weights and the epochs' order are derived from
  the seed alone, alike on every rank (and for every world size); the input pipeline's, the mixing method's and
  the global generators' draws come from streams of (seed, purpose, rank): deterministic for a given seed and
  world size. Each rank mixes its own part of the batch (DDP; the released code's ``DataParallel`` mixed the
  whole batch on one device).
- **BatchNorm** (the protocol's ``batchnorm``): ``per_replica`` (default) normalizes each rank's part with
  its own statistics, as ``DataParallel`` did (the running statistics of rank 0 are the ones kept:
  DDP broadcasts them before every forward, and before each evaluation here); ``sync`` converts every
  BatchNorm layer to ``torch.nn.SyncBatchNorm`` (statistics over the whole batch; GPUs only).
- **Evaluation** runs on 1/world_size of the test split per rank; the sums are reduced.
- **Outputs and checkpoints.** Only rank 0 writes; a ``resume.pt`` holds every rank's RNG state and
  partial-epoch sums, and is refused by a run of another world size.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
from dataclasses import dataclass
from typing import Any

import torch

from augrepro.studies.protocols import BATCHNORM, batch_per_process


def env_world_size() -> int:
    """The world size torchrun announced (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class Shard:
    """This rank's part of one epoch: ``order`` is its images in the order it trains them, ``batch`` its
    batch size (every step but possibly the last one takes ``batch`` images), ``steps`` the epoch's steps."""

    order: torch.Tensor
    batch: int
    steps: int
    scales: list[float]

    def loss_scale(self, step: int) -> float:
        """The factor of this rank's mean loss in step ``step`` (0-based): 1 unless the step's parts differ."""
        return self.scales[step]


class Distributed:
    """This process's place in a data-parallel run; ``Distributed()`` is the single process."""

    def __init__(
        self, rank: int = 0, world_size: int = 1, local_rank: int = 0, backend: str | None = None, control=None
    ) -> None:
        self.rank, self.world_size, self.local_rank, self.backend = rank, world_size, local_rank, backend
        self._control = control  # the gloo group of flags and objects

    # --- joining ------------------------------------------------------------------------------------

    @classmethod
    def from_environment(
        cls, device: torch.device, timeout_minutes: float = 30.0, backend: str | None = None, share_device: bool = False
    ) -> tuple[Distributed, torch.device]:
        """Join torchrun's process group when ``WORLD_SIZE`` > 1; returns it and this rank's device (on
        GPUs: ``cuda:LOCAL_RANK``, which also becomes the current CUDA device). ``backend``: NCCL on GPUs and
        gloo on the CPU unless given; ``share_device`` puts every rank on ``device`` itself (benchmarks and
        checks on one GPU: NCCL refuses two ranks on one GPU, gloo takes CUDA tensors)."""
        world_size = env_world_size()
        if world_size <= 1:
            return cls(), device
        import torch.distributed as dist

        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            visible = torch.cuda.device_count()
            if share_device:
                device = torch.device("cuda", device.index or 0)
            elif local_rank >= visible:
                raise RuntimeError(
                    f"rank {rank} is local rank {local_rank} of its node but only {visible} GPU(s) are visible there "
                    f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); start at most {visible} "
                    "processes per node (torchrun --nproc-per-node) or ask the scheduler for more GPUs"
                )
            else:
                device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
            backend = backend or "nccl"
        else:
            backend = backend or "gloo"
        timeout = datetime.timedelta(minutes=timeout_minutes)
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=timeout)
        control = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else dist.group.WORLD
        return cls(rank, world_size, local_rank, backend, control), device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    # --- the model ----------------------------------------------------------------------------------

    def prepare_model(self, model: torch.nn.Module, batchnorm: str, device: torch.device) -> torch.nn.Module:
        """The model to train (and checkpoint): with ``batchnorm: sync`` on several ranks, its BatchNorm
        layers become SyncBatchNorm (same parameters and buffers, so its weights load into the plain model)."""
        if batchnorm not in BATCHNORM:
            raise ValueError(f"batchnorm = {batchnorm!r}; valid: {', '.join(BATCHNORM)}")
        if batchnorm == "sync" and self.enabled:
            if device.type != "cuda":
                raise RuntimeError(
                    "batchnorm: sync needs GPUs (torch.nn.SyncBatchNorm has no CPU implementation); "
                    "use batchnorm: per_replica on the CPU"
                )
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """What the training step calls: ``DistributedDataParallel(model)`` on several ranks (gradients
        averaged over the ranks in the backward pass), the model itself otherwise."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        param = next(model.parameters())
        device_ids = [param.device.index] if param.is_cuda else None
        # DDP's default: rank 0's buffers are broadcast before every forward (per-replica BatchNorm keeps rank 0's)
        return DistributedDataParallel(model, device_ids=device_ids)

    def broadcast_buffers(self, model: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank: before an evaluation, so that all
        ranks evaluate the model that rank 0 checkpoints."""
        if not self.enabled:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    # --- data ---------------------------------------------------------------------------------------

    def shard(self, order: torch.Tensor, batch_size: int) -> Shard:
        """This rank's part of the epoch whose global order is ``order``, for global batches of
        ``batch_size``; in a single process, the order itself."""
        n = len(order)
        steps = -(-n // batch_size)
        if not self.enabled:
            return Shard(order, batch_size, steps, [1.0] * steps)
        local = batch_per_process(batch_size, self.world_size)
        parts, scales = [], []
        for step in range(steps):
            images = order[step * batch_size : (step + 1) * batch_size]
            if len(images) < self.world_size:  # too few left for every rank: skipped (at most world_size - 1)
                break
            mine = torch.tensor_split(images, self.world_size)[self.rank]
            parts.append(mine)
            scales.append(self.world_size * len(mine) / len(images))  # exactly 1.0 when the parts are equal
        return Shard(torch.cat(parts), local, len(parts), scales)

    def eval_range(self, n: int) -> tuple[int, int]:
        """This rank's contiguous part of a split of ``n`` images (parts differ by at most one image)."""
        if not self.enabled:
            return 0, n
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    # --- agreeing -----------------------------------------------------------------------------------

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank (an all-reduce on the CPU group: it never waits for a GPU)."""
        if not self.enabled:
            return bool(flag)
        import torch.distributed as dist

        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self._control)
        return bool(t.item())

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """The sum of ``t`` over the ranks (on its own device)."""
        if not self.enabled:
            return t
        import torch.distributed as dist

        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def all_gather(self, obj: Any) -> list:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self._control)
        return out

    def gather(self, obj: Any) -> list | None:
        """Every rank's ``obj`` in rank order on rank 0 (None elsewhere); ``[obj]`` in a single process."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0, group=self._control)
        return out

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier(group=self._control)

    # --- checkpoints --------------------------------------------------------------------------------

    def per_rank(self, value: Any) -> Any:
        """A per-rank value as a checkpoint stores it: the value itself in a single process, the list of
        every rank's value (gathered on rank 0; None on the others) otherwise."""
        if not self.enabled:
            return value
        return self.gather(value)

    def mine(self, stored: Any) -> Any:
        """This rank's entry of a per-rank checkpoint value (see :meth:`per_rank`)."""
        if not self.enabled:
            return stored
        return stored[self.rank]

    def check_resume(self, state: dict, path) -> None:
        """Refuse a resume.pt written by a run of another world size: the data shards, the per-rank
        random streams and (per-replica) the BatchNorm groups would differ, so the run would not continue
        the one that was interrupted."""
        saved = int(state.get("world_size", 1))
        if saved != self.world_size:
            raise RuntimeError(
                f"{path} was written by a run on {saved} process(es) (GPUs), but this job runs {self.world_size}; "
                f"resume it with {saved} (the study's resources: gpus x nodes), or delete {path} to start afresh"
            )

    # --- provenance ---------------------------------------------------------------------------------

    def describe(self, batchnorm: str, shard_batch: int | None) -> dict[str, Any]:
        """For meta.json: world size, backend, BatchNorm mode, per-rank batch, and each rank's host."""
        hosts = self.all_gather(socket.gethostname() or platform.node())
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "batchnorm": batchnorm,
            "per_rank_batch": shard_batch,
            "nodes": len(dict.fromkeys(hosts)),
            "hosts": hosts,
            "launcher": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else ("env" if self.enabled else None),
        }
