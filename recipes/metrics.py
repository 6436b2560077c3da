"""Classification and calibration metrics: the one implementation shared by train.py and eval.py.

Every metric is a fraction in [0, 1] (never percent), except the NLL (in nats, >= 0) and the multi-class Brier
score (in [0, 2]). Statistics are computed in float64 on the device of the inputs; the results cross to the
host as Python floats in one transfer (the input checks add a few scalar reads).

Binning convention (it decides ECE/MCE and the reliability diagrams, which share ``reliability_bins``): it is
exactly that of torchmetrics ``MulticlassCalibrationError(n_bins, norm="l1" | "max")``, so numbers can be
compared with work that uses torchmetrics:

* the edges are ``torch.linspace(0, 1, n_bins + 1)`` in float32, and a confidence is assigned by its float32
  value (torchmetrics casts confidences to float32 before binning); the per-bin means use the float64 value;
* bins are left-closed, ``[edges[m], edges[m + 1])``, so a confidence exactly on an inner edge belongs to the
  bin above it, and 0 belongs to the first bin;
* a confidence of exactly 1 (in float32, i.e. any confidence above 1 - 3e-8) falls in an extra bin of its
  own, after the ``n_bins`` regular ones. Saturated predictions are common for over-confident networks, so
  this bin is often well filled: it is kept (and drawn) rather than merged into the last regular bin.
"""

from __future__ import annotations

import torch
from torch import Tensor

from recipes.catalogue import N_BINS

# What classification_metrics returns, in order (each one an entry of recipes.catalogue).
CLASSIFICATION_METRICS = ("top1", "top5", "nll", "brier", "ece", "mce", "ada_ece", "classwise_ece")


def _check_n_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")


def check_scores_labels(scores: Tensor, labels: Tensor, name: str = "logits") -> None:
    """Raise ValueError unless scores is finite (N >= 1, C >= 2) and labels is (N,) integers in [0, C)."""
    if scores.dim() != 2 or scores.shape[0] < 1 or scores.shape[1] < 2:
        raise ValueError(f"{name} must have shape (N >= 1, C >= 2), got {tuple(scores.shape)}")
    if labels.dim() != 1 or labels.shape[0] != scores.shape[0]:
        raise ValueError(f"labels must have shape ({scores.shape[0]},), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= scores.shape[1]:
        raise ValueError(f"labels must lie in [0, {scores.shape[1] - 1}], got values in [{low}, {high}]")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError(f"{name} contain NaN or infinite values")


def _bin_index(confidences: Tensor, n_bins: int) -> Tensor:
    """Bin of each confidence, in [0, n_bins]: float32 edges, left-closed, 1.0 alone in bin n_bins."""
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32, device=confidences.device)
    return torch.bucketize(confidences.float(), edges, right=True) - 1


def _bin_stats(confidences: Tensor, correct: Tensor, index: Tensor, n_slots: int) -> tuple[Tensor, ...]:
    """Per-slot count, mean confidence and accuracy (0 for empty slots), in float64."""
    sums = torch.zeros(3, n_slots, dtype=torch.float64, device=confidences.device)
    values = torch.stack([torch.ones_like(confidences), confidences, correct])
    sums.index_add_(1, index, values)
    count, conf_sum, acc_sum = sums
    safe = count.clamp(min=1)
    return count, conf_sum / safe, acc_sum / safe


def reliability_bins(confidences: Tensor, correct: Tensor, n_bins: int = 15) -> dict[str, Tensor]:
    """Equal-width reliability bins over confidences in [0, 1] (the module docstring gives the convention).

    Args:
        confidences: (N,) top-1 probabilities (or any probabilities paired with a 0/1 outcome), N >= 1.
        correct: (N,) bool or 0/1 numbers: whether the prediction was right.
        n_bins: number of regular equal-width bins.

    Returns:
        ``edges`` (n_bins + 1,): the float32 edges, as float64. ``count`` (n_bins + 1,): samples per bin
        (float64). ``confidence``, ``accuracy`` (n_bins + 1,): per-bin means, 0 where the bin is empty.
        Entry m < n_bins is the bin [edges[m], edges[m + 1]); the last entry holds the confidences equal to 1.
    """
    _check_n_bins(n_bins)
    if confidences.dim() != 1 or confidences.numel() < 1 or correct.shape != confidences.shape:
        raise ValueError(
            f"confidences and correct must be equal 1-D shapes with N >= 1, "
            f"got {tuple(confidences.shape)} and {tuple(correct.shape)}"
        )
    conf = confidences.double()
    if not bool(((conf >= 0) & (conf <= 1)).all()):
        raise ValueError(f"confidences must lie in [0, 1], got [{conf.min():.6g}, {conf.max():.6g}]")
    count, mean_conf, accuracy = _bin_stats(conf, correct.double(), _bin_index(conf, n_bins), n_bins + 1)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32, device=conf.device).double()
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(bins: dict[str, Tensor]) -> Tensor:
    """ECE = sum over bins of |B_m| / n * |acc(B_m) - conf(B_m)| (Guo et al. 2017), from reliability_bins."""
    gaps = (bins["accuracy"] - bins["confidence"]).abs()
    return (bins["count"] * gaps).sum() / bins["count"].sum()


