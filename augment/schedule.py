"""Mixing that stops: after a given epoch a mixer is bypassed (timm's `mixup_off_epoch`), also in DataLoader workers.

A flag set in the main process does not reach DataLoader workers (each holds a copy of the collate_fn, made
once when persistent workers start). The epoch therefore lives in a one-element tensor in shared memory: the
copies in the workers share its storage, so `set_epoch` in the main process, before the epoch's batches are
requested, is what every worker reads.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from augment import functional as F
from augment._checks import check_batch, check_off_epoch
from augment.contract import check_model, mixed_forward, needs_model


class MixUntil:
    """Wrap `mixer` so that it mixes in epochs 1..off_epoch and passes batches through unmixed (one-hot
    targets) after: off_epoch=0 never mixes. Epochs count from 1, as the trainer's do; before any
    `set_epoch` the wrapper is in epoch 1. Works both as an image mixer (`wrapper(images, labels)`, e.g. in a
    collate_fn) and through `augment.mixed_forward` for any mixer, model-aware ones and MixChoice included.

    Args:
        mixer: the mixer to switch off.
        off_epoch: the last epoch that mixes, an integer >= 0.
    """

    def __init__(self, mixer, *, off_epoch: int) -> None:
        self.mixer, self.off_epoch = mixer, check_off_epoch(off_epoch)
        self.num_classes = mixer.num_classes
        self._epoch = torch.ones((), dtype=torch.int64).share_memory_()

    @property
    def needs_model(self) -> bool:
        return needs_model(self.mixer)

    def set_epoch(self, epoch: int) -> None:
        """Enter epoch `epoch` (from 1), here and in every DataLoader worker holding a copy of this wrapper."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    @property
    def mixing(self) -> bool:
        return self.epoch <= self.off_epoch

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if self.mixing:
            return self.mixer(images, labels)
        return images, self._one_hot(images, labels)

    def forward(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if self.mixing:
            return mixed_forward(self.mixer, model, images, labels)
        return model(images), self._one_hot(images, labels)

    def check_model(self, model: nn.Module) -> None:
        check_model(self.mixer, model)

    def _one_hot(self, images: Tensor, labels: Tensor) -> Tensor:
        check_batch(images, labels, self.num_classes)
        return F.one_hot_targets(labels.long(), self.num_classes)

    def __repr__(self) -> str:
        return f"MixUntil({self.mixer!r}, off_epoch={self.off_epoch})"


def set_epoch(mixer, epoch: int) -> None:
    """Tell `mixer` the epoch (from 1) about to start, if it has a schedule (MixUntil); otherwise nothing."""
    setter = getattr(mixer, "set_epoch", None)
    if setter is not None:
        setter(epoch)
