"""Mixers in a DataLoader collate_fn: each worker draws its own stream, a fixed seed replays the whole epoch,
and a mixer called in the main process draws exactly what its plain generator gives.

Every batch of the loaders here holds the same images and labels (one batch repeated, no shuffling), so two
batches differ only through the mixers' draws. With num_workers=2 batch k comes from worker k % 2.
"""

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset, default_collate

import augment._streams
from augment import RICAP, CutMix, Cutout, FMix, MixChoice, Mixup
from augment import functional as AF
from augment.dense import CutMixSegmentation

B, H, W, BATCHES = 8, 8, 8, 4


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build_mixers() -> dict:
    """One of each mixer, some with their own seed and some with generator=None (seeded from torch's RNG)."""
    return {
        "mixup-batch": Mixup(B, mode="batch", generator=gen(1)),
        "mixup-elem": Mixup(B, mode="elem"),
        "cutmix-batch": CutMix(B, mode="batch"),
        "cutmix-elem": CutMix(B, mode="elem", generator=gen(2)),
        "fmix-elem": FMix(B, mode="elem", generator=gen(3)),
        "ricap": RICAP(B, generator=gen(4)),
        "cutout": Cutout(B, size=4, generator=gen(5)),
        "choice": MixChoice(  # both candidates random, so two calls never agree by the choice alone
            [CutMix(B, mode="elem", generator=gen(6)), Mixup(B, mode="elem", generator=gen(6))],
            [0.5, 0.5],
            generator=gen(7),
        ),
        "segmentation": CutMixSegmentation(mode="elem", generator=gen(8)),
        "choice-shared": shared_generator_choice(gen(9)),
    }


def shared_generator_choice(g: torch.Generator) -> MixChoice:
    """One generator for the choice and both mixers, as recipes.mixers.build_mixer does: folded once per worker."""
    return MixChoice(
        [CutMix(B, mode="batch", generator=g), Mixup(B, mode="pair", generator=g)], [0.5, 0.5], generator=g
    )


class Collate:
    """default_collate, then every mixer on the batch; also reports which worker seed it ran under."""

    def __init__(self, mixers: dict) -> None:
        self.mixers = mixers

    def __call__(self, samples):
        images, labels = default_collate(samples)
        out = {}
        for name, mixer in self.mixers.items():
            if isinstance(mixer, CutMixSegmentation):
                out[name] = mixer(images, labels[:, None, None].expand(B, H, W))
            else:
                out[name] = mixer(images, labels)
        info = torch.utils.data.get_worker_info()
        return out, None if info is None else info.seed


def repeated_batches() -> TensorDataset:
    images = torch.rand(B, 3, H, W, generator=gen(0))
    return TensorDataset(images.repeat(BATCHES, 1, 1, 1), torch.arange(B).repeat(BATCHES))


def loader(mixers: dict, **kwargs) -> DataLoader:
    return DataLoader(repeated_batches(), batch_size=B, collate_fn=Collate(mixers), num_workers=2, **kwargs)


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_two_workers_draw_differently():
    batches = [out for out, _ in loader(build_mixers())]
    for name in batches[0]:
        for k in (0, 2):  # batch k from worker 0, batch k + 1 from worker 1, the same inputs
            assert not same(batches[k][name], batches[k + 1][name]), (name, k)


def test_a_fixed_seed_replays_the_whole_epoch():
    epochs = []
    for _ in range(2):
        torch.manual_seed(11)  # seeds the generator=None mixers
        epochs.append([out for out, _ in loader(build_mixers(), generator=gen(12))])
    for first, second in zip(*epochs, strict=True):
        for name in first:
            assert same(first[name], second[name]), name


@pytest.mark.parametrize("persistent", [False, True])
def test_a_mixer_reused_across_epochs_draws_anew(persistent):
    mixers = build_mixers()
    data = loader(mixers, persistent_workers=persistent, generator=gen(13))
    first, second = ([out for out, _ in data] for _ in range(2))
    for name in first[0]:
        for k in range(BATCHES):  # fresh workers get new seeds; persistent ones continue their stream
            assert not same(first[k][name], second[k][name]), (name, k)


def test_a_worker_stream_is_the_mixer_state_folded_with_the_worker_seed(monkeypatch):
    """What worker w draws equals a main-process copy of the mixers, folded with w's seed, called as often."""
    torch.manual_seed(14)
    batches = list(loader(build_mixers(), generator=gen(15)))
    for worker in (0, 1):
        seed = batches[worker][1]
        torch.manual_seed(14)
        replay = Collate(build_mixers())
        monkeypatch.setattr(augment._streams, "get_worker_info", lambda s=seed: SimpleNamespace(seed=s))
        for out, _ in batches[worker::2]:
            again, _ = replay(list(repeated_batches())[:B])
            for name in out:
                assert same(out[name], again[name]), (name, worker)


def test_the_main_process_draws_exactly_from_the_plain_generator():
    """Called outside a worker (directly or with num_workers=0) a mixer draws what its generator gives,
    bitwise, and leaves the generator exactly where those draws leave a fresh one: nothing is folded in."""
    images, labels = torch.rand(B, 3, H, W, generator=gen(0)), torch.arange(B)
    mixup, cutmix = Mixup(B, mode="elem", generator=gen(21)), CutMix(B, mode="elem", generator=gen(22))
    via_loader = DataLoader(repeated_batches(), batch_size=B, collate_fn=Collate({"mixup": mixup, "cutmix": cutmix}))
    plain_mixup, plain_cutmix = gen(21), gen(22)
    for out, seed in via_loader:
        assert seed is None
        partners, lam = AF.sample_mixup(B, alpha=1.0, prob=1.0, mode="elem", generator=plain_mixup)
        assert same(out["mixup"], (AF.blend(images, partners, lam), AF.pair_targets(labels, partners, lam, B)))
        partners, boxes = AF.sample_cutmix(B, H, W, alpha=1.0, prob=1.0, mode="elem", generator=plain_cutmix)
        mixed = AF.paste(images, partners, AF.box_masks(boxes, H, W))
        lam = 1.0 - AF.box_area_fraction(boxes, H, W)
        assert same(out["cutmix"], (mixed, AF.pair_targets(labels, partners, lam, B)))
    assert torch.equal(mixup.generator.get_state(), plain_mixup.get_state())
    assert torch.equal(cutmix.generator.get_state(), plain_cutmix.get_state())
