"""The released code's ``nn.DataParallel``, emulated on one device for the BatchNorm statistics it gives."""

from __future__ import annotations

import torch


class ReplicaForward:
    """The training forward of ``nn.DataParallel`` on ``replicas`` GPUs, on one device: the batch is split into
    ``replicas`` chunks (``Tensor.chunk``, as DataParallel scatters it), so BatchNorm normalizes each chunk with its
    own statistics; the running statistics are those of the first chunk only (DataParallel keeps the buffers of
    the replica on device[0]; the others' updates are lost). The released SaliencyMix CIFAR code runs
    ``nn.DataParallel`` on two GPUs (README: CUDA_VISIBLE_DEVICES=0,1), so BatchNorm sees 64 of 128 images."""

    def __init__(self, forward, model: torch.nn.Module, replicas: int) -> None:
        self.forward, self.model, self.replicas = forward, model, int(replicas)
        self.norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.replicas <= 1 or not self.model.training or x.shape[0] < 2:
            return self.forward(x)
        first, *rest = x.chunk(self.replicas)
        outputs = [self.forward(first)]
        saved = [
            (m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in self.norms
        ]
        try:
            for m in self.norms:  # momentum 0: running = 1 * running + 0 * batch, exactly unchanged
                m.momentum = 0.0
            outputs += [self.forward(chunk) for chunk in rest]
        finally:
            for m, (momentum, tracked) in zip(self.norms, saved):
                m.momentum = momentum
                if tracked is not None and m.num_batches_tracked is not None:
                    m.num_batches_tracked.copy_(tracked)
        return torch.cat(outputs)
