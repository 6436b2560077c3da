"""Argument and batch validation shared by the mixers.

Every check raises ValueError (TypeError for a wrong kind of object) naming the bad value, so a typo in a
config fails at construction time and a malformed batch fails before any random number is drawn. A bad
constructor argument raises ArgError, a ValueError that also says which argument: these checks are the one home
of the mixers' value rules, and recipes.config turns an ArgError into a config error naming the key.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

MODES = ("batch", "pair", "elem")


class ArgError(ValueError):
    """A ValueError about the constructor argument `arg` (the message still names it, for users without configs)."""

    def __init__(self, arg: str, message: str) -> None:
        super().__init__(message)
        self.arg = arg


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """A Beta(alpha, alpha) concentration: a finite number > 0."""
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not math.isfinite(alpha) or alpha <= 0:
        raise ArgError(
            name,
            f"{name} must be a finite number > 0 for a Beta({name}, {name}) draw, got {alpha!r}; "
            f"{name}=0 does not disable mixing here: use prob=0.0 or NoMix for that",
        )
    return float(alpha)


def check_prob(prob: float, name: str = "prob", *, arg: str | None = None) -> float:
    """A probability in [0, 1]; `arg` is the argument it belongs to when that is not `name` (an element of a list)."""
    if isinstance(prob, bool) or not isinstance(prob, Real) or not 0.0 <= prob <= 1.0:
        raise ArgError(arg or name, f"{name} must be a number in [0, 1], got {prob!r}")
    return float(prob)


def check_mode(mode: str, allowed: tuple[str, ...] = MODES) -> str:
    """One of the sampling granularities in `allowed`."""
    if mode not in allowed:
        raise ArgError("mode", f"mode must be one of {allowed}, got {mode!r}")
    return mode


def check_off_epoch(off_epoch: int) -> int:
    """The last epoch that mixes (augment.MixUntil): an integer >= 0."""
    if isinstance(off_epoch, bool) or not isinstance(off_epoch, Integral) or off_epoch < 0:
        raise ArgError("off_epoch", f"off_epoch must be an integer >= 0 (the last epoch that mixes), got {off_epoch!r}")
    return int(off_epoch)


# The checks of the args a sweep may share across methods (augment=none,cutout,mixup augment.alpha=0.5,1.0): a
# value given to a method that does not take it is still checked by the rule of the methods that do.
SHARED_ARG_CHECKS = {"alpha": check_alpha, "prob": check_prob, "mode": check_mode, "off_epoch": check_off_epoch}


def check_positive_int(value: int, name: str) -> int:
    """An integer >= 1 (num_classes, holes, pixel sizes)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ArgError(name, f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """None or a torch.Generator (numpy generators and seeds are rejected: all draws go through torch)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def check_images(images: torch.Tensor) -> None:
    """A (B, C, H, W) tensor of floating dtype or uint8, with B, H, W >= 1."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must be 4-D (B, C, H, W), got shape {tuple(images.shape)}")
    if not (images.is_floating_point() or images.dtype == torch.uint8):
        raise ValueError(f"images must have a floating dtype or uint8, got {images.dtype}")
    if min(images.shape[0], images.shape[2], images.shape[3]) < 1:
        raise ValueError(f"images must have B, H, W >= 1, got shape {tuple(images.shape)}")


def check_batch(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
    """Images as in check_images and labels (B,) integers in [0, num_classes).

    On the CPU the range check reads the labels' min and max and raises a ValueError naming the bad label.
    On CUDA reading them would synchronise with the host every batch (the CPU could no longer queue the next
    step while the GPU works), so there the check is an asynchronous device-side assertion with the same
    message: a bad label still stops the run, at the next synchronisation, without slowing good batches.
    """
    check_images(images)
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D tensor of class indices, got {shape}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must have an integer dtype (int64), got {labels.dtype}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"batch size mismatch: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.device != images.device:
        raise ValueError(f"labels are on {labels.device} but images on {images.device}")
    if labels.is_cuda:
        low, high = torch.aminmax(labels)
        torch._assert_async((low >= 0) & (high < num_classes), f"labels must lie in [0, num_classes={num_classes})")
        return
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f"labels must lie in [0, num_classes={num_classes}), found label {bad}")
