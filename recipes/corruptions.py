"""The 15 common corruptions of Hendrycks & Dietterich (ICLR 2019, "Benchmarking neural network robustness to
common corruptions and perturbations"), in torch, batched and seeded, at the CIFAR-10-C parameters.

Every corruption maps pixels (B, C, H, W) in [0, 1] to corrupted pixels in [0, 1], draws its randomness from a
torch.Generator on the images' device, and takes one severity's parameters (CIFAR_PARAMS, from the reference
make_cifar_c.py). Parameters in pixels (blur radii and sigmas, glass-blur shifts, elastic and snow motion) are
CIFAR-10-C's scaled by H / 32, so a 28 px image gets the same blur relative to its size; fractions (pixelate, zoom)
and intensities (noise, brightness, contrast, fog, frost, JPEG quality) apply unchanged. Grayscale images
(C = 1) take the reference's grayscale branch: brightness adds to the value itself, snow's grey is the image.

Where the reference is sequential or needs files, the batched version differs (docs/evaluation.md):
glass blur moves each pixel to a random neighbour (a gather) instead of swapping pixels one after another;
fog's plasma fractal is made by spectral synthesis with the same per-octave decay instead of diamond-square;
frost uses a procedural texture (a rough fractal raised to a power: bright, sparse crystals) instead of the six
frost photographs; elastic transform composes its affine and its displacement field into one bilinear sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

SEVERITIES = (1, 2, 3, 4, 5)
REFERENCE_SIZE = 32  # CIFAR-10-C's image side; pixel-sized parameters scale by H / REFERENCE_SIZE


def _zooms(stop: float) -> tuple[float, ...]:
    return tuple(1 + 0.01 * i for i in range(round((stop - 1) / 0.01) + 1))


# One tuple of parameters per severity 1-5, as make_cifar_c.py gives them (in its 32 px units).
CIFAR_PARAMS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # std
    "shot_noise": (500, 250, 100, 75, 50),  # photons per unit intensity
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),  # fraction of values set to 0 or 1
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),  # disk radius, alias sigma
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),  # sigma, shift, iterations
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),  # radius, sigma
    "zoom_blur": tuple(_zooms(s) for s in (1.05, 1.10, 1.15, 1.20, 1.25)),  # zoom factors averaged
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),  # loc, scale, zoom, threshold, motion radius, motion sigma, blend
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),  # image weight, frost weight
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),  # fog strength, fractal decay per octave
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to the HSV value
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor on the deviation from the mean
    # (displacement alpha, displacement sigma, affine jitter) in units of the image side
    "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # side fraction kept
    "jpeg_compression": (80, 65, 58, 50, 40),  # quality
}


# ----------------------------------------------------------------------------------------- helpers


def _gaussian_kernel1d(sigma: float, radius: int, device) -> Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _filter(x: Tensor, kernel: Tensor) -> Tensor:
    """Per-channel correlation with a 2-D kernel (kh, kw) or per-image kernels (B, kh, kw), reflect-101 edges."""
    b, c, h, w = x.shape
    kernel = kernel.expand(b, *kernel.shape[-2:]) if kernel.dim() == 2 else kernel
    kh, kw = kernel.shape[-2:]
    padded = F.pad(x.reshape(1, b * c, h, w), (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    weight = kernel.repeat_interleave(c, dim=0).unsqueeze(1)
    return F.conv2d(padded, weight, groups=b * c).reshape(b, c, h, w)


def gaussian_blur(x: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """skimage.filters.gaussian: separable Gaussian of std `sigma` px, radius truncate * sigma, reflect edges."""
    if sigma <= 0:
        return x
    radius = min(int(truncate * sigma + 0.5), min(x.shape[-2:]) - 1)
    k = _gaussian_kernel1d(sigma, radius, x.device)
    return _filter(_filter(x, k[None, :]), k[:, None])


def _grid(b: int, h: int, w: int, device) -> tuple[Tensor, Tensor]:
    """Pixel coordinates (rows, cols), each (b, h, w)."""
    rows = torch.arange(h, dtype=torch.float32, device=device).view(1, h, 1).expand(b, h, w)
    cols = torch.arange(w, dtype=torch.float32, device=device).view(1, 1, w).expand(b, h, w)
    return rows, cols


def _sample(x: Tensor, rows: Tensor, cols: Tensor, padding_mode: str = "reflection") -> Tensor:
    """Bilinear sampling of x at pixel coordinates (B, H, W), like scipy's map_coordinates(order=1)."""
    h, w = x.shape[-2:]
    grid = torch.stack([2 * cols / (w - 1) - 1, 2 * rows / (h - 1) - 1], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def _zoom_matrix(n: int, factor: float, device) -> Tensor:
    """(n, n) linear-interpolation weights that zoom a length-n signal into its centre by `factor` >= 1."""
    src = (torch.arange(n, dtype=torch.float32, device=device) - (n - 1) / 2) / factor + (n - 1) / 2
    low = src.floor().clamp(0, n - 1)
    frac = src - low
    high = (low + 1).clamp(max=n - 1)
    rows = torch.arange(n, device=device)
    matrix = torch.zeros(n, n, device=device)
    matrix.index_put_((rows, low.long()), 1 - frac, accumulate=True)
    matrix.index_put_((rows, high.long()), frac, accumulate=True)
    return matrix


def clipped_zoom(x: Tensor, factor: float) -> Tensor:
    """Zoom into the centre by `factor` >= 1 (the centre 1/factor of each side, scaled up to the full side),
    bilinear, as two small matrix products (rows, then columns)."""
    b, c, h, w = x.shape
    cols = x.reshape(-1, w) @ _zoom_matrix(w, factor, x.device).T  # one GEMM per axis, not one per image
    rows = cols.reshape(b * c, h, w).transpose(1, 2).reshape(-1, h) @ _zoom_matrix(h, factor, x.device).T
    return rows.reshape(b * c, w, h).transpose(1, 2).reshape(b, c, h, w)


def motion_blur(x: Tensor, radius: float, sigma: float, angles: Tensor) -> Tensor:
    """ImageMagick's motion blur: a one-sided Gaussian (std sigma px, up to radius px) trail at each image's angle
    (degrees), as imagecorruptions' _motion_blur; the trail is cut at 4 sigma, where its weights are < 3e-4."""
    length = max(1, min(int(2 * radius + 1), int(math.ceil(4 * sigma)) + 1))
    steps = torch.arange(length, dtype=torch.float32, device=x.device)
    weights = torch.exp(-0.5 * (steps / sigma) ** 2)
    weights = weights / weights.sum()
    theta = torch.deg2rad(angles.float())
    dy = -torch.round(steps[None] * torch.sin(theta)[:, None]).long()  # (B, length)
    dx = -torch.round(steps[None] * torch.cos(theta)[:, None]).long()
    half = length - 1
    kernel = torch.zeros(len(angles), 2 * half + 1, 2 * half + 1, device=x.device)
    kernel.index_put_(
        (torch.arange(len(angles), device=x.device)[:, None].expand_as(dy), half - dy, half - dx),
        weights.expand_as(dy).clone(),
        accumulate=True,
    )
    padded = F.pad(x, (half, half, half, half), mode="replicate")
    b, c = x.shape[:2]
    out = F.conv2d(
        padded.reshape(1, b * c, *padded.shape[-2:]), kernel.repeat_interleave(c, 0).unsqueeze(1), groups=b * c
    )
    return out.reshape(x.shape)


def plasma_fractal(b: int, size: int, decay: float, generator: torch.Generator) -> Tensor:
    """(b, 1, size, size) fractal noise in [0, 1] whose amplitude falls by `decay` per octave (the reference's
    diamond-square "wibbledecay"): white noise shaped to an amplitude spectrum f^-log2(decay), min-max scaled."""
    side = 1 << max(1, (size - 1).bit_length())
    noise = torch.randn(b, side, side, generator=generator, device=generator.device)
    fy = torch.fft.fftfreq(side, device=noise.device).abs().view(-1, 1)
    fx = torch.fft.rfftfreq(side, device=noise.device).view(1, -1)
    freq = torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / side)
    field = torch.fft.irfft2(torch.fft.rfft2(noise) * freq ** (-math.log2(decay)), s=(side, side))[:, :size, :size]
    low, high = field.amin(dim=(1, 2), keepdim=True), field.amax(dim=(1, 2), keepdim=True)
    return ((field - low) / (high - low)).unsqueeze(1)


