"""The device a job computes on and how it computes there: the protocol's numerics (fp32, TF32, bf16 autocast and
channels-last), shared by training and the evaluations (FGSM, detection)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch


def pick_device(setting: str) -> torch.device:
    """The device of the execution setting ``device`` (``auto``: the GPU when one is visible, else the CPU)."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"training.device is {setting!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(setting)


class Numerics:
    """The protocol's numerics (``augrepro.studies.protocols.NUMERICS``):

    * ``fp32``: full precision, TF32 off (the sources' GPUs, V100, GTX 1080 Ti and RTX 2080 Ti, have no TF32;
      PyTorch otherwise lets cuDNN convolutions use TF32 on Ampere and newer);
    * ``tf32``: fp32 tensors, TF32 tensor cores for convolutions and matrix products (CUDA only);
    * ``bf16``: bf16 autocast and channels-last (TF32 off for what stays in fp32);
    * ``auto``: ``bf16`` on a GPU, ``fp32`` on the CPU (where bf16 and channels-last do not help): the demo's.

    :meth:`apply` sets the process's TF32 switches (PyTorch's ``fp32_precision`` API) and :meth:`describe` reads
    them back for meta.json."""

    def __init__(self, device: torch.device, numerics: str = "auto") -> None:
        self.setting = numerics
        self.bf16 = numerics == "bf16" or (numerics == "auto" and device.type == "cuda")
        self.channels_last = self.bf16
        self.tf32 = numerics == "tf32" and device.type == "cuda"  # TF32 exists on CUDA devices only
        self.device = device

    def apply(self) -> Numerics:
        """Allow TF32 for CUDA convolutions and matrix products exactly when the numerics say so."""
        precision = "tf32" if self.tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision  # type: ignore[attr-defined]  # stubs lack cudnn.conv
        return self

    def describe(self) -> dict[str, Any]:
        """What the run computed with: the protocol's setting, the options it turned on, and PyTorch's TF32
        switches as they are now (``ieee``: full fp32)."""
        return {
            "setting": self.setting,
            "bf16": self.bf16,
            "channels_last": self.channels_last,
            "tf32": self.tf32,
            "cuda_matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
            "cudnn_conv_fp32_precision": torch.backends.cudnn.conv.fp32_precision,  # type: ignore[attr-defined]
        }

    def autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
