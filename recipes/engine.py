"""The training and evaluation loops: one epoch of mixed-sample training, one pass of clean evaluation."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from augment import mixed_forward


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class StepConfig:
    """How each step runs: precision, memory format, clipping, smoothing, logging cadence."""

    autocast_dtype: torch.dtype | None = None  # torch.bfloat16 for bf16 autocast, None for fp32
    channels_last: bool = False
    grad_clip: float = 0.0
    label_smoothing: float = 0.0
    log_every: int = 50
    progress: bool = True
    precision: str = "fp32"  # what was chosen and why, for the log (recipes.precision.Precision.describe)


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def soft_target_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy against soft (mixed) targets; label smoothing is applied here, never inside the mixers."""
    return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)


def train_one_epoch(
    model: torch.nn.Module,
    batches: Iterable,
    mixer,
    optimizer: torch.optim.Optimizer,
    scheduler,
    *,
    step_cfg: StepConfig,
    epoch: int,
    total_steps: int,
    on_log: Callable[[int, float, float, float], None] | None = None,
    on_first_batch: Callable[[torch.Tensor], None] | None = None,
) -> dict:
    """Train for one epoch; returns mean train loss, images/s and steps.

    Every step is `augment.mixed_forward(mixer, model, images, labels)` under autocast: image mixers mix and then
    call the model, model-aware ones (Manifold Mixup, TransMix) run the forward pass themselves.

    Host syncs are kept off the hot path: the loss sum and the first non-finite step are tracked on the device and
    read every `log_every` steps, so a NaN stops training at the next check with the epoch and step in the message
    (the last checkpoint on disk, written at the previous epoch end, stays the last good one).
    """
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    first_bad = torch.full((), -1, device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    bar = tqdm(total=total_steps, desc=f"epoch {epoch}", disable=not step_cfg.progress, leave=False, unit="step")
    for step, (images, labels) in enumerate(batches, start=1):
        if step_cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        peek = _model_input_hook(model, on_first_batch) if step == 1 and on_first_batch is not None else None
        try:
            with autocast(device, step_cfg.autocast_dtype):  # every mixer: one call, needing the model or not
                logits, targets = mixed_forward(mixer, model, images, labels)
                loss = soft_target_loss(logits, targets, step_cfg.label_smoothing)
        finally:
            if peek is not None:
                peek.remove()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step_cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), step_cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        loss = loss.detach()
        loss_sum += loss
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        seen += len(labels)
        bar.update(1)
        if step % step_cfg.log_every == 0 or step == total_steps:
            _check_finite(first_bad, epoch)
            img_s = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{img_s:,.0f}")
            if on_log is not None:
                on_log(step, loss.item(), optimizer.param_groups[0]["lr"], img_s)
    bar.close()
    _check_finite(first_bad, epoch)
    elapsed = time.perf_counter() - start
    return {
        "train_loss": (loss_sum / max(step, 1)).item(),
        "img_per_s": seen / elapsed,
        "train_s": elapsed,
        "steps": step,
    }


def _model_input_hook(model: torch.nn.Module, show: Callable[[torch.Tensor], None]):
    """Hand the model's input to `show` (the TensorBoard grid of mixed images): the mixed images for an image
    mixer, the input a model-aware mixer feeds it (clean for Manifold Mixup unless it mixes the input)."""
    return model.register_forward_pre_hook(lambda module, args: show(args[0].detach()))


def _check_finite(first_bad: torch.Tensor, epoch: int) -> None:
    bad = int(first_bad)
    if bad >= 0:
        raise NonFiniteLossError(
            f"training loss is NaN/inf at epoch {epoch}, step {bad}; stopped. The last good "
            "checkpoint (previous epoch) is kept: lower the lr or enable trainer.grad_clip."
        )


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    batches: Iterable,
    *,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    transform: Callable | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (float32) and labels for every batch, concatenated, on the model's device.

    `transform` (e.g. an occlusion) is applied to each normalised batch before the forward pass.
    """
    model.eval()
    device = next(model.parameters()).device
    all_logits, all_labels = [], []
    for images, labels in batches:
        if transform is not None:
            images = transform(images)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, autocast_dtype):
            all_logits.append(model(images).float())
        all_labels.append(labels)
    return torch.cat(all_logits), torch.cat(all_labels)


def cosine_factor(step: int, *, warmup: int, steps_per_epoch: int, total: int, sched, base_lr: float) -> float:
    """Cosine decay from 1 to `sched.min_lr / base_lr` (min_lr is absolute) between warmup and the last step."""
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    min_factor = sched.min_lr / base_lr
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


def multistep_factor(step: int, *, warmup: int, steps_per_epoch: int, total: int, sched, base_lr: float) -> float:
    """`sched.gamma` to the power of the number of `sched.milestones` (epochs) passed."""
    epoch = step / steps_per_epoch
    return sched.gamma ** sum(epoch >= m for m in sched.milestones)


# sched.name -> the lr multiplier after warmup (same keyword arguments); recipes.schema declares each one's keys.
SCHEDULES = {"cosine": cosine_factor, "multistep": multistep_factor}


def lr_factor(step: int, steps_per_epoch: int, epochs: int, sched, base_lr: float) -> float:
    """Multiplier of the base lr after `step` optimizer steps: linear warmup, then the schedule `sched.name`.

    `sched` is the sched config node: `warmup_epochs` and the schedule's own keys (SCHEDULES). Stepped every
    iteration so warmup is smooth.
    """
    warmup = int(sched.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if sched.name not in SCHEDULES:
        raise ValueError(f"sched.name={sched.name!r} is unknown: choose one of {', '.join(sorted(SCHEDULES))}")
    total = epochs * steps_per_epoch
    return SCHEDULES[sched.name](
        step, warmup=warmup, steps_per_epoch=steps_per_epoch, total=total, sched=sched, base_lr=base_lr
    )
