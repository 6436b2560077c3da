"""The training-step contract shared by every mixer: `logits, targets = mixed_forward(mixer, model, images, labels)`.

Most mixers work on images alone (`images, targets = mixer(images, labels)`); a few need the model: Manifold
Mixup mixes hidden states, TransMix weighs labels by attention. Such a mixer implements
`forward(model, images, labels) -> (logits, targets)`, and `mixed_forward` calls it; for an image mixer it mixes
first and then calls the model. A training loop calls `mixed_forward` for every method and never asks which
kind it holds. Hooks go on the modules of the unwrapped model (DistributedDataParallel's `.module`,
torch.compile's `._orig_mod`) while the call goes through the wrapper, so gradients are still synchronised.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from augment import functional as F
from augment._checks import check_alpha, check_batch, check_generator, check_mode, check_positive_int, check_prob
from augment._streams import private_generator


def mixed_forward(mixer, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """One training forward pass with mixing: (logits, soft targets), whatever kind of mixer `mixer` is."""
    forward = getattr(mixer, "forward", None)
    if forward is not None:
        return forward(model, images, labels)
    images, targets = mixer(images, labels)
    return model(images), targets


def needs_model(mixer) -> bool:
    """True when `mixer` mixes inside the model (hooks), so it cannot run in a DataLoader's collate_fn."""
    return bool(getattr(mixer, "needs_model", False))


def check_model(mixer, model: nn.Module) -> None:
    """ValueError naming the model when `mixer` cannot work with it (e.g. TransMix on a net without attention);
    nothing for image mixers. Cheap: a training loop calls it once, before any data is read."""
    check = getattr(mixer, "check_model", None)
    if check is not None:
        check(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside DistributedDataParallel / DataParallel (`.module`) and torch.compile (`._orig_mod`)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


class ModelMixer:
    """Base of the mixers that need the model: num_classes, alpha, prob, mode and generator as the image mixers
    take them; subclasses implement `_forward(model, images, labels)`. Calling one like an image mixer is a
    TypeError that points to `mixed_forward`."""

    needs_model = True

    def __init__(self, num_classes: int, *, alpha: float, prob: float, mode: str, generator) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.alpha = check_alpha(alpha)
        self.prob = check_prob(prob)
        self.mode = check_mode(mode)
        self.generator = private_generator() if generator is None else check_generator(generator)

    def __call__(self, images: Tensor, labels: Tensor):
        raise TypeError(
            f"{type(self).__name__} mixes inside the model, so it cannot be called on images alone (nor used in a "
            "collate_fn): call augment.mixed_forward(mixer, model, images, labels)"
        )

    def forward(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        check_batch(images, labels, self.num_classes)
        labels = labels.long()
        if self.prob == 0.0:
            return model(images), F.one_hot_targets(labels, self.num_classes)
        return self._forward(model, images, labels)

    def check_model(self, model: nn.Module) -> None:
        raise NotImplementedError

    def _forward(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({args})"


def draw_index(count: int, generator: torch.Generator) -> int:
    """One uniform integer in [0, count) from `generator` (read back to the host: one sync on a CUDA one)."""
    return int(torch.randint(count, (), generator=generator, device=generator.device))
