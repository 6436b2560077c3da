"""The CPU fast path of batch-mode CutMix and Mixup (augment._host, functional.paste_box).

It must draw the same numbers as the tensor path and give the same pixels and targets (CutMix exactly on
these seeds; Mixup up to float32 rounding of λ): the general path is forced by patching `_host.on_host`,
and both are compared on the same seeds.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from augment import CutMix, Mixup, _host
from augment import functional as F


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def both_paths(mixer_factory, images, labels, monkeypatch):
    """(host result, general result) of two mixers built alike, the second forced onto the tensor path."""
    host = mixer_factory()(images, labels)
    with monkeypatch.context() as patch:
        patch.setattr(_host, "on_host", lambda generator, images: False)
        general = mixer_factory()(images, labels)
    return host, general


# ---------------------------------------------------------------- same draws, same result


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("prob", [1.0, 0.5])
@pytest.mark.parametrize(("b", "h", "w"), [(8, 9, 13), (7, 16, 5), (1, 4, 4)])
def test_cutmix_host_path_equals_the_tensor_path(alpha, prob, b, h, w, monkeypatch):
    images, labels = torch.randn(b, 3, h, w, generator=gen(0)), torch.randint(0, 5, (b,), generator=gen(1))
    for seed in range(40):
        (out, targets), (ref, ref_targets) = both_paths(
            lambda s=seed: CutMix(5, alpha=alpha, prob=prob, generator=gen(s)), images, labels, monkeypatch
        )
        assert torch.equal(out, ref) and torch.equal(targets, ref_targets), seed


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float64])
def test_cutmix_host_path_equals_the_tensor_path_for_every_dtype_and_layout(dtype, monkeypatch):
    images = (torch.rand(6, 3, 10, 12, generator=gen(2)) * 255).to(dtype)
    for layout in (torch.contiguous_format, torch.channels_last):
        x = images.to(memory_format=layout)
        (out, targets), (ref, ref_targets) = both_paths(
            lambda: CutMix(6, min_ratio=0.3, max_ratio=0.8, generator=gen(3)), x, torch.arange(6), monkeypatch
        )
        assert out.dtype == dtype and torch.equal(out, ref) and torch.equal(targets, ref_targets)
        assert not torch.equal(out, x)  # something was pasted


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_mixup_host_path_equals_the_tensor_path(alpha, dtype, monkeypatch):
    """Same partners and mixed/unmixed decision; λ equal up to float32 rounding of log/expm1/cos (exactly
    equal for alpha ≤ 1/2, where both run sample_lambda)."""
    images, labels = (torch.rand(9, 2, 5, 6, generator=gen(4)) * 255).to(dtype), torch.arange(9)
    for seed in range(40):
        (out, targets), (ref, ref_targets) = both_paths(
            lambda s=seed: Mixup(9, alpha=alpha, prob=0.7, generator=gen(s)), images, labels, monkeypatch
        )
        assert torch.equal(targets > 0, ref_targets > 0)
        if alpha <= 0.5:
            assert torch.equal(out, ref) and torch.equal(targets, ref_targets)
        else:
            assert torch.allclose(targets, ref_targets, rtol=0, atol=1e-6)
            tolerance = 1.0 if dtype == torch.uint8 else 1e-4  # uint8 may round the other way at .5
            assert torch.allclose(out.double(), ref.double(), rtol=0, atol=tolerance)


# ---------------------------------------------------------------- the draws themselves


@pytest.mark.parametrize(("h", "w"), [(32, 32), (13, 7), (224, 160)])
def test_host_box_arithmetic_equals_sample_boxes(h, w):
    for i, lam in enumerate(torch.rand(2000, generator=gen(5)).tolist() + [0.0, 1.0]):
        u_x, u_y = torch.rand(2, generator=gen(i)).tolist()  # the centre draws place_boxes makes
        expected = F.sample_boxes(torch.tensor([lam]), h, w, generator=gen(i))[0]
        assert _host.box_from(lam, u_x, u_y, h, w) == tuple(expected.tolist()), (lam, expected)


def test_host_box_differs_at_most_one_pixel_at_rounding_ties():
    """λ a few float32 steps from where √(1 − λ)·W is a half-integer: float32 and double may round a side
    differently there, by one pixel at most."""
    side = 32
    exact = torch.tensor([1.0 - ((k + 0.5) / side) ** 2 for k in range(side)], dtype=torch.float32)
    near = (exact.view(torch.int32)[:, None] + torch.arange(-3, 4, dtype=torch.int32)).view(torch.float32)
    for i, lam in enumerate(near.flatten().tolist()):
        u_x, u_y = torch.rand(2, generator=gen(i)).tolist()
        expected = F.sample_boxes(torch.tensor([lam]), side, side, generator=gen(i))[0].tolist()
        box = _host.box_from(lam, u_x, u_y, side, side)
        assert max(abs(a - b) for a, b in zip(box, expected, strict=True)) <= 1


@pytest.mark.parametrize("alpha", [0.55, 1.0, 3.0])
def test_host_lambda_uses_the_same_draws_as_sample_lambda(alpha):
    for seed in range(200):
        g_host, g_tensor = gen(seed), gen(seed)
        lam, ref = _host.draw_lambda(alpha, g_host), F.sample_lambda(1, alpha=alpha, generator=g_tensor).item()
        assert abs(lam - ref) < 1e-6, (seed, lam, ref)  # float32 rounding of the same draws
        assert torch.equal(torch.rand(3, generator=g_host), torch.rand(3, generator=g_tensor))  # same state


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_host_lambda_matches_beta_by_ks(alpha):
    g = gen(6)
    lam = [_host.draw_lambda(alpha, g) for _ in range(5000)]
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_host_lambda_survives_a_zero_uniform(monkeypatch):
    """torch.rand may return exactly 0: the host must give λ ∈ [0, 1] like the tensor formula, not fail."""
    monkeypatch.setattr(torch, "rand", lambda *args, **kwargs: torch.tensor([0.0, 0.25]))
    assert _host.draw_lambda(1.0, gen(0)) == pytest.approx(0.5)  # radius 1, cos(π/2) = 0


def test_float32_rounds_half_to_even():
    assert _host.float32(1.0 + 2.0**-24) == 1.0  # a tie: to the even neighbour
    assert _host.float32(1.0 + 3 * 2.0**-24) == 1.0 + 2.0**-22
    assert _host.float32(0.1) == torch.tensor(0.1, dtype=torch.float32).item()


def test_host_path_needs_cpu_generator_and_cpu_images():
    assert _host.on_host(gen(0), torch.zeros(1, 1, 1, 1))
    assert not _host.on_host(gen(0), torch.zeros(1, 1, 1, 1, device="meta"))


# ---------------------------------------------------------------- paste_box


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(1, 9)),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.uint8]),
    data=st.data(),
)
def test_paste_box_equals_the_mask_paste(shape, dtype, data):
    b, h, w = shape
    x1, x2 = sorted(data.draw(st.lists(st.integers(0, w), min_size=2, max_size=2)))
    y1, y2 = sorted(data.draw(st.lists(st.integers(0, h), min_size=2, max_size=2)))
    images = (torch.rand(b, 2, h, w, generator=gen(b)) * 255).to(dtype)
    before = images.clone()
    partners = F.pair_partners(b, generator=gen(h))
    out = F.paste_box(images, partners, (x1, y1, x2, y2))
    mask = F.box_masks(torch.tensor([[x1, y1, x2, y2]]), h, w)
    assert torch.equal(out, F.paste(images, partners, mask))
    assert torch.equal(out, torch.where(mask, images[partners], images))
    assert torch.equal(images, before)
