"""The mixers that need the model: Manifold Mixup (λ law, the layer draw, the hidden state it writes) and
TransMix (label weights = the class token's attention to the pasted patches), through augment.mixed_forward."""

import pytest
import torch
from scipy import stats
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from augment import Cutout, ManifoldMixup, MixChoice, Mixup, TransMix, check_model, mixed_forward
from augment import functional as AF
from models import build_model
from models.common import stage_info

B, NUM_CLASSES = 4, 4  # labels = arange(B): sample i's own class is i, so a target row shows its partner


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TinyNet(nn.Module):
    """stem -> blocks.0 -> blocks.1 -> head, reporting its stages like the CIFAR nets of models/."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.blocks = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, NUM_CLASSES))
        self.feature_info = stage_info(2, stages=2)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def record_layers(net: TinyNet, images: torch.Tensor):
    """Per forward pass: what each eligible layer produced (raw; the images given to mixed_forward for the input)
    and what its consumer received (fed)."""
    raw, fed = {"input": images}, {}
    producers = {"input": None, "stem": net.stem, "blocks.0": net.blocks[0], "blocks.1": net.blocks[1]}
    consumers = {"input": net.stem, "stem": net.blocks[0], "blocks.0": net.blocks[1], "blocks.1": net.head}
    for name, module in producers.items():
        if module is not None:  # registered first, so it runs before the mixer's hook: the unmixed output
            module.register_forward_hook(lambda m, a, out, n=name: raw.__setitem__(n, out.clone()))
        consumers[name].register_forward_pre_hook(lambda m, a, n=name: fed.__setitem__(n, a[0].clone()))
    return raw, fed


def partners_and_lam(targets: torch.Tensor):
    """Each sample's own weight and partner, read off targets whose own class is the sample index."""
    lam = targets.diagonal()
    others = targets - torch.diag_embed(lam)
    return others.argmax(dim=1), lam


def test_manifold_mixup_mixes_one_layer_drawn_uniformly_with_beta_lambda():
    net, images, labels = TinyNet(), torch.randn(B, 1, 6, 6), torch.arange(B)
    raw, fed = record_layers(net, images)
    mixer = ManifoldMixup(NUM_CLASSES, alpha=2.0, mode="batch", generator=gen(0))
    counts, lams = dict.fromkeys(["input", "stem", "blocks.0", "blocks.1"], 0), []
    for _ in range(400):
        _, targets = mixed_forward(mixer, net, images, labels)
        assert torch.allclose(targets.sum(dim=1), torch.ones(B))
        partners, lam = partners_and_lam(targets)
        changed = [name for name in counts if not torch.equal(raw[name], fed[name])]
        assert len(changed) == 1, changed  # exactly one layer mixed, the others pass through untouched
        h, weight = raw[changed[0]], lam.reshape(-1, *[1] * (raw[changed[0]].dim() - 1))
        assert torch.allclose(fed[changed[0]], weight * h + (1 - weight) * h[partners], atol=1e-6)
        counts[changed[0]] += 1
        lams.append(float(lam[0]))
    assert min(counts.values()) > 0  # the input and every stage are drawn
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3  # ... uniformly
    assert stats.kstest(lams, stats.beta(2.0, 2.0).cdf).pvalue > 1e-3


def test_manifold_mixup_elem_mode_draws_lambda_per_sample_and_prob_zero_is_clean():
    net, images, labels = TinyNet(), torch.randn(B, 1, 6, 6), torch.arange(B)
    lams = torch.cat(
        [
            partners_and_lam(mixed_forward(ManifoldMixup(B, mode="elem", generator=gen(s)), net, images, labels)[1])[1]
            for s in range(200)
        ]
    )
    assert stats.kstest(lams.numpy(), stats.beta(2.0, 2.0).cdf).pvalue > 1e-3
    clean = ManifoldMixup(B, prob=0.0, generator=gen(1))
    logits, targets = mixed_forward(clean, net, images, labels)
    assert torch.equal(targets, torch.eye(B)) and torch.equal(logits, net(images))


@pytest.mark.parametrize(
    "name, kwargs, stages",
    [
        ("preact_resnet18", {"width": 4}, ["stem", "blocks.1", "blocks.3", "blocks.5", "blocks.7"]),
        ("wrn", {"depth": 10, "widen": 1}, ["stem", "blocks.0", "blocks.1", "blocks.2"]),
        ("pyramidnet", {"depth": 14, "alpha": 4, "bottleneck": False}, ["stem", "blocks.1", "blocks.3", "blocks.5"]),
        ("resnet18", {}, ["act1", "layer1", "layer2", "layer3", "layer4"]),  # what timm's feature_info reports
    ],
)
def test_manifold_mixup_finds_the_stages_of_cifar_and_timm_nets(name, kwargs, stages):
    net = build_model(name, 10, 1, 16, **kwargs)
    mixer = ManifoldMixup(10, generator=gen(0))
    modules = dict(net.named_modules())
    assert mixer.layers(net) == [None, *(modules[name] for name in stages)]
    logits, targets = mixed_forward(mixer, net, torch.randn(4, 1, 16, 16), torch.arange(4))
    assert logits.shape == (4, 10) and torch.allclose(targets.sum(dim=1), torch.ones(4))


