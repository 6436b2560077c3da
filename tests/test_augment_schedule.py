"""augment.off_epoch (augment.MixUntil): mixing stops after an epoch, in the library's collate path with persistent
DataLoader workers, through mixed_forward for every kind of mixer, and in the training loop, resumed runs included."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

from augment import CutMix, ManifoldMixup, MixChoice, MixUntil, Mixup, mixed_forward
from augment import functional as AF
from recipes import engine
from recipes import run as run_module
from recipes.run import run_training

B, H = 8, 8


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_hot(targets: torch.Tensor, labels: torch.Tensor) -> bool:
    return torch.equal(targets, AF.one_hot_targets(labels, B))


class Collate:
    def __init__(self, mixer) -> None:
        self.mixer = mixer

    def __call__(self, samples):
        images, labels = default_collate(samples)
        mixed, targets = self.mixer(images, labels)
        return images, mixed, labels, targets


@pytest.mark.parametrize("off_epoch", [0, 1, 2])
def test_persistent_workers_stop_mixing_after_the_off_epoch(off_epoch):
    data = TensorDataset(torch.rand(4 * B, 3, H, H, generator=gen(0)), torch.arange(B).repeat(4))
    choice = MixChoice([Mixup(B, mode="elem", generator=gen(1)), CutMix(B, generator=gen(1))], [0.5, 0.5])
    mixer = MixUntil(choice, off_epoch=off_epoch)
    loader = DataLoader(data, batch_size=B, collate_fn=Collate(mixer), num_workers=2, persistent_workers=True)
    for epoch in (1, 2, 3):
        mixer.set_epoch(epoch)  # in the main process, before the epoch's batches are asked for
        for images, mixed, labels, targets in loader:
            if epoch <= off_epoch:
                assert not one_hot(targets, labels) and not torch.equal(mixed, images), epoch
            else:
                assert one_hot(targets, labels) and torch.equal(mixed, images), epoch


def test_model_mixers_stop_too():
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, B))
    net.feature_info = [{"module": "0"}]
    images, labels = torch.randn(B, 3, H, H), torch.arange(B)
    mixer = MixUntil(ManifoldMixup(B, generator=gen(2)), off_epoch=1)
    assert mixer.needs_model
    assert not one_hot(mixed_forward(mixer, net, images, labels)[1], labels)
    mixer.set_epoch(2)
    logits, targets = mixed_forward(mixer, net, images, labels)
    assert one_hot(targets, labels) and torch.equal(logits, net(images))


def test_off_epoch_must_be_a_count():
    with pytest.raises(ValueError, match="off_epoch must be an integer >= 0"):
        MixUntil(Mixup(B), off_epoch=-1)


def spy_on_targets(monkeypatch) -> list:
    """(epoch, one-hot?) for every training step of recipes.engine."""
    seen, real = [], engine.mixed_forward

    def spy(mixer, model, images, labels):
        logits, targets = real(mixer, model, images, labels)
        seen.append((mixer.epoch, bool((targets.amax(dim=1) == 1).all())))
        return logits, targets

    monkeypatch.setattr(engine, "mixed_forward", spy)
    return seen


@pytest.mark.parametrize("augment", ["mixup_cutmix", "manifold_mixup"])
def test_the_loop_mixes_until_the_off_epoch_and_a_resumed_run_stays_unmixed(augment, fast_cfg, tmp_path, monkeypatch):
    seen = spy_on_targets(monkeypatch)
    args = [f"augment={augment}", "augment.off_epoch=1", "trainer.precision=fp32"]
    run_training(fast_cfg(*args, "trainer.epochs=2"), tmp_path / "straight")
    assert {epoch for epoch, _ in seen} == {1, 2}
    assert not any(hot for epoch, hot in seen if epoch == 1) and all(hot for epoch, hot in seen if epoch == 2)
    # interrupted after epoch 1's checkpoint, then resumed: the epoch comes from the checkpoint
    real_save, saves = run_module.ckpt.atomic_save, []

    def save_then_die(obj, path):
        real_save(obj, path)
        saves.append(path)
        if len(saves) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module.ckpt, "atomic_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_training(fast_cfg(*args, "trainer.epochs=2"), tmp_path / "resumed")
    monkeypatch.setattr(run_module.ckpt, "atomic_save", real_save)
    seen.clear()
    run_training(fast_cfg(*args, "trainer.epochs=2", "resume=true"), tmp_path / "resumed")
    assert seen and all(epoch == 2 and hot for epoch, hot in seen)
