"""Spectral-residual saliency (Hou & Zhang, "Saliency Detection: A Spectral Residual Approach", CVPR 2007), batched.

The map SaliencyMix centres its box on (Uddin et al., ICLR 2021), computed the way OpenCV's
`cv2.saliency.StaticSaliencySpectralResidual` does, for a whole batch at once with torch.fft, on any device:

1. grey level 0.299·R + 0.587·G + 0.114·B (images are RGB; one channel is used as it is, other channel counts
   are averaged), stretched to span [0, 255], resized bilinearly (half-pixel centres, no antialiasing) to 64 × 64;
2. the 2-D DFT's log(1 + amplitude) minus its 3 × 3 box-filtered version (borders reflected without repeating
   the edge, OpenCV's BORDER_REFLECT_101) is the spectral residual;
3. exp(residual) with the original phase goes back through the inverse DFT; its magnitude is blurred with a
   5 × 5 Gaussian of σ = 8 (same borders), squared, divided by its maximum, and resized back to H × W.

This is OpenCV 5.1's version: log(1 + amplitude), which opencv_contrib PR #4108 brought in so that a zero
coefficient no longer gives log(0); earlier releases take log(amplitude). OpenCV takes the pixels as they come,
and log(1 + amplitude) depends on their scale; the stretch of step 1 makes the map independent of it (uint8,
[0, 1] floats and floats normalised with one std for all channels, of one picture, get one map; per-channel stds
reweigh the channels slightly), and on an image whose grey levels already span 0..255 it changes nothing.
Computed in float32 (OpenCV works in float64; the test compares the two).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

MAP_SIZE = 64  # OpenCV's working resolution (resImWidth, resImHeight)
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as cv2.COLOR_BGR2GRAY
GREY_RANGE = 255.0  # the span grey levels are stretched to: OpenCV's uint8 range


def _gaussian_taps(size: int = 5, sigma: float = 8.0) -> tuple[float, ...]:
    """The 1-D normalised Gaussian of OpenCV's getGaussianKernel(size, sigma) (GaussianBlur is separable)."""
    taps = [math.exp(-((k - size // 2) ** 2) / (2.0 * sigma * sigma)) for k in range(size)]
    return tuple(t / sum(taps) for t in taps)


GAUSSIAN_TAPS = _gaussian_taps()
BOX_TAPS = (1.0 / 3.0,) * 3


@functools.lru_cache(maxsize=16)
def _filter_matrix(length: int, taps: tuple[float, ...], device: torch.device) -> Tensor:
    """(L, L) matrix M with (M @ x)[i] = Σ_k taps[k] · x[i + k − K//2], indices reflected at the borders without
    repeating the edge (OpenCV's BORDER_REFLECT_101), so a separable filter is M @ maps @ Mᵀ: two small matmuls,
    many times faster on the CPU than a 1-channel conv2d or shifted slices (cached; never modified in place)."""
    matrix = torch.zeros(length, length, dtype=torch.float64)
    for i in range(length):
        for k, tap in enumerate(taps):
            j = abs(i + k - len(taps) // 2)
            matrix[i, j if j < length else 2 * (length - 1) - j] += tap
    return matrix.float().to(device)


def grey(images: Tensor) -> Tensor:
    """(B, 1, H, W) float32 grey levels of RGB (or one-channel) images, other channel counts averaged, stretched
    to span [0, GREY_RANGE] (a constant image becomes 0)."""
    x = images.float()
    if x.shape[1] == 3:
        weights = torch.tensor(GREY_WEIGHTS, device=x.device).reshape(1, 3, 1, 1)
        levels = (x * weights).sum(dim=1, keepdim=True)
    else:
        levels = x.mean(dim=1, keepdim=True)
    low, high = levels.amin(dim=(2, 3), keepdim=True), levels.amax(dim=(2, 3), keepdim=True)
    spread = high - low
    return (levels - low).mul_(torch.where(spread > 0, GREY_RANGE / spread, 0.0))


def _filter_reflect(maps: Tensor, taps: tuple[float, ...]) -> Tensor:
    """(B, 1, h, w) maps filtered by the separable kernel taps ⊗ taps, borders as OpenCV's BORDER_REFLECT_101."""
    h, w = maps.shape[-2:]
    rows, cols = _filter_matrix(h, taps, maps.device), _filter_matrix(w, taps, maps.device)
    return torch.matmul(torch.matmul(rows, maps), cols.T)


def spectral_residual_saliency(images: Tensor, *, map_size: int = MAP_SIZE) -> Tensor:
    """(B, H, W) float32 saliency maps in [0, 1] of (B, C, H, W) images, any dtype (the 64 × 64 map's maximum
    is 1; the final resize can lower it a little).

    The steps of the module docstring; `map_size` is the working resolution (OpenCV's 64).
    """
    h, w = images.shape[-2:]
    small = F.interpolate(grey(images), size=(map_size, map_size), mode="bilinear", align_corners=False)
    spectrum = torch.view_as_real(torch.fft.fft2(small))  # complex ops are slow on the CPU: (re, im) pairs
    amplitude = torch.hypot(spectrum[..., 0], spectrum[..., 1])
    log_amplitude = torch.log1p(amplitude)
    magnitude = (log_amplitude - _filter_reflect(log_amplitude, BOX_TAPS)).exp_()  # exp(spectral residual)
    # magnitude with the spectrum's phase: spectrum · magnitude / amplitude. The floor keeps the gain finite
    # (the residual is at most log(1 + 64·64·255) < 14); a zero coefficient gets phase 0, as in OpenCV.
    gain = magnitude / amplitude.clamp_min(1e-20)
    rephased = spectrum * gain[..., None]
    rephased[..., 0].add_(magnitude * (amplitude == 0))
    back = torch.view_as_real(torch.fft.ifft2(torch.view_as_complex(rephased)))
    saliency = _filter_reflect(torch.hypot(back[..., 0], back[..., 1]), GAUSSIAN_TAPS).square_()
    saliency = saliency / saliency.amax(dim=(-2, -1), keepdim=True).clamp_min_(torch.finfo(torch.float32).tiny)
    return F.interpolate(saliency, size=(h, w), mode="bilinear", align_corners=False)[:, 0]


def saliency_peaks(images: Tensor) -> Tensor:
    """(B, 2) int64 (x, y) pixel of each image's spectral-residual saliency maximum (the first one in row-major
    order on a tie), as SaliencyMix uses it."""
    maps = spectral_residual_saliency(images)
    flat = maps.flatten(1).argmax(dim=1)
    width = maps.shape[-1]
    return torch.stack([flat % width, torch.div(flat, width, rounding_mode="floor")], dim=1)
