"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") and its held-out split.

One scalar T > 0 divides every logit; T > 1 softens over-confident predictions, T < 1 sharpens under-confident
ones, and the arg-max (so the accuracy) never changes. T is fitted by minimising the NLL on logits the model
did not train on. Fit it on a held-out split of the TRAINING set (``heldout_split``), never on the test set,
and leave those images out of training: logits of images the model trained on are as over-confident as
training logits, and fitting on the test set would tune the reported metric.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from recipes.metrics import check_scores_labels

T_MIN, T_MAX = 0.05, 20.0
_BISECTION_STEPS = 40  # brackets log T to within 6 / 2**40 ~ 5e-12: far below any difference that matters


def _nll_slope(logits: Tensor, labels: Tensor, beta: float) -> float:
    """d/d(beta) of the mean NLL of beta * logits: mean over samples of E_softmax(beta z)[z] - z_y."""
    probs = (logits * beta).softmax(dim=1)
    expected = (probs * logits).sum(dim=1)
    return (expected - logits.gather(1, labels[:, None]).squeeze(1)).mean().item()


def fit_temperature(logits: Tensor, labels: Tensor) -> float:
    """The temperature T in [0.05, 20] that minimises the mean NLL of ``logits / T`` against ``labels``.

    With beta = 1 / T, the NLL mean(logsumexp(beta z) - beta z_y) is convex in beta, so its slope (the mean
    of E_p[z] - z_y, with p = softmax(beta z)) is non-decreasing and the minimiser is found by bisection on
    the sign of the slope, over log beta in [log(1/20), log(20)]. Bisection is deterministic and needs no
    step size; when the minimum lies outside the range the nearest end (T = 0.05 or 20) is returned, and
    when the NLL does not depend on T (all logits of a row equal) T = 1. Computed in float64.

    Args:
        logits: (N, C) held-out logits (see the module docstring for where they must come from).
        labels: (N,) integer labels.

    Returns:
        T as a Python float; calibrated logits are ``logits / T``.
    """
    check_scores_labels(logits, labels, "logits")
    logits, labels = logits.detach().double(), labels.detach().long()
    low, high = math.log(1 / T_MAX), math.log(1 / T_MIN)  # bracket on log beta
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (low + high)
        slope = _nll_slope(logits, labels, math.exp(mid))
        if slope == 0:
            low = high = mid
            break
        low, high = (low, mid) if slope > 0 else (mid, high)
    return min(max(math.exp(-0.5 * (low + high)), T_MIN), T_MAX)


def heldout_split(n_train: int, fraction: float, seed: int) -> Tensor:
    """Sorted indices of round(fraction * n_train) training samples to hold out, drawn without replacement.

    The draw depends only on (n_train, fraction, seed) (a seeded ``torch.Generator`` on the CPU), so the
    caller can save the returned indices with the run and get the same split back.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 2:
        raise ValueError(f"n_train must be an integer >= 2, got {n_train!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    n_held = math.floor(fraction * n_train + 0.5)
    if not 1 <= n_held <= n_train - 1:
        raise ValueError(
            f"fraction {fraction!r} of n_train {n_train} holds out {n_held} samples; need between 1 and {n_train - 1}"
        )
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_train, generator=generator)[:n_held].sort().values
