"""Spectral-residual static saliency (Hou & Zhang, CVPR 2007) as OpenCV contrib computes it, batched in torch.

Reproduces ``cv::saliency::StaticSaliencySpectralResidual`` (opencv_contrib modules/saliency/src/
staticSaliencySpectralResidual.cpp, the version shipped with OpenCV 4.x/5.0): gray (BGR2GRAY) -> resize to
64 x 64 (INTER_LINEAR_EXACT, 8-bit) -> complex DFT (float64) -> cartToPolar -> log(amplitude + 1) ->
3x3 mean filter (BORDER_DEFAULT) -> exp(log amplitude - filtered) -> polarToCart with the original phase ->
inverse DFT (unscaled) -> magnitude -> GaussianBlur 5x5, sigma 8 -> squared -> divided by its maximum ->
float32 -> resize to the input size (INTER_LINEAR_EXACT, which OpenCV runs as INTER_LINEAR for float32).

The 8-bit steps are exact; cartToPolar and polarToCart reproduce OpenCV's float32 approximations
(``cvops``). What is left are float64 rounding differences between two FFT implementations and the order
of float sums in the filters and the final resize: measured, about 1e-7 on maps in [0, 1].
"""

from __future__ import annotations

import torch

from augrepro.saliency.cvops import (
    box3x3_f64,
    cart_to_polar_64f,
    gaussian_f64,
    magnitude_64f,
    polar_to_cart_64f,
    resize_linear_f32,
    resize_linear_exact_u8,
    rgb_to_gray,
)

RESIZED = 64  # resImWidth = resImHeight = 64 in the OpenCV constructor
BLUR_KSIZE, BLUR_SIGMA = 5, 8.0  # GaussianBlur(magnitude, Size(5, 5), 8) of the OpenCV source


# images per chunk on the CPU: a chunk's float64 64 x 64 spectra (16 x 64 KiB) stay in a core's L2 cache
_CHUNK = 16


def spectral_residual(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 RGB -> N x H x W float32 spectral-residual saliency in [0, 1]."""
    n = images.shape[0]
    if images.device.type != "cpu" or n <= _CHUNK:
        return _spectral_residual(images)
    return torch.cat([_spectral_residual(images[i : i + _CHUNK]) for i in range(0, n, _CHUNK)])


def _spectral_residual(images: torch.Tensor) -> torch.Tensor:
    n, _, h, w = images.shape
    small = resize_linear_exact_u8(rgb_to_gray(images), RESIZED, RESIZED).double()
    spectrum = torch.fft.fft2(small)
    mag, angle = cart_to_polar_64f(spectrum.real, spectrum.imag)
    log_amp = torch.log(mag + 1)
    residual = torch.exp(log_amp - box3x3_f64(log_amp))
    re, im = polar_to_cart_64f(residual, angle)
    back = torch.fft.ifft2(torch.complex(re, im), norm="forward")  # cv::dft(DFT_INVERSE): no 1/N scale
    sal = gaussian_f64(magnitude_64f(back.real, back.imag), BLUR_KSIZE, BLUR_SIGMA)
    sal = sal * sal
    sal = (sal / sal.amax((1, 2), keepdim=True)).float()
    return resize_linear_f32(sal, h, w)