def maximum_calibration_error(bins: dict[str, Tensor]) -> Tensor:
    """MCE = max over non-empty bins of |acc(B_m) - conf(B_m)|, from ``reliability_bins``."""
    gaps = (bins["accuracy"] - bins["confidence"]).abs()
    return torch.where(bins["count"] > 0, gaps, torch.zeros_like(gaps)).max()


def adaptive_ece(confidences: Tensor, correct: Tensor, n_bins: int = 15) -> Tensor:
    """ECE over equal-mass bins (Nguyen & O'Connor 2015; "AdaECE" of Mukhoti et al. 2020).

    The samples, sorted by confidence (stable sort), are cut into ``n_bins`` consecutive groups whose sizes
    differ by at most one (sample i of N goes to group floor(i * n_bins / N)); with N < n_bins some groups are
    empty and are skipped. Equal confidences may be split across two groups, which is what fixing the counts
    means.
    """
    _check_n_bins(n_bins)
    if confidences.dim() != 1 or confidences.numel() < 1 or correct.shape != confidences.shape:
        raise ValueError(
            f"confidences and correct must be equal 1-D shapes with N >= 1, "
            f"got {tuple(confidences.shape)} and {tuple(correct.shape)}"
        )
    order = torch.sort(confidences.double(), stable=True).indices
    n = confidences.numel()
    group = torch.arange(n, device=confidences.device) * n_bins // n
    count, conf, acc = _bin_stats(confidences.double()[order], correct.double()[order], group, n_bins)
    return (count * (acc - conf).abs()).sum() / n


def classwise_ece(probs: Tensor, labels: Tensor, n_bins: int = 15) -> Tensor:
    """Class-wise ECE: the mean over classes k of the ECE of p_k against 1[y = k].

    This is the "static calibration error" (SCE) of Nixon et al. 2019 and the classwise-ECE of Kull et al.
    2019: SCE = 1/K sum_k sum_m |B_mk| / N * |acc(B_mk) - conf(B_mk)|, where B_mk bins p_k over all N samples
    with the same equal-width bins (and the same edge convention) as the top-1 ECE. ``probs``: (N, C).
    """
    _check_n_bins(n_bins)
    check_scores_labels(probs, labels, "probs")
    n, n_classes = probs.shape
    n_slots = n_bins + 1
    slot = _bin_index(probs, n_bins) + torch.arange(n_classes, device=probs.device) * n_slots
    # |B| * |acc(B) - conf(B)| = |hits(B) - sum of p_k over B|, and the outcome 1[y = k] is 1 only at the
    # label, so the hits need only each sample's label slot.
    label_slot = slot.gather(1, labels[:, None]).squeeze(1)
    conf_sum = torch.zeros(n_classes * n_slots, dtype=torch.float64, device=probs.device)
    conf_sum.index_add_(0, slot.flatten(), probs.double().flatten())
    hits = torch.bincount(label_slot, minlength=n_classes * n_slots).double()
    per_class = (hits - conf_sum).abs().view(n_classes, n_slots).sum(dim=1) / n
    return per_class.mean()


def classification_metrics(logits: Tensor, labels: Tensor, n_bins: int = N_BINS) -> dict[str, float]:
    """Accuracy and calibration of (N, C) logits against (N,) integer labels.

    Keys: ``top1``; ``top5`` (top-min(5, C) accuracy); ``nll`` (mean cross-entropy, nats); ``brier`` (the
    multi-class Brier score of Brier 1950: sum over classes of (p_k - 1[y = k])^2, mean over samples, in
    [0, 2]); ``ece`` and ``mce`` (top-1 confidence, ``n_bins`` equal-width bins, see the module docstring);
    ``ada_ece`` (equal-mass bins); ``classwise_ece`` (Kull et al. 2019 / Nixon et al. 2019 SCE).
    The top-1 prediction is the arg-max of the probabilities, for the accuracy and the calibration alike; a
    label is in the top k when fewer than k classes have a strictly larger logit (ties favour the label).
    """
    _check_n_bins(n_bins)
    check_scores_labels(logits, labels, "logits")
    labels = labels.detach().long()
    log_probs = logits.detach().double().log_softmax(dim=1)
    probs = log_probs.exp()
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).double()
    p_label = probs.gather(1, labels[:, None])
    # In the top k when fewer than k classes have a strictly larger logit (logits, not probabilities, so that
    # probabilities underflowing to 0 do not tie).
    logit_label = logits.detach().gather(1, labels[:, None])
    in_top_k = ((logits.detach() > logit_label).sum(dim=1) < min(5, logits.shape[1])).double()
    bins = reliability_bins(confidence, correct, n_bins)
    values = torch.stack(
        [
            correct.mean(),
            in_top_k.mean(),
            -log_probs.gather(1, labels[:, None]).mean(),
            # sum_k (p_k - 1[y = k])^2 = sum_k p_k^2 - 2 p_y + 1
            (probs.square().sum(dim=1) - 2 * p_label.squeeze(1) + 1).mean(),
            expected_calibration_error(bins),
            maximum_calibration_error(bins),
            adaptive_ece(confidence, correct, n_bins),
            classwise_ece(probs, labels, n_bins),
        ]
    )
    return dict(zip(CLASSIFICATION_METRICS, values.tolist(), strict=True))
