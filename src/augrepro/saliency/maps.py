"""Saliency maps for SaliencyMix: OpenCV contrib's static saliency detectors (the SaliencyMix reference) and
the frequency-tuned detector.

``fine_grained``: Montabone & Soto 2010, ``cv2.saliency.StaticSaliencyFineGrained`` (the detector
of the SaliencyMix code); ``spectral_residual``: Hou & Zhang 2007,
``cv2.saliency.StaticSaliencySpectralResidual`` (the saliency-method ablation of the SaliencyMix slides);
``frequency_tuned``: Achanta et al., CVPR 2009 (the same ablation; ``frequency_tuned.py``). OpenCV contrib has
no frequency-tuned detector: its ``backend="opencv"`` is a per-image float64 NumPy/OpenCV reference on the CPU.
(The ablation's fourth detector, BASNet, a trained network, is not provided.)
"""

from __future__ import annotations

import numpy as np
import torch

from augrepro.saliency.fine_grained import fine_grained
from augrepro.saliency.frequency_tuned import frequency_tuned, frequency_tuned_reference
from augrepro.saliency.spectral_residual import spectral_residual

METHODS = ("fine_grained", "spectral_residual", "frequency_tuned")
BACKENDS = ("torch", "opencv")
_TORCH = {"fine_grained": fine_grained, "spectral_residual": spectral_residual, "frequency_tuned": frequency_tuned}
# methods without an OpenCV contrib detector: backend="opencv" runs this CPU reference loop instead
_CPU_REFERENCE = {"frequency_tuned": frequency_tuned_reference}


def _detector(method: str):
    import cv2

    if method == "fine_grained":
        return cv2.saliency.StaticSaliencyFineGrained.create()
    if method == "spectral_residual":
        return cv2.saliency.StaticSaliencySpectralResidual.create()
    raise ValueError(f"unknown saliency method {method!r}; valid: {', '.join(METHODS)}")


def saliency_maps(images: torch.Tensor, method: str = "fine_grained", backend: str = "torch") -> torch.Tensor:
    """N x 3 x H x W uint8 RGB images (any device) -> N x H x W float32 maps in [0, 1] on the same device.

    ``backend="torch"`` (default): batched torch code on the images' device that reproduces OpenCV
    contrib's arithmetic (``fine_grained.py``, ``spectral_residual.py``) or, for ``frequency_tuned``, the
    paper's algorithm in float64 (``frequency_tuned.py``); ``backend="opencv"``: the reference, one
    ``computeSaliency`` call per image on the CPU (OpenCV expects BGR uint8) or, for ``frequency_tuned``
    (which OpenCV contrib lacks), the per-image float64 NumPy/OpenCV loop ``frequency_tuned_reference``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; valid: {', '.join(METHODS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown saliency backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"saliency_maps expects a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"saliency_maps expects N x 3 x H x W uint8 RGB, got {tuple(images.shape)} {images.dtype}; "
            "convert with (x * 255).round().clamp(0, 255).to(torch.uint8) and put channels first"
        )
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"saliency_maps needs images of at least 1 x 1 pixel, got {tuple(images.shape)}")
    if images.shape[0] == 0:
        return torch.zeros(images.shape[:1] + images.shape[2:], dtype=torch.float32, device=images.device)
    if backend == "torch":
        return _TORCH[method](images)
    if method in _CPU_REFERENCE:
        return _CPU_REFERENCE[method](images).to(images.device)
    detector = _detector(method)
    bgr = images.flip(1).permute(0, 2, 3, 1).contiguous().cpu().numpy()
    out = np.empty(bgr.shape[:3], dtype=np.float32)
    for i, img in enumerate(bgr):
        ok, smap = detector.computeSaliency(img)
        if not ok:
            raise RuntimeError(f"OpenCV {method} saliency failed on image {i}")
        out[i] = smap
    return torch.from_numpy(out).to(images.device)


def official_float_peak(image: torch.Tensor) -> tuple[int, int]:
    """The peak that the released SaliencyMix code finds for one image (SaliencyMix_CIFAR/saliencymix.py,
    ``saliency_bbox``): the *normalized float* CHW tensor transposed to HWC (RGB order) is fed to the
    fine-grained detector, the map is scaled by 255 and cast to uint8, and the first maximum in raster
    order is taken. Returns (row, column)."""
    detector = _detector("fine_grained")
    hwc = np.ascontiguousarray(image.detach().float().cpu().numpy().transpose(1, 2, 0))
    ok, smap = detector.computeSaliency(hwc)
    if not ok:
        raise RuntimeError("OpenCV fine-grained saliency failed")
    smap = (smap * 255).astype("uint8")
    row, col = np.unravel_index(np.argmax(smap, axis=None), smap.shape)
    return int(row), int(col)
