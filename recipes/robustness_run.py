"""The robustness every run measures after training (trainer.robustness): summary.json's four claims and
robustness.json's detail.

On a fixed seeded subset of the test set (trainer.robustness_subset images, drawn with SUBSET_SEED, the same for
every run of a dataset, so runs are paired image by image), with fixed seeds for every random draw:
- `occlusion_top1`: mean top-1 over a centred hole of 10-50 % of the area (recipes.robustness.occlude_center,
  the curve of eval.py and CutMix Fig. 5);
- `corruption_top1`: mean top-1 over the 15 corruptions x 5 severities of Hendrycks & Dietterich 2019
  (recipes.corruptions);
- `fgsm_top1`: top-1 under FGSM at eps = 8/255 in pixel space (recipes.robustness.fgsm), fp32, eval mode;
- `ood_auroc`: mean MSP AUROC (Hendrycks & Gimpel 2017) of the subset against as many Gaussian and as many
  uniform noise images (recipes.robustness.noise_images / ood_scores, as eval.py).
Under DDP every rank measures its own share of the subset (every world_size-th test image, as evaluation
shards it) and the per-image results are gathered, so the numbers are those of one process, up to the random
draws, which are seeded per rank.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from recipes import distributed
from recipes.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from recipes.robustness import fgsm, noise_images, occlude_center, ood_scores
from recipes.transforms import Normalisation

ROBUSTNESS_JSON = "robustness.json"
SUBSET_SEED = 22
OCCLUSION_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
FGSM_EPS = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
SUMMARY_EPS = 8 / 255
NOISE_KINDS = ("gaussian", "uniform")
SUMMARY_KEYS = ("occlusion_top1", "corruption_top1", "fgsm_top1", "ood_auroc", "robustness_s")  # catalogued


def subset_indices(n_test: int, subset: int) -> Tensor:
    """The sorted test-set indices measured: `subset` of `n_test` drawn with SUBSET_SEED (all when subset >= n)."""
    if subset >= n_test:
        return torch.arange(n_test)
    return torch.randperm(n_test, generator=torch.Generator().manual_seed(SUBSET_SEED))[:subset].sort().values


def local_batches(data, keep: Tensor, batch_size: int, dist) -> list[tuple[Tensor, Tensor]]:
    """This rank's (images, labels) of the kept test images (the rank's shard is every world_size-th image),
    in batches of `batch_size`: the kept rows of the test batches are put together again, so a 1000-image subset
    of a 10 000-image test set runs 4 forward passes of 256, not 40 of 25."""
    images, labels, start = [], [], 0
    for x, y in data.eval_batches("test", batch_size):
        global_index = dist.rank + dist.world_size * torch.arange(start, start + len(y))
        rows = torch.nonzero(torch.isin(global_index, keep)).squeeze(1)
        start += len(y)
        images.append(x[rows.to(x.device)])
        labels.append(y[rows.to(y.device)])
    images, labels = torch.cat(images), torch.cat(labels)
    return list(zip(images.split(batch_size), labels.split(batch_size), strict=True))


def _correct(predict: Callable[[Tensor], Tensor], batches, transform: Callable[[Tensor], Tensor]) -> Tensor:
    """Per-image top-1 hits (float) of `predict` on transformed batches."""
    return torch.cat([(predict(transform(x)).argmax(1) == y).float() for x, y in batches])


def _corruption_hits(predict, batches, data, device, rank: int) -> dict[tuple[str, int], Tensor]:
    """Per-image hits under each corruption and severity; each pair has its own fixed seed (paired runs)."""
    norm = Normalisation(data.info.mean, data.info.std, device)
    hits = {}
    for i, name in enumerate(CORRUPTIONS):
        for severity in SEVERITIES:
            generator = torch.Generator(device=device).manual_seed(SUBSET_SEED + 1000 * rank + 10 * i + severity)

            def corrupted(x, name=name, severity=severity, generator=generator):
                return norm.pixels(corrupt(data.denormalise(x.float()), name, severity, generator))

            hits[name, severity] = _correct(predict, batches, corrupted)
    return hits


def _fgsm_hits(model, batches, data) -> Tensor:
    """(n, len(FGSM_EPS)) hits under FGSM at each eps, fp32."""
    rows = []
    for x, y in batches:
        adversarial = fgsm(model, x, y, FGSM_EPS, mean=data.info.mean, std=data.info.std)
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            rows.append(torch.stack([(model(a).argmax(1) == y).float() for a in adversarial], dim=1))
    return torch.cat(rows)


def measure_robustness(
    model: torch.nn.Module,
    data,
    *,
    subset: int,
    batch_size: int,
    predict: Callable[[Tensor], Tensor],
    dist,
) -> tuple[dict, dict]:
    """(summary.json's robustness keys, robustness.json's detail) of `model` on the fixed test subset.

    predict: logits of one normalised batch, as the run evaluates (its precision); FGSM runs in fp32 regardless.
    Every rank must call this (the per-image results are gathered).
    """
    start = time.perf_counter()
    device = next(model.parameters()).device
    keep = subset_indices(data.num_test, subset)
    batches = local_batches(data, keep, batch_size, dist)
    model.eval()
    with torch.no_grad():
        clean_logits = torch.cat([predict(x) for x, _ in batches])
        clean = (clean_logits.argmax(1) == torch.cat([y for _, y in batches])).float()
        occluded = [_correct(predict, batches, lambda x, f=f: occlude_center(x, f)[0]) for f in OCCLUSION_FRACTIONS]
        corrupted = _corruption_hits(predict, batches, data, device, dist.rank)
        shape = (data.info.in_chans, data.info.img_size, data.info.img_size)
        noise_logits = {}
        for j, kind in enumerate(NOISE_KINDS):
            generator = torch.Generator(device=device).manual_seed(SUBSET_SEED + 1000 * dist.rank + j)
            noise = [noise_images(len(y), shape, kind, generator, data.info.mean, data.info.std) for _, y in batches]
            noise_logits[kind] = torch.cat([predict(x) for x in noise])
    adversarial = _fgsm_hits(model, batches, data)

    hits = torch.stack([clean, *occluded, *corrupted.values()], dim=1)
    hits = torch.cat([hits, adversarial], dim=1)
    top1 = distributed.gather_cat(hits, dist).mean(0).tolist()
    in_logits = distributed.gather_cat(clean_logits, dist)
    ood = {kind: ood_scores(in_logits, distributed.gather_cat(logits, dist)) for kind, logits in noise_logits.items()}

    n_occ, n_corr = len(OCCLUSION_FRACTIONS), len(corrupted)
    occlusion = top1[1 : 1 + n_occ]
    corruption = dict(zip(corrupted, top1[1 + n_occ : 1 + n_occ + n_corr], strict=True))
    fgsm_top1 = dict(zip(FGSM_EPS, top1[1 + n_occ + n_corr :], strict=True))
    summary = {
        "occlusion_top1": sum(occlusion) / n_occ,
        "corruption_top1": sum(corruption.values()) / n_corr,
        "fgsm_top1": fgsm_top1[SUMMARY_EPS],
        "ood_auroc": sum(s["auroc"] for s in ood.values()) / len(ood),
        "robustness_s": time.perf_counter() - start,
    }
    detail = {
        **summary,
        "images": len(in_logits),
        "subset_seed": SUBSET_SEED,
        "clean_top1": top1[0],
        "occlusion_center": [[f, t] for f, t in zip(OCCLUSION_FRACTIONS, occlusion, strict=True)],
        "corruptions": {name: {str(s): corruption[name, s] for s in SEVERITIES} for name in CORRUPTIONS},
        "fgsm": {f"{round(e * 255)}/255": t for e, t in fgsm_top1.items()},
        "ood": ood,
    }
    return summary, detail
