"""recipes.calibration: temperature scaling recovers known temperatures and never worsens the fitted NLL."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar

from recipes.calibration import T_MAX, T_MIN, fit_temperature, heldout_split


def _nll(logits, labels, t):
    return F.cross_entropy(logits.double() / t, labels).item()


def _sampled_case(n, c, scale, seed):
    """Logits whose labels are drawn from softmax(logits / scale): perfectly calibrated at T = scale."""
    g = torch.Generator().manual_seed(seed)
    true_logits = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    labels = torch.multinomial(true_logits.softmax(dim=1), 1, generator=g).squeeze(1)
    return true_logits * scale, labels


@pytest.mark.parametrize("k", [0.3, 1.0, 2.5, 6.0])
def test_recovers_the_temperature_of_scaled_calibrated_logits(k):
    logits, labels = _sampled_case(20_000, 10, k, seed=int(k * 10))
    assert fit_temperature(logits, labels) == pytest.approx(k, rel=0.05)


def test_never_increases_nll_over_t_equal_one():
    g = torch.Generator().manual_seed(0)
    for n, c in ((1, 2), (5, 3), (500, 10), (300, 100)):
        for scale in (0.05, 0.5, 1.0, 3.0, 30.0):
            logits = torch.randn(n, c, generator=g) * scale
            for agree in (0.0, 0.5, 0.9, 1.0):  # labels from the arg-max with probability `agree`
                noise = torch.randint(0, c, (n,), generator=g)
                labels = torch.where(torch.rand(n, generator=g) < agree, logits.argmax(dim=1), noise)
                t = fit_temperature(logits, labels)
                assert T_MIN <= t <= T_MAX
                assert _nll(logits, labels, t) <= _nll(logits, labels, 1.0) + 1e-12, (n, c, scale, agree, t)


def test_matches_an_independent_bounded_minimiser():
    for scale, seed in ((0.5, 0), (3.0, 1)):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(2000, 10, generator=g, dtype=torch.float64) * scale
        labels = torch.where(
            torch.rand(2000, generator=g) < 0.6, logits.argmax(dim=1), torch.randint(0, 10, (2000,), generator=g)
        )
        ref = minimize_scalar(
            lambda log_t: _nll(logits, labels, math.exp(log_t)),  # noqa: B023
            bounds=(math.log(T_MIN), math.log(T_MAX)),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert fit_temperature(logits, labels) == pytest.approx(math.exp(ref.x), rel=1e-5)


def test_clamps_at_the_ends_of_the_range():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1000, 10, generator=g)
    # Always right: the NLL keeps falling as T -> 0. Labels unrelated to the logits: it falls as T -> inf.
    assert fit_temperature(logits, logits.argmax(dim=1)) == pytest.approx(T_MIN)
    assert fit_temperature(logits, torch.arange(1000) % 10) == pytest.approx(T_MAX)
    # Constant logits: the NLL does not depend on T and T = 1 is returned.
    assert fit_temperature(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])) == 1.0


def test_bad_logits_raise():
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        fit_temperature(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_heldout_split_is_fixed_by_the_seed():
    a = heldout_split(1000, 0.1, seed=3)
    assert torch.equal(a, heldout_split(1000, 0.1, seed=3))
    assert not torch.equal(a, heldout_split(1000, 0.1, seed=4))
    assert a.shape == (100,) and a.dtype == torch.int64
    assert torch.equal(a, a.unique()) and 0 <= a.min() and a.max() < 1000  # sorted, distinct, in range
    assert heldout_split(10, 0.25, seed=0).numel() == 3  # round(2.5) -> 3 (half up)


def test_heldout_split_spreads_over_the_whole_range():
    idx = heldout_split(100_000, 0.2, seed=0)
    counts = torch.bincount(idx // 10_000, minlength=10)
    assert ((counts - 2000).abs() < 200).all()  # ~2000 per tenth, sd ~40


@pytest.mark.parametrize(
    ("n", "fraction", "match"),
    [(100, 0.0, "0.0"), (100, 1.0, "1.0"), (100, 0.001, "0.001"), (1, 0.5, "1"), (100, -0.2, "-0.2")],
)
def test_heldout_split_bad_arguments(n, fraction, match):
    with pytest.raises(ValueError, match=match):
        heldout_split(n, fraction, seed=0)
