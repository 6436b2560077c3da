"""Manifold Mixup: Mixup of the hidden states at a layer drawn per batch, through a forward hook."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from augment import functional as F
from augment.contract import ModelMixer, draw_index, unwrap


def stage_names(model: nn.Module) -> list[str]:
    """The module names of the stages `model.feature_info` reports (timm's FeatureInfo, or a list of dicts with
    a "module" key, which models/ gives the CIFAR nets); ValueError when the model reports none."""
    info = getattr(model, "feature_info", None)
    if hasattr(info, "module_name"):  # timm.models.FeatureInfo
        return list(info.module_name())
    if isinstance(info, list | tuple) and info and all(isinstance(f, dict) and "module" in f for f in info):
        return [f["module"] for f in info]
    raise ValueError(
        f"{type(model).__name__} reports no stages (a `feature_info` list naming each stage's module, as timm "
        "models and the nets in models/ have), so Manifold Mixup has no hidden layers to mix"
    )


def mix_hidden(hidden: Tensor, partners: Tensor, lam: Tensor) -> Tensor:
    """lam · h + (1 − lam) · h[partners] for a hidden state of any rank, lam (B,) per sample (one lerp)."""
    if not isinstance(hidden, Tensor):
        raise TypeError(f"Manifold Mixup can mix only a tensor output, got {type(hidden).__name__}")
    weight = (1.0 - lam).to(hidden.dtype).reshape(-1, *[1] * (hidden.dim() - 1))
    return torch.lerp(hidden, hidden.index_select(0, partners), weight)


class ManifoldMixup(ModelMixer):
    """Manifold Mixup (Verma et al., "Manifold Mixup: Better Representations by Interpolating Hidden States",
    ICML 2019).

    Per batch one layer k is drawn uniformly from the eligible ones: the input (k = 0, plain Mixup) and the
    output of each stage the model reports in `feature_info` (timm models; the CIFAR nets of models/). The
    model then runs with a forward hook on stage k that replaces its output h by λ · h + (1 − λ) · h[j], j
    the sample's partner (a random perfect matching of the batch, odd one out unmixed), λ ~ Beta(alpha,
    alpha) the weight of the own label. A hooked module runs once per forward pass in these nets; should one
    run twice, only its first output is mixed. Cost: one extra lerp of one hidden state, and reading the layer
    draw back to the host (one synchronisation per batch on a CUDA generator).

    Args:
        num_classes: number of classes.
        alpha: Beta concentration, > 0 (the paper: 2.0 on CIFAR-10 and CIFAR-100).
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all; otherwise λ = 1.
        mode: "batch" (one λ per batch, as in the paper), "pair" or "elem"; the layer is one per batch.
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        alpha: float = 2.0,
        prob: float = 1.0,
        mode: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, alpha=alpha, prob=prob, mode=mode, generator=generator)

    def layers(self, model: nn.Module) -> list[nn.Module | None]:
        """The eligible layers: None for the input, then each reported stage's module."""
        net = unwrap(model)
        modules = dict(net.named_modules())
        names = stage_names(net)
        missing = [n for n in names if n not in modules]
        if missing:
            raise ValueError(f"{type(net).__name__}.feature_info names modules it does not have: {missing}")
        return [None, *(modules[n] for n in names)]

    def check_model(self, model: nn.Module) -> None:
        self.layers(model)

    def _forward(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        layers = self.layers(model)
        layer = layers[draw_index(len(layers), self.generator)]
        partners, lam = F.sample_mixup(
            images.shape[0], alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator
        )
        partners, lam = partners.to(images.device), lam.to(images.device)
        targets = F.pair_targets(labels, partners, lam, self.num_classes)
        if layer is None:
            return model(F.blend(images, partners, lam)), targets
        done = []

        def mix_once(module, inputs, output):
            if done:
                return None
            done.append(True)
            return mix_hidden(output, partners, lam)

        handle = layer.register_forward_hook(mix_once)
        try:
            return model(images), targets
        finally:
            handle.remove()
