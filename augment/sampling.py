"""Random draws for the mixers: Beta λ, partners, per-mode sharing and boxes, all from a torch.Generator.

Every function draws on the generator's device (`generator.device`; CPU with torch's global RNG when the
generator is None) and returns tensors there; the mixers move them to the images' device afterwards. There
is no numpy or Python RNG anywhere, and no data-dependent loop or host read, so sampling never stalls a GPU.

Pairing rule (all two-image mixers): draw a random permutation π of the batch and pair π[k] with
π[k + B//2] for k < B//2, i.e. a uniformly random perfect matching. With an odd batch the last element
π[B-1] is paired with itself and stays unmixed (one-hot target). Pairs are symmetric: if i takes pixels from
j then j takes pixels from i, which is what makes mode="pair" (one λ/box per pair) meaningful.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

# Marsaglia–Tsang candidates drawn at once per Gamma variate. Acceptance is >= 0.95 for shape >= 1, so all
# eight are rejected with probability < 0.05**8 ≈ 4e-11; such a draw then takes the mode-like value v = 1.
# Drawing a fixed number keeps the sampler free of data-dependent loops (no host synchronisation).
GAMMA_TRIES = 8


def generator_device(generator: torch.Generator | None) -> torch.device:
    """Where draws from `generator` live (CPU for None: torch's default generator)."""
    return generator.device if generator is not None else torch.device("cpu")


def log_gamma(
    shape: tuple[int, ...],
    *,
    concentration: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """log of Gamma(concentration, 1) variates, vectorised Marsaglia–Tsang rejection.

    For concentration < 1 the 'boost' identity Gamma(a) = Gamma(a + 1) · U^(1/a) is applied in log space,
    so tiny concentrations give very negative logs instead of underflowing to 0.
    """
    device = generator_device(generator)
    a = concentration + 1.0 if concentration < 1.0 else concentration
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    x = torch.randn((*shape, GAMMA_TRIES), generator=generator, device=device, dtype=dtype)
    u = torch.rand((*shape, GAMMA_TRIES), generator=generator, device=device, dtype=dtype)
    v = (1.0 + c * x) ** 3
    accept = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(v))
    first = accept.to(torch.uint8).argmax(-1, keepdim=True)  # index of the first accepted candidate
    v = torch.where(accept.any(-1), v.gather(-1, first).squeeze(-1), 1.0)
    log_g = math.log(d) + torch.log(v)
    if concentration < 1.0:
        u_boost = torch.rand(shape, generator=generator, device=device, dtype=dtype)
        log_g = log_g + torch.log1p(-u_boost) / concentration  # log(1-u) is finite: u < 1
    return log_g


def sample_lambda(
    n: int, *, alpha: float, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """n draws of λ ~ Beta(alpha, alpha), computed in `dtype`.

    alpha > 1/2: Ulrich's exact transform of two uniforms (Applied Statistics, 1984), no rejection:
        λ = ½ + ½ · √(1 − U^(2 / (2·alpha − 1))) · cos(2πV)
    (for alpha = 1 this is uniform). alpha ≤ 1/2: λ = X / (X + Y) with X, Y ~ Gamma(alpha), computed as
    sigmoid(log X − log Y) so that alpha → 0 gives λ ∈ {0, 1} exactly. Draws closer to 1 than the dtype's
    spacing round to 1 (in float32, a few % of them for alpha ≈ 0.1).
    """
    device = generator_device(generator)
    if alpha > 0.5:
        u, v = torch.rand((2, n), generator=generator, device=device, dtype=dtype)
        radius = torch.sqrt(-torch.expm1(torch.log(u) * (2.0 / (2.0 * alpha - 1.0))))
        return 0.5 + 0.5 * radius * torch.cos((2.0 * math.pi) * v)
    log_xy = log_gamma((2, n), concentration=alpha, generator=generator, dtype=dtype)
    return torch.sigmoid(log_xy[0] - log_xy[1])


@functools.lru_cache(maxsize=64)
def _swap_index(batch_size: int, device: torch.device) -> Tensor:
    """Which permutation position each position is paired with: k ↔ k + B//2, and the last position of an
    odd batch with itself (cached, like _size_wh; never modified in place)."""
    half = batch_size // 2
    position = torch.arange(batch_size)
    return torch.cat([position[half : 2 * half], position[:half], position[2 * half :]]).to(device)


def pair_partners(batch_size: int, *, generator: torch.Generator | None = None) -> Tensor:
    """partners[i] = the sample i is mixed with: a random perfect matching (see module docstring).

    partners[π[k]] = π[swap[k]], written with one scatter (two small kernels instead of five).
    """
    device = generator_device(generator)
    perm = torch.randperm(batch_size, generator=generator, device=device)
    return torch.empty_like(perm).scatter_(0, perm, perm.index_select(0, _swap_index(batch_size, device)))


def num_units(batch_size: int, *, mode: str) -> int:
    """How many independent draws a mode needs: one for the batch, else one per sample (pairs use half)."""
    return 1 if mode == "batch" else batch_size


def unit_index(partners: Tensor, *, mode: str) -> Tensor:
    """For each sample, which of the num_units draws it uses.

    "batch": all use draw 0; "elem": sample i uses draw i; "pair": both members use the draw of the smaller
    index, so a pair shares its λ and box.
    """
    index = torch.arange(partners.shape[0], device=partners.device)
    if mode == "batch":
        return torch.zeros_like(index)
    if mode == "pair":
        return torch.minimum(index, partners)
    return index


def share(draws: Tensor, partners: Tensor, *, mode: str) -> Tensor:
    """Per-unit draws (num_units, ...) → per-sample (B, ...), following unit_index ("batch": an expanded
    view of the one draw, so never write into the result in place)."""
    if mode == "batch":
        return draws.expand(partners.shape[0], *draws.shape[1:])
    return draws if mode == "elem" else draws[unit_index(partners, mode=mode)]


def sample_active(partners: Tensor, *, prob: float, mode: str, generator: torch.Generator | None = None) -> Tensor:
    """(B,) bool: which samples are mixed. One Bernoulli(prob) per batch/pair/sample as `mode` says;
    a sample paired with itself (odd batch, B = 1) is never mixed. prob = 1 draws nothing."""
    paired = partners != torch.arange(partners.shape[0], device=partners.device)
    if prob >= 1.0:
        return paired
    draws = torch.rand(num_units(partners.shape[0], mode=mode), generator=generator, device=partners.device)
    return share(draws < prob, partners, mode=mode) & paired


@functools.lru_cache(maxsize=64)
def _size_wh(height: int, width: int, device: torch.device) -> Tensor:
    """(W, H, W, H) as a float32 tensor on `device`: [:2] scales (w, h) pairs, all four clip xyxy boxes
    (cached: building it costs more than the box math it feeds). Never modified in place."""
    return torch.tensor([float(width), float(height)] * 2).to(device, non_blocking=True)


def place_boxes(sizes: Tensor, height: int, width: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Boxes of the given (n, 2) whole-number sizes (w, h), centres uniform over the whole image, clipped.

    Returns (n, 4) int64 boxes in pixel units, xyxy order (x1, y1, x2, y2), half-open: the box covers rows
    y1 ≤ r < y2 and columns x1 ≤ c < x2. The centre (cx, cy) is continuous uniform on [0, W) × [0, H) and
    row r (whose centre is r + 0.5) is inside when cy − h/2 ≤ r + 0.5 < cy + h/2, so each unclipped box has
    exactly w × h pixels, the placement is symmetric under flips, and every border row/column is reachable.
    """
    sizes = sizes.float()  # whole numbers, exact in float32
    centres = torch.rand((sizes.shape[0], 2), generator=generator, device=sizes.device)
    return boxes_around(centres.mul_(_size_wh(height, width, sizes.device)[:2]), sizes, height, width)


def boxes_around(centres: Tensor, sizes: Tensor, height: int, width: int) -> Tensor:
    """(n, 4) int64 xyxy half-open boxes of whole-number sizes (w, h) around continuous centres (x, y), clipped.

    Row r (centre r + 0.5) is inside when cy − h/2 ≤ r + 0.5 < cy + h/2, so an unclipped box has exactly w × h
    pixels; a box centred on pixel p (centre p + 0.5) of size ≥ 1 always contains p, clipped or not.
    """
    sizes = sizes.float()
    extent = _size_wh(height, width, sizes.device)
    start = centres.float().sub(sizes, alpha=0.5).add_(0.5).floor_()  # the unclipped top-left pixel (x, y)
    corners = torch.cat([start, start + sizes], dim=1).clamp_(min=0)
    return torch.minimum(corners, extent).long()


def sample_boxes(lam: Tensor, height: int, width: int, *, generator: torch.Generator | None = None) -> Tensor:
    """CutMix boxes: side ratios √(1 − λ) of (W, H), rounded to pixels, placed by place_boxes.

    λ here is the uncorrected draw; recompute the kept fraction from the returned boxes (box_area_fraction).
    """
    ratio = torch.sqrt((1.0 - lam.float()).clamp_min(0.0))
    sizes = torch.round(ratio[:, None] * _size_wh(height, width, lam.device)[:2])
    return place_boxes(sizes, height, width, generator=generator)


def sample_minmax_boxes(
    n: int, height: int, width: int, *, min_ratio: float, max_ratio: float, generator: torch.Generator | None = None
) -> Tensor:
    """Boxes whose width and height ratios are drawn independently from U(min_ratio, max_ratio)
    (timm's cutmix_minmax idea: box size set directly, λ follows from the area)."""
    device = generator_device(generator)
    ratios = min_ratio + (max_ratio - min_ratio) * torch.rand((n, 2), generator=generator, device=device)
    sizes = torch.round(ratios * _size_wh(height, width, device)[:2])
    return place_boxes(sizes, height, width, generator=generator)


def box_area_fraction(boxes: Tensor, height: int, width: int) -> Tensor:
    """Fraction of the H × W image covered by each (n, 4) xyxy box (float32)."""
    return (boxes[:, 2:] - boxes[:, :2]).prod(dim=1) / float(height * width)


def sample_mixup(
    batch_size: int, *, alpha: float, prob: float, mode: str, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Mixup draws: (partners, lam), lam (B,) = weight of each sample's own image (1 where unmixed)."""
    partners = pair_partners(batch_size, generator=generator)
    lam = share(sample_lambda(num_units(batch_size, mode=mode), alpha=alpha, generator=generator), partners, mode=mode)
    active = sample_active(partners, prob=prob, mode=mode, generator=generator)
    return partners, torch.where(active, lam, 1.0)


def sample_cutmix_units(
    batch_size: int,
    height: int,
    width: int,
    *,
    alpha: float,
    prob: float,
    mode: str,
    generator: torch.Generator | None = None,
    min_ratio: float | None = None,
    max_ratio: float | None = None,
) -> tuple[Tensor, Tensor]:
    """CutMix draws before sharing: (partners, boxes (num_units, 4) xyxy), one box per batch / pair /
    sample as `mode` says (see unit_index), empty where that unit is not mixed. With mode="batch" this is
    one box, which a mixer can paste with one mask broadcast over the batch. Arguments as in sample_cutmix.
    """
    partners = pair_partners(batch_size, generator=generator)
    n = num_units(batch_size, mode=mode)
    if min_ratio is None:
        boxes = sample_boxes(sample_lambda(n, alpha=alpha, generator=generator), height, width, generator=generator)
    else:
        boxes = sample_minmax_boxes(n, height, width, min_ratio=min_ratio, max_ratio=max_ratio, generator=generator)
    if prob < 1.0:
        boxes = boxes * (torch.rand(n, generator=generator, device=boxes.device) < prob)[:, None]
    return partners, boxes


def sample_cutmix(
    batch_size: int,
    height: int,
    width: int,
    *,
    alpha: float,
    prob: float,
    mode: str,
    generator: torch.Generator | None = None,
    min_ratio: float | None = None,
    max_ratio: float | None = None,
) -> tuple[Tensor, Tensor]:
    """CutMix draws: (partners, boxes). boxes (B, 4) xyxy is the region each sample takes from its partner
    (empty where unmixed). λ ~ Beta(alpha, alpha) sets the box sides, unless min_ratio/max_ratio are given,
    in which case the side ratios are uniform in [min_ratio, max_ratio] and alpha is not used."""
    partners, boxes = sample_cutmix_units(
        batch_size,
        height,
        width,
        alpha=alpha,
        prob=prob,
        mode=mode,
        generator=generator,
        min_ratio=min_ratio,
        max_ratio=max_ratio,
    )
    paired = partners != torch.arange(batch_size, device=partners.device)
    return partners, share(boxes, partners, mode=mode) * paired[:, None]


def sample_cutout(
    batch_size: int,
    height: int,
    width: int,
    *,
    hole_size: tuple[int, int],
    holes: int,
    prob: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Cutout holes: (B, holes, 4) xyxy boxes of size hole_size = (h, w), centres uniform over the image
    (clipped at the borders, as in DeVries & Taylor); each sample gets holes with probability prob, else
    empty boxes."""
    device = generator_device(generator)
    n = batch_size * holes
    sizes = torch.stack(
        [torch.full((n,), hole_size[1], device=device), torch.full((n,), hole_size[0], device=device)], dim=1
    )
    boxes = place_boxes(sizes, height, width, generator=generator).reshape(batch_size, holes, 4)
    active = torch.rand(batch_size, generator=generator, device=device) < prob
    return torch.where(active[:, None, None], boxes, 0)


def sample_ricap(
    batch_size: int,
    height: int,
    width: int,
    *,
    alpha: float,
    prob: float,
    mode: str,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """RICAP draws: (sources (B, 4), corner (B, 2), offsets (B, 4, 2)).

    Quadrant q (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of output sample i is a crop of
    image sources[i, q]; the four sources come from four independent random permutations of the batch (the
    paper's rule). corner = (h, w) = (round(H·β_h), round(W·β_w)), β ~ Beta(alpha, alpha), is the point where
    the quadrants meet; offsets[i, q] = (y, x) is the crop's top-left corner in its source image, uniform
    over the positions where the crop fits. mode "batch" shares corner and offsets across the batch (paper),
    "elem" draws them per sample. Unmixed samples (probability 1 − prob) get the whole own image.
    """
    device = generator_device(generator)
    index = torch.arange(batch_size, device=device)
    perms = [torch.randperm(batch_size, generator=generator, device=device) for _ in range(4)]
    sources = torch.stack(perms, dim=1)
    n = num_units(batch_size, mode=mode)
    lam = sample_lambda(2 * n, alpha=alpha, generator=generator)
    corner_h, corner_w = torch.round(lam[:n] * height).long(), torch.round(lam[n:] * width).long()
    crop_h = torch.stack([corner_h, corner_h, height - corner_h, height - corner_h], dim=1)  # (n, 4)
    crop_w = torch.stack([corner_w, width - corner_w, corner_w, width - corner_w], dim=1)
    u = torch.rand((2, n, 4), generator=generator, device=device)
    off_y = torch.minimum(torch.floor(u[0] * (height - crop_h + 1)).long(), height - crop_h)
    off_x = torch.minimum(torch.floor(u[1] * (width - crop_w + 1)).long(), width - crop_w)
    corner = share(torch.stack([corner_h, corner_w], 1), index, mode=mode)
    offsets = share(torch.stack([off_y, off_x], 2), index, mode=mode)
    active = share(torch.rand(n, generator=generator, device=device) < prob, index, mode=mode)
    sources[:, 0] = torch.where(active, sources[:, 0], index)
    whole = torch.stack([torch.full_like(index, height), torch.full_like(index, width)], dim=1)
    corner = torch.where(active[:, None], corner, whole)
    return sources, corner, offsets * active[:, None, None]
