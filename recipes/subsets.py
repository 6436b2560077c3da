"""The training images `dataset.subset=N` keeps: the first N, N drawn by the seed, or N balanced over the classes.

Chosen from the labels alone, before anything is decoded, so an image folder decodes only what it trains on.
"""

from __future__ import annotations

import torch


def balanced_subset(labels: torch.Tensor, n: int, num_classes: int, seed: int) -> torch.Tensor:
    """Sorted indices of `n` training images with n // num_classes of every class (the first n % num_classes
    classes get one more), drawn without replacement by `seed`: a small-data subset with no class imbalance
    that differs between seeds, so seed-to-seed spread includes the choice of images."""
    counts = torch.bincount(labels, minlength=num_classes)
    wanted = torch.full((num_classes,), n // num_classes)
    wanted[: n % num_classes] += 1
    short = [c for c in range(num_classes) if counts[c] < wanted[c]]
    if short:
        raise ValueError(
            f"dataset.subset={n} with dataset.subset_balanced=true needs {int(wanted[short[0]])} images of class "
            f"{short[0]}, which has {int(counts[short[0]])}"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    rank_in_class = torch.empty_like(order)  # the position of each image among its class, in the random order
    for c in range(num_classes):
        members = order[labels[order] == c]
        rank_in_class[members] = torch.arange(len(members))
    return torch.nonzero(rank_in_class < wanted[labels]).squeeze(1)


def subset_indices(cfg, labels: torch.Tensor, seed: int) -> torch.Tensor | slice:
    """The training images `dataset.subset=N` keeps: with `subset_balanced`, N / num_classes per class drawn by
    the seed (balanced_subset); else the first N, except in an image folder, whose files are listed class by
    class (the first N would be the first classes only), where N are drawn by the seed."""
    n = int(cfg.subset)
    if cfg.subset_balanced:
        return balanced_subset(labels, n, int(cfg.num_classes), seed)
    if cfg.name == "imagefolder":
        return torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return slice(n)