def _gray(x: Tensor) -> Tensor:
    """ITU-R 601 luma (B, 1, H, W); the image itself when grayscale."""
    if x.shape[1] == 1:
        return x
    return (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _uniform(generator: torch.Generator, size, low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(size, generator=generator, device=generator.device)


# ----------------------------------------------------------------------------------------- the 15 corruptions


def gaussian_noise(x, std, g, scale):
    return x + std * torch.randn(x.shape, generator=g, device=x.device)


def shot_noise(x, photons, g, scale):
    return torch.poisson(x * photons, generator=g) / photons


def impulse_noise(x, amount, g, scale):
    """skimage's salt & pepper: each value is replaced with probability `amount`, by 0 or 1 with equal odds."""
    hit = torch.rand(x.shape, generator=g, device=x.device) < amount
    salt = torch.rand(x.shape, generator=g, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def defocus_blur(x, params, g, scale):
    """A disk of radius r px, antialiased by a 3x3 (5x5 beyond r = 8) Gaussian of std alias px (cv2 in the
    reference), correlated with each channel. Each kernel pixel weighs the fraction of it the disk covers
    (8 x 8 samples per pixel) rather than the reference's in-or-out test, so that a radius scaled to a
    non-integer (CIFAR's r = 1 is 0.875 px at 28 px) still blurs: the blur grows continuously with r."""
    radius, alias = params[0] * scale, params[1] * scale
    half = int(math.ceil(radius + 0.5))
    fine = (torch.arange(-half * 8, half * 8 + 8, dtype=torch.float32, device=x.device) + 0.5) / 8 - 0.5
    inside = ((fine[:, None] ** 2 + fine[None, :] ** 2) <= radius**2).float()
    disk = F.avg_pool2d(inside[None, None], 8)[0, 0]
    disk = F.pad(disk / disk.sum(), (2, 2, 2, 2))
    k = _gaussian_kernel1d(alias, 1 if radius <= 8 else 2, x.device)
    kernel = F.conv2d(disk[None, None], (k[:, None] * k[None, :])[None, None], padding=k.numel() // 2)[0, 0]
    return _filter(x, kernel)


def glass_blur(x, params, g, scale):
    sigma, shift, iterations = params[0] * scale, max(1, round(params[1] * scale)), params[2]
    x = gaussian_blur(x, sigma)
    b, c, h, w = x.shape
    rows, cols = _grid(b, h, w, x.device)
    for _ in range(iterations):
        dy = torch.randint(-shift, shift, (b, h, w), generator=g, device=x.device)
        dx = torch.randint(-shift, shift, (b, h, w), generator=g, device=x.device)
        src_r = (rows.long() + dy).clamp(0, h - 1)
        src_c = (cols.long() + dx).clamp(0, w - 1)
        index = (src_r * w + src_c).view(b, 1, h * w).expand(b, c, h * w)
        x = x.reshape(b, c, h * w).gather(2, index).reshape(b, c, h, w)
    return gaussian_blur(x, sigma)


def motion_blur_corruption(x, params, g, scale):
    angles = _uniform(g, (x.shape[0],), -45, 45)
    return motion_blur(x, params[0] * scale, params[1] * scale, angles)


def zoom_blur(x, factors, g, scale):
    return (x + sum(clipped_zoom(x, z) for z in factors)) / (len(factors) + 1)


def snow(x, params, g, scale):
    loc, spread, zoom, threshold, radius, sigma, blend = params
    b, _, h, w = x.shape
    flakes = loc + spread * torch.randn((b, 1, h, w), generator=g, device=x.device)
    flakes = clipped_zoom(flakes, zoom)
    flakes = torch.where(flakes < threshold, torch.zeros_like(flakes), flakes).clamp(0, 1)
    flakes = motion_blur(flakes, radius * scale, sigma * scale, _uniform(g, (b,), -135, -45))
    flakes = torch.round(flakes * 255) / 255
    x = blend * x + (1 - blend) * torch.maximum(x, _gray(x) * 1.5 + 0.5)
    return x + flakes + flakes.flip(-2, -1)


def frost(x, params, g, scale):
    weight, frost_weight = params
    texture = plasma_fractal(x.shape[0], max(x.shape[-2:]), 1.4, g)[..., : x.shape[-2], : x.shape[-1]] ** 2
    if x.shape[1] == 3:  # frost photographs are bluish white
        texture = texture * torch.tensor([0.85, 0.93, 1.0], device=x.device).view(1, 3, 1, 1)
    return weight * x + frost_weight * texture


def fog(x, params, g, scale):
    strength, decay = params
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    fractal = plasma_fractal(x.shape[0], max(x.shape[-2:]), decay, g)[..., : x.shape[-2], : x.shape[-1]]
    return (x + strength * fractal) * peak / (peak + strength)


def brightness(x, shift, g, scale):
    """HSV value (the channel max) + shift, hue and saturation kept: each pixel's channels scale by v' / v."""
    value = x.amax(dim=1, keepdim=True)
    brighter = (value + shift).clamp(0, 1)
    return torch.where(value > 0, x * brighter / value.clamp_min(1e-12), brighter.expand_as(x))


def contrast(x, factor, g, scale):
    """Each channel's deviation from its own mean (per image, as the reference's mean over H and W) times factor."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) * factor + mean


def elastic_transform(x, params, g, scale):
    b, _, h, w = x.shape
    alpha, sigma, jitter = (p * h for p in params)
    centre, square = torch.tensor([h // 2, w // 2], dtype=torch.float32), min(h, w) // 3
    pts = torch.stack([centre + square, centre + torch.tensor([square, -square]), centre - square]).to(x.device)
    moved = pts + _uniform(g, (b, 3, 2), -jitter, jitter)
    # the affine that maps each output point back to where it came from: solve [moved 1] A = pts
    ones = torch.ones(b, 3, 1, device=x.device)
    back = torch.linalg.solve(torch.cat([moved, ones], dim=2), pts.expand(b, 3, 2))  # (B, 3, 2)
    rows, cols = _grid(b, h, w, x.device)
    field = _uniform(g, (b, 2, h, w), -1, 1)
    field = gaussian_blur(field, sigma, truncate=3.0) * alpha if sigma > 0 else field * 0
    r, c = rows + field[:, 0], cols + field[:, 1]
    src_r = r * back[:, 0, 0, None, None] + c * back[:, 1, 0, None, None] + back[:, 2, 0, None, None]
    src_c = r * back[:, 0, 1, None, None] + c * back[:, 1, 1, None, None] + back[:, 2, 1, None, None]
    return _sample(x, src_r, src_c)


def pixelate(x, keep, g, scale):
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(int(h * keep), int(w * keep)), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")


def jpeg_compression(x, quality, g, scale):
    """Encode and decode with libjpeg (torchvision.io) at `quality`, on the CPU; back on x's device."""
    from torchvision.io import decode_jpeg, encode_jpeg

    pixels = (x * 255).round().clamp(0, 255).to(torch.uint8).cpu()
    decoded = decode_jpeg(encode_jpeg(list(pixels), quality=int(quality)))
    return torch.stack(decoded).to(x.device, torch.float32) / 255


CORRUPTIONS = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur_corruption,
    "zoom_blur": zoom_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
}


def corrupt(
    pixels: Tensor,
    name: str,
    severity: int,
    generator: torch.Generator,
    *,
    params=None,
    reference_size: int = REFERENCE_SIZE,
) -> Tensor:
    """`pixels` (B, C, H, W) in [0, 1] with corruption `name` at `severity` 1-5, clipped to [0, 1].

    params: that severity's parameters (default: CIFAR_PARAMS), in pixels of a `reference_size` px image and
    scaled by H / reference_size; tests pass imagecorruptions' parameters with reference_size=H to compare.
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"corruption {name!r} is unknown: choose one of {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    chosen = CIFAR_PARAMS[name][severity - 1] if params is None else params
    scale = pixels.shape[-2] / reference_size
    return CORRUPTIONS[name](pixels.float(), chosen, generator, scale).clamp(0, 1)