def test_a_model_without_stages_or_attention_is_refused_by_name():
    with pytest.raises(ValueError, match="Sequential reports no stages"):
        check_model(ManifoldMixup(2), nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="TransMix needs a vision transformer.*ResNet"):
        check_model(TransMix(10), build_model("resnet18", 10, 1, 16))
    with pytest.raises(TypeError, match="mixed_forward"):
        TransMix(10)(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long))


def tiny_vit() -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(
        img_size=16, patch_size=4, in_chans=1, num_classes=NUM_CLASSES, embed_dim=8, depth=2, num_heads=2
    )


def pasted_patches(seed: int, mixer: TransMix) -> tuple[torch.Tensor, torch.Tensor]:
    """The partners and (B, 16) pasted-patch mask the mixer will draw from a generator seeded `seed`."""
    partners, boxes = AF.sample_cutmix(
        B, 4, 4, alpha=mixer.alpha, prob=mixer.prob, mode=mixer.mode, generator=gen(seed)
    )
    return partners, AF.box_masks(boxes, 4, 4).flatten(1)


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_transmix_weights_are_the_class_attention_over_the_pasted_patches(mode):
    vit, images, labels = tiny_vit(), torch.randn(B, 1, 16, 16), torch.arange(B)
    last = vit.blocks[-1].attn
    last.fused_attn = False  # the reference: timm's own softmax, read at attn_drop
    seen = {}
    last.attn_drop.register_forward_hook(lambda m, a, out: seen.__setitem__("attn", out))
    for seed in range(5):
        mixer = TransMix(NUM_CLASSES, mode=mode, generator=gen(seed))
        partners, pasted = pasted_patches(seed, mixer)
        _, targets = mixed_forward(mixer, vit, images, labels)
        cls_row = seen["attn"].mean(dim=1)[:, 0, 1:]  # heads averaged, class token to the 16 patches
        expected = (cls_row * pasted).sum(1) / cls_row.sum(1)
        got_partners, lam = partners_and_lam(targets)
        assert torch.allclose(targets.sum(dim=1), torch.ones(B))
        assert torch.allclose(1 - lam, expected, atol=1e-5)
        mixed = partners != torch.arange(B)
        assert torch.equal(got_partners[mixed & (lam < 1)], partners[mixed & (lam < 1)])


class PlantedKey(nn.Module):
    """k_norm replaced: each patch token's key is `big` where `where` (B, 16) is true, 0 elsewhere, so the
    class token (query all ones) attends only to those patches."""

    def __init__(self, where: torch.Tensor, big: float = 50.0):
        super().__init__()
        self.where, self.big = where, big

    def forward(self, k):
        planted = torch.zeros_like(k)
        planted[:, :, 1:] = self.big * self.where[:, None, :, None].to(k.dtype)
        return planted


@pytest.mark.parametrize("inside, partner_weight", [(True, 1.0), (False, 0.0)])
def test_transmix_weight_follows_planted_attention(inside, partner_weight):
    vit, images, labels = tiny_vit(), torch.randn(B, 1, 16, 16), torch.arange(B)
    attn = vit.blocks[-1].attn
    attn.q_norm = nn.Module()
    attn.q_norm.forward = torch.ones_like
    mixer = TransMix(NUM_CLASSES, mode="elem", generator=gen(3))
    partners, pasted = pasted_patches(3, mixer)
    attn.k_norm = PlantedKey(pasted if inside else ~pasted)
    _, targets = mixed_forward(mixer, vit, images, labels)
    mixed = (partners != torch.arange(B)) & pasted.any(1) & ~pasted.all(1)
    assert mixed.any()
    own = targets.diagonal()
    assert torch.allclose(1 - own[mixed], torch.full((int(mixed.sum()),), partner_weight), atol=1e-5)
    assert torch.allclose(targets.sum(dim=1), torch.ones(B))


def test_choice_may_pick_a_model_mixer_and_an_image_mixer():
    net, images, labels = TinyNet(), torch.randn(B, 1, 6, 6), torch.arange(B)
    choice = MixChoice(
        [ManifoldMixup(B, generator=gen(1)), Cutout(B, size=2, generator=gen(2))], [0.5, 0.5], generator=gen(3)
    )
    assert choice.needs_model and not MixChoice([Mixup(B)], [1.0]).needs_model
    soft = [bool((mixed_forward(choice, net, images, labels)[1].amax(dim=1) < 1).any()) for _ in range(40)]
    assert 0 < sum(soft) < 40  # Manifold Mixup softens the targets, Cutout keeps them one-hot


def test_the_trainer_refuses_transmix_without_attention_and_model_mixers_under_compile(fast_cfg, tmp_path):
    from recipes.config import ConfigError
    from recipes.run import run_training

    with pytest.raises(ConfigError, match=r"augment=transmix with model=preact_resnet18: TransMix needs"):
        run_training(fast_cfg("augment=transmix"), tmp_path / "transmix")
    with pytest.raises(ConfigError, match=r"augment=manifold_mixup .*trainer.compile=true"):
        run_training(fast_cfg("augment=manifold_mixup", "trainer.compile=true"), tmp_path / "compiled")
    assert not (tmp_path / "transmix" / "checkpoints").exists()  # refused before any training
