"""Robustness evaluations: occlusion curves and out-of-distribution detection by maximum softmax probability.

Occlusion follows the CutMix paper's experiment (Yun et al. 2019, Fig. 5): accuracy as a growing centred hole
(or a growing border) is zeroed out. Images are in normalised space, so 0 is the dataset mean colour.
OOD detection follows Hendrycks & Gimpel 2017 (the baseline of CutMix Table 12): in-distribution samples are
the positives and the score is the maximum softmax probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from recipes.transforms import Normalisation

DEFAULT_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

# ----------------------------------------------------------------------------------------- occlusion


def _check_fraction(area_frac: float) -> None:
    if not 0.0 <= area_frac <= 1.0:
        raise ValueError(f"area_frac must lie in [0, 1], got {area_frac!r}")


def _centred_box(height: int, width: int, area_frac: float) -> tuple[int, int, int, int]:
    """(top, left, h, w) of the centred box with the image's aspect ratio whose area is nearest area_frac.

    Each side is rounded half up to whole pixels: h = round(H * sqrt(f)), w = round(W * sqrt(f)), so the box
    is a square on square images and its area h * w differs from f * H * W by at most
    sqrt(f) * (H + W) / 2 + 1/4 pixels, i.e. less than one image row on a square image. top = (H - h) // 2,
    so when H - h is odd the margin below the box is one pixel larger than above it (likewise right/left).
    """
    scale = math.sqrt(area_frac)
    h, w = math.floor(height * scale + 0.5), math.floor(width * scale + 0.5)
    return (height - h) // 2, (width - w) // 2, h, w


def occlude_center(images: Tensor, area_frac: float) -> tuple[Tensor, float]:
    """Zero a centred hole covering ``area_frac`` of each image (0 = dataset mean in normalised space).

    Args:
        images: (..., H, W) normalised images; not modified.
        area_frac: requested fraction of the image area to zero, in [0, 1].

    Returns:
        (occluded copy, achieved fraction h * w / (H * W)); see ``_centred_box`` for the pixel rounding.
    """
    _check_fraction(area_frac)
    height, width = images.shape[-2:]
    top, left, h, w = _centred_box(height, width, area_frac)
    out = images.clone()
    out[..., top : top + h, left : left + w] = 0
    return out, h * w / (height * width)


def occlude_border(images: Tensor, area_frac: float) -> tuple[Tensor, float]:
    """Zero the border so that ``area_frac`` of each image is zeroed: a centred box of 1 - area_frac is kept.

    Returns:
        (occluded copy, achieved zeroed fraction 1 - h * w / (H * W)), h and w the kept box's rounded sides.
    """
    _check_fraction(area_frac)
    height, width = images.shape[-2:]
    top, left, h, w = _centred_box(height, width, 1.0 - area_frac)
    out = torch.zeros_like(images)
    out[..., top : top + h, left : left + w] = images[..., top : top + h, left : left + w]
    return out, 1.0 - h * w / (height * width)


OCCLUSIONS = {"center": occlude_center, "border": occlude_border}


def occlusion_curve(
    predict_fn: Callable[[Tensor], Tensor],
    batches: Iterable[tuple[Tensor, Tensor]] | Callable[[], Iterable[tuple[Tensor, Tensor]]],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    kind: str = "center",
) -> list[tuple[float, float]]:
    """Top-1 accuracy of ``predict_fn`` under centre or border occlusion of growing area.

    The data is read once: every batch is occluded at every fraction, so a one-shot iterator works (a callable
    returning the iterable is also accepted). ``predict_fn(images) -> logits`` runs under ``torch.no_grad``.

    Returns:
        One ``(achieved_fraction, top1)`` per requested fraction, in the same order. The achieved fraction is
        the zeroed area after pixel rounding (within one image row of the request on square images), averaged
        over images; plot against it rather than against the request.
    """
    if kind not in OCCLUSIONS:
        raise ValueError(f"kind must be one of {sorted(OCCLUSIONS)}, got {kind!r}")
    for fraction in fractions:
        _check_fraction(fraction)
    occlude = OCCLUSIONS[kind]
    correct = [0] * len(fractions)
    area = [0.0] * len(fractions)
    total = 0
    with torch.no_grad():
        for images, labels in batches() if callable(batches) else batches:
            for i, fraction in enumerate(fractions):
                occluded, achieved = occlude(images, fraction)
                correct[i] += int((predict_fn(occluded).argmax(dim=1) == labels).sum())
                area[i] += achieved * len(labels)
            total += len(labels)
    if total == 0:
        raise ValueError("batches yielded no images")
    return [(a / total, c / total) for a, c in zip(area, correct, strict=True)]


# ----------------------------------------------------------------------------------------- OOD detection


def max_softmax(logits: Tensor) -> Tensor:
    """Maximum softmax probability of each row, in float64 (the MSP detector's score)."""
    return logits.detach().double().softmax(dim=1).max(dim=1).values


def detection_metrics(in_scores: Tensor, out_scores: Tensor) -> dict[str, float]:
    """Detection quality of scores where in-distribution is positive and a higher score means more "in".

    * ``auroc``: P(s_in > s_out) + P(s_in = s_out) / 2 (Mann-Whitney with average ranks for ties);
    * ``tnr_at_tpr95``: TNR at the largest threshold t whose TPR = P(s_in >= t) is at least 95 %;
    * ``detection_acc``: max over thresholds t of (TPR + TNR) / 2, with TNR = P(s_out < t).
    """
    for name, scores in (("in_scores", in_scores), ("out_scores", out_scores)):
        if scores.dim() != 1 or scores.numel() < 1:
            raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(scores.shape)}")
        if not bool(torch.isfinite(scores).all()):
            raise ValueError(f"{name} contain NaN or infinite values")
    pos, neg = in_scores.double(), out_scores.double()
    n_pos, n_neg = pos.numel(), neg.numel()

    values, inverse, counts = torch.unique(torch.cat([pos, neg]), return_inverse=True, return_counts=True)
    counts = counts.double()
    average_rank = counts.cumsum(0) - (counts - 1) / 2  # 1-based ranks, ties share their mean rank
    rank_sum = average_rank[inverse[:n_pos]].sum()
    auroc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

    pos_sorted, neg_sorted = pos.sort().values, neg.sort().values
    k = -(-95 * n_pos // 100)  # ceil(0.95 n_pos) in integers: the fewest positives that reach TPR 95 %
    threshold = pos_sorted[n_pos - k]  # k-th largest in-score
    tnr95 = (neg < threshold).double().mean()

    tpr = (n_pos - torch.searchsorted(pos_sorted, values)).double() / n_pos  # P(s_in >= t), t in values
    tnr = torch.searchsorted(neg_sorted, values).double() / n_neg  # P(s_out < t)
    detection = torch.cat([0.5 * (tpr + tnr), torch.full((1,), 0.5, dtype=torch.float64, device=tpr.device)])

    result = torch.stack([auroc, tnr95, detection.max()]).tolist()
    return dict(zip(("auroc", "tnr_at_tpr95", "detection_acc"), result, strict=True))


def ood_scores(in_logits: Tensor, out_logits: Tensor) -> dict[str, float]:
    """MSP detection of out-of-distribution inputs (Hendrycks & Gimpel 2017): ``detection_metrics`` of the
    maximum softmax probabilities of in-distribution (positive) and out-of-distribution (negative) logits."""
    for name, logits in (("in_logits", in_logits), ("out_logits", out_logits)):
        if logits.dim() != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
            raise ValueError(f"{name} must have shape (N >= 1, C >= 2), got {tuple(logits.shape)}")
    return detection_metrics(max_softmax(in_logits), max_softmax(out_logits))


def adapt_images(pixels: Tensor, in_chans: int, img_size: int) -> Tensor:
    """Another dataset's [0, 1] pixels (B, C, H, W) made into the model's (B, in_chans, img_size, img_size).

    Grey to RGB repeats the channel; RGB to grey takes the channel mean; the size is changed by bilinear
    interpolation (antialiased when shrinking). Used to score other datasets as OOD inputs of a model.
    """
    channels = pixels.shape[1]
    if channels != in_chans:
        if in_chans == 1:
            pixels = pixels.mean(dim=1, keepdim=True)
        elif channels == 1:
            pixels = pixels.expand(-1, in_chans, -1, -1)
        else:
            raise ValueError(f"cannot map {channels}-channel images to the model's {in_chans} channels")
    if pixels.shape[-2:] != (img_size, img_size):
        pixels = torch.nn.functional.interpolate(
            pixels, size=(img_size, img_size), mode="bilinear", align_corners=False, antialias=True
        )
    return pixels.clamp(0, 1)


def noise_images(
    n: int,
    shape: Sequence[int],
    kind: str,
    generator: torch.Generator,
    mean: Sequence[float],
    std: Sequence[float],
) -> Tensor:
    """Synthetic OOD images, made in pixel space [0, 1] and normalised with the dataset's mean and std.

    ``kind`` "gaussian": each value ~ N(0.5, 1) clipped to [0, 1]; "uniform": each value ~ U[0, 1] (the
    Gaussian and Uniform sets of Liang et al. 2018 (ODIN), used with MSP in CutMix Table 12).

    Args:
        n: number of images. shape: (C, H, W). generator: seeded torch.Generator (its device is used).
        mean, std: per-channel statistics in [0, 1] pixel units, length C.

    Returns:
        (n, C, H, W) float32 tensor, (pixels - mean) / std.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (C, H, W) with positive sizes, got {tuple(shape)}")
    if len(mean) != shape[0] or len(std) != shape[0] or min(std) <= 0:
        raise ValueError(f"mean and std need {shape[0]} values with std > 0, got mean={mean}, std={std}")
    size, device = (n, *shape), generator.device
    if kind == "gaussian":
        pixels = (torch.randn(size, generator=generator, device=device) + 0.5).clamp(0, 1)
    elif kind == "uniform":
        pixels = torch.rand(size, generator=generator, device=device)
    else:
        raise ValueError(f"kind must be 'gaussian' or 'uniform', got {kind!r}")
    return Normalisation(mean, std, device).pixels(pixels)


# ----------------------------------------------------------------------------------------- adversarial


def fgsm(
    model: torch.nn.Module,
    images: Tensor,
    labels: Tensor,
    eps: Sequence[float],
    *,
    mean: Sequence[float],
    std: Sequence[float],
) -> list[Tensor]:
    """FGSM (Goodfellow et al. 2015; CutMix's adversarial test): x + eps * sign(grad_x loss), one per eps.

    ``eps`` is in pixel units ([0, 1] pixels): on the model's normalised inputs the step is eps / std per channel,
    and the result is clipped to the valid pixel range [(0 - mean) / std, (1 - mean) / std]. The gradient is of
    the cross-entropy, computed in fp32 (autocast off) with the model in eval mode; the model's mode is restored.

    Returns:
        One adversarial copy of ``images`` per eps (normalised, detached).
    """
    device = images.device
    norm = Normalisation(mean, std, device)
    was_training = model.training
    model.eval()
    x = images.detach().float().requires_grad_(True)
    with torch.enable_grad(), torch.autocast(device.type, enabled=False):
        loss = torch.nn.functional.cross_entropy(model(x).float(), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    model.train(was_training)
    low, high = norm.pixels(torch.zeros_like(norm.mean)), norm.pixels(torch.ones_like(norm.mean))
    step = grad.sign()
    return [torch.maximum(torch.minimum(x.detach() + e / norm.std * step, high), low) for e in eps]
