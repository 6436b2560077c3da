"""CUDA: same draws give the same result as on CPU; sampling and pasting never synchronise with the host."""

import pytest
import torch

from augment import METHODS
from augment import functional as F

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_paste_blend_and_stitch_match_cpu():
    images = torch.rand(16, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    partners, boxes = F.sample_cutmix(16, 20, 28, alpha=1.0, prob=1.0, mode="elem", generator=g)
    _, lam = F.sample_mixup(16, alpha=1.0, prob=1.0, mode="elem", generator=g)
    ricap = F.sample_ricap(16, 20, 28, alpha=0.3, prob=1.0, mode="elem", generator=g)
    cuda = [t.cuda() for t in (images, partners, boxes, lam)]
    assert torch.equal(
        F.paste(images, partners, F.box_masks(boxes, 20, 28)),
        F.paste(cuda[0], cuda[1], F.box_masks(cuda[2], 20, 28)).cpu(),
    )
    assert torch.allclose(F.blend(images, partners, lam), F.blend(cuda[0], cuda[1], cuda[3]).cpu(), atol=1e-6)
    assert torch.equal(F.ricap_stitch(images, *ricap), F.ricap_stitch(cuda[0], *[t.cuda() for t in ricap]).cpu())


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("generator_device", ["cpu", "cuda"])
def test_mixers_run_on_cuda_with_either_generator(name, generator_device):
    g = torch.Generator(device=generator_device).manual_seed(0)
    images, labels = torch.rand(9, 3, 16, 12, device="cuda"), torch.randint(0, 5, (9,), device="cuda")
    out, targets = METHODS[name](num_classes=5, generator=g)(images, labels)
    assert out.device.type == "cuda" and targets.device.type == "cuda"
    assert torch.allclose(targets.sum(1), torch.ones(9, device="cuda"))
    g.manual_seed(0)
    again, _ = METHODS[name](num_classes=5, generator=g)(images, labels)
    assert torch.equal(out, again)


def test_sampling_and_pasting_do_not_synchronise():
    g = torch.Generator(device="cuda").manual_seed(0)
    images = torch.rand(64, 3, 32, 32, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        partners, boxes = F.sample_cutmix(64, 32, 32, alpha=1.0, prob=0.5, mode="elem", generator=g)
        F.paste(images, partners, F.box_masks(boxes, 32, 32, dtype=images.dtype))
        partners, boxes = F.sample_cutmix_units(
            64, 32, 32, alpha=1.0, prob=0.5, mode="batch", generator=g
        )  # one mask, broadcast
        F.paste(images, partners, F.box_masks(boxes, 32, 32, dtype=images.dtype))
        labels = torch.zeros(64, dtype=torch.long, device="cuda")
        F.pair_targets(labels, partners, 1.0 - F.box_area_fraction(boxes, 32, 32), 5)
        partners, lam = F.sample_mixup(64, alpha=0.4, prob=1.0, mode="pair", generator=g)
        F.blend(images, partners, lam)
        partners, masks = F.sample_fmix(64, 32, 32, alpha=1.0, prob=1.0, mode="elem", generator=g)
        F.paste(images, partners, masks)
        F.ricap_stitch(images, *F.sample_ricap(64, 32, 32, alpha=0.3, prob=1.0, mode="elem", generator=g))
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("name", ["cutmix", "mixup"])
def test_batch_mode_with_a_cpu_generator_gives_the_same_on_cuda_and_cpu(name):
    """The same CPU draws mix CPU and CUDA images alike (Mixup: up to the blend's float rounding)."""
    images, labels = torch.rand(9, 3, 16, 12), torch.randint(0, 5, (9,))

    def mixer():
        return METHODS[name](num_classes=5, mode="batch", generator=torch.Generator().manual_seed(3))

    out, targets = mixer()(images, labels)
    ref, ref_targets = mixer()(images.cuda(), labels.cuda())
    assert torch.allclose(out, ref.cpu(), atol=1e-6) and torch.allclose(targets, ref_targets.cpu(), atol=1e-6)
    if name == "cutmix":
        assert torch.equal(out, ref.cpu()) and torch.equal(targets, ref_targets.cpu())


@pytest.mark.parametrize("mode", ["batch", "elem"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_whole_mixer_call_on_cuda_never_synchronises(name, mode):
    """Label checks included (an asynchronous assertion on CUDA): the CPU can queue the next training step
    while the GPU still works on this one."""
    g = torch.Generator(device="cuda").manual_seed(0)
    kwargs = {} if name in ("none", "cutout") else {"mode": mode}
    mixer = METHODS[name](num_classes=10, generator=g, **kwargs)
    images, labels = torch.rand(64, 3, 32, 32, device="cuda"), torch.randint(0, 10, (64,), device="cuda")
    mixer(images, labels)  # first call: allocations, cached index tensors
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        mixer(images, labels)
    finally:
        torch.cuda.set_sync_debug_mode("default")
