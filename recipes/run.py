"""run_training(cfg, run_dir): build everything from a composed config, train, evaluate every epoch, log, resume.

The Trainer assembles a run from recipes.builders' blocks (it looks them up here, so tests patch `recipes.run`).
train.py is a thin Hydra wrapper around this function, and tests call it directly.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from augment import set_epoch
from models import weights_source
from recipes import checkpoint as ckpt
from recipes import distributed
from recipes.builders import (
    CHOICE_STREAM,
    MIX_STREAM,
    MODEL_STREAM,
    build_network,
    build_optimizer,
    build_scheduler,
    check_mixer_fits_model,
    epoch_seed,
    run_values,
    step_config,
    wrap_model,
)
from recipes.catalogue import summary_metrics
from recipes.config import ConfigError, changed_settings, resolve_device, validate
from recipes.data import build_data, dataset_info
from recipes.engine import predict, train_one_epoch
from recipes.metrics import classification_metrics
from recipes.mixers import build_mixer
from recipes.precision import cpu_attention, device_name
from recipes.robustness_run import ROBUSTNESS_JSON, measure_robustness
from recipes.run_lock import one_trainer_per_run_dir
from recipes.tracking import RunTracker, read_summary, write_failure, write_json

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the run


@one_trainer_per_run_dir
def run_training(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train and evaluate as `cfg` says, writing into `run_dir`; returns the summary (metrics are fractions).

    A complete run is skipped (its summary returned) when `resume=true`, or when its summary.json records the same
    result-defining settings (recipes.run_keys): a sweep whose baseline repeats with args that do not apply to it
    (`augment=none,mixup augment.alpha=0.5,1.0`) names both jobs' run dir alike, and trains it once. With
    `resume=true` an interrupted run continues from `run_dir/checkpoints/last.pt`. Any exception leaves
    failed.json (for sweep summaries) and is re-raised. One process at a time trains a run dir (recipes.run_lock).
    """
    run_dir = Path(run_dir)
    if cfg.resume and (done := read_summary(run_dir)) is not None:
        log.info("%s is complete (summary.json); skipping. Delete it to train again.", run_dir)
        return done
    trainer = None
    try:
        validate(cfg)
        if (done := _same_complete_run(cfg, run_dir)) is not None:
            log.info("%s already holds this run, complete (summary.json); skipping. Delete it to train again.", run_dir)
            return done
        trainer = Trainer(cfg, run_dir)
        return trainer.fit()
    except Exception as err:
        is_main = trainer.dist.is_main if trainer else distributed.env_rank() == 0
        if is_main:  # one failed.json per run, not one per process
            write_failure(run_dir, err, trainer.epoch if trainer else 0)
        raise
    finally:
        if trainer is not None:
            trainer.close()


def _same_complete_run(cfg: DictConfig, run_dir: Path) -> dict | None:
    """The summary of a complete run in `run_dir` whose recorded config defines the same result as `cfg`."""
    done = read_summary(run_dir)
    if done is None or "config" not in done:
        return None
    return None if changed_settings(done["config"], OmegaConf.to_container(cfg, resolve=True)) else done


class Trainer:
    """Everything one run needs, built in the order that fails fastest: mixer, model, then data."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg, self.run_dir = cfg, run_dir
        device = resolve_device(cfg.trainer.device)
        self.dist = distributed.init_from_env(device.type)
        self.device = distributed.local_device(device, self.dist)
        self.batch_size = distributed.global_batch_size(int(cfg.trainer.batch_size), cfg.trainer.batch_scope, self.dist)
        if self.batch_size < 2 * self.dist.world_size:  # BatchNorm cannot train on one image per process
            raise ConfigError(
                f"trainer.batch_size={cfg.trainer.batch_size} gives {self.batch_size // self.dist.world_size} "
                f"image(s) per process; each of the {self.dist.world_size} processes needs at least 2"
            )
        distributed.check_setup(self.batch_size, bool(cfg.trainer.sync_bn), self.device, self.dist)
        # cuDNN autotuning picks the fastest conv kernels for our fixed shapes, unless bitwise repeatability is asked
        torch.backends.cudnn.benchmark = not cfg.trainer.deterministic
        if cfg.trainer.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        info = dataset_info(cfg.dataset)
        self.mix_gen = torch.Generator(device=self.device)
        self.choice_gen = torch.Generator()  # on the host: MixChoice branches on its draw every batch
        self.data_gen = torch.Generator(device=self.device)
        self.mixer = build_mixer(cfg.augment, info.num_classes, self.mix_gen, self.choice_gen)
        torch.manual_seed(cfg.seed)
        self.weights = weights_source(**OmegaConf.to_container(cfg.model, resolve=True))  # for summary.json
        resume_from = self._resume_source()
        # a checkpoint's weights replace pretrained ones, so a resumed run needs neither the hub nor the file
        self.model = build_network(cfg.model, info, pretrained=not resume_from).to(self.device)
        self.step_cfg = step_config(cfg, self.device)
        if self.dist.is_main:
            log.info("step format: %s", self.step_cfg.precision)
        if cpu_attention(self.model, self.device) and self.dist.is_main:
            log.info("attention: timm's explicit matmul path on a CPU (faster than the fused kernel in bf16)")
        if self.step_cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        check_mixer_fits_model(self.mixer, self.model, cfg)
        state = self._checkpoint_to_resume(resume_from)
        self.data = build_data(cfg.dataset, self.device, int(cfg.seed), self.dist.rank, self.dist.world_size)
        self.steps_per_epoch = self.data.steps_per_epoch(self.batch_size)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"no training batch: {self.data.num_train} training images (dataset.subset="
                f"{cfg.dataset.subset}) give no batch of at least 2 per process"
            )
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.epoch, self.best_top1, self.wall_s = 0, 0.0, 0.0
        if state:
            self._restore(state)
        distributed.check_same_on_all_ranks(self.epoch, "the epoch to resume from", self.device, self.dist)
        self.train_model = wrap_model(self.model, cfg.trainer, self.device, self.dist)
        self.tracker = RunTracker(run_dir, self.epoch, self.epoch * self.steps_per_epoch) if self.dist.is_main else None

    def _resume_source(self):
        """The checkpoint this run continues from (ckpt_path, or with resume=true its own last.pt), or None."""
        own = self.run_dir / "checkpoints" / "last.pt"
        if self.cfg.ckpt_path:
            return self.cfg.ckpt_path
        return own if self.cfg.resume and own.is_file() else None

    def _checkpoint_to_resume(self, source) -> dict | None:
        if source is None:
            return None
        state = ckpt.load_checkpoint(source)
        ckpt.load_model_weights(self.model, state, source)
        log.info("resuming from %s (epoch %d done)", source, state["epoch"])
        changes = changed_settings(state["config"], OmegaConf.to_container(self.cfg, resolve=True))
        if changes and self.dist.is_main:
            log.warning(
                "resuming with settings that differ from those %s was trained with: %s. The optimiser and "
                "scheduler state (learning rate included) come from the checkpoint, so the result will not "
                "be that of a fresh run with the new settings.",
                source,
                "; ".join(changes),
            )
        return state

    def _restore(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_top1, self.wall_s = state["epoch"], state["best_top1"], state["wall_s"]

    # ------------------------------------------------------------------------- loop

    def fit(self) -> dict:
        """Train the remaining epochs; evaluate every `trainer.eval_every` epochs and always after the last."""
        epochs, eval_every, record = int(self.cfg.trainer.epochs), int(self.cfg.trainer.eval_every), None
        for epoch in range(self.epoch + 1, epochs + 1):
            start = time.perf_counter()
            stats = self._train_epoch(epoch)
            evaluated = epoch % eval_every == 0 or epoch == epochs
            metrics = self.evaluate() if evaluated else {}
            self.wall_s += time.perf_counter() - start
            self.epoch, self.best_top1 = epoch, max(self.best_top1, metrics.get("top1", 0.0))
            record = {
                "epoch": epoch,
                "train_loss": stats["train_loss"],
                "lr": self.optimizer.param_groups[0]["lr"],
                "evaluated": evaluated,
                **metrics,
                "img_per_s": stats["img_per_s"],
                "wall_s": self.wall_s,
            }
            if self.tracker is not None:
                self.tracker.log_epoch(record, epoch * self.steps_per_epoch)
                self._save_checkpoint()
            test = f"  top-1 {100 * metrics['top1']:.2f}%  ECE {metrics['ece']:.4f}" if evaluated else ""
            log.info(
                "epoch %d/%d  loss %.4f%s  %.0f img/s", epoch, epochs, stats["train_loss"], test, stats["img_per_s"]
            )
        return self._finish(record)

    def _train_epoch(self, epoch: int) -> dict:
        seed = int(self.cfg.seed)
        self.data_gen.manual_seed(epoch_seed(seed, epoch))  # same on every rank: same global batches
        self.mix_gen.manual_seed(epoch_seed(seed, epoch, self.dist.rank + MIX_STREAM))  # differs per rank
        self.choice_gen.manual_seed(epoch_seed(seed, epoch, self.dist.rank + CHOICE_STREAM))
        torch.manual_seed(epoch_seed(seed, epoch, self.dist.rank + MODEL_STREAM))
        set_epoch(self.mixer, epoch)  # augment.off_epoch: from the loop, so a resumed run knows it too
        on_first = self._log_grid if (epoch == 1 and self.tracker is not None) else None
        on_log = self._log_step(epoch) if self.tracker is not None else None
        batches = self.data.train_batches(self.batch_size, self.data_gen)
        return train_one_epoch(
            self.train_model,
            batches,
            self.mixer,
            self.optimizer,
            self.scheduler,
            step_cfg=self.step_cfg,
            epoch=epoch,
            total_steps=self.steps_per_epoch,
            on_log=on_log,
            on_first_batch=on_first,
        )

    def _log_step(self, epoch: int):
        offset = (epoch - 1) * self.steps_per_epoch
        return lambda step, loss, lr, img_s: self.tracker.log_step(offset + step, loss, lr, img_s)

    def _log_grid(self, images: torch.Tensor) -> None:
        self.tracker.log_batch_grid(self.data.denormalise(images.float()))

    def evaluate(self) -> dict:
        """Clean test-set metrics on the predictions of the whole test set (gathered from every rank)."""
        distributed.broadcast_buffers(self.model, self.dist)
        batches = self.data.eval_batches("test", int(self.cfg.trainer.eval_batch_size))
        logits, labels = predict(
            self.model, batches, autocast_dtype=self.step_cfg.autocast_dtype, channels_last=self.step_cfg.channels_last
        )
        logits, labels = distributed.gather_cat(logits, self.dist), distributed.gather_cat(labels, self.dist)
        return classification_metrics(logits, labels)

    def _save_checkpoint(self) -> None:
        ckpt.atomic_save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "epoch": self.epoch,
                "best_top1": self.best_top1,
                "wall_s": self.wall_s,
                "config": OmegaConf.to_container(self.cfg, resolve=True),
            },
            self.run_dir / "checkpoints" / "last.pt",
        )

    def _finish(self, last: dict | None) -> dict:
        if last is None:  # resumed after the last epoch's checkpoint but before summary.json
            last = {**self.evaluate(), "img_per_s": None}
        values = run_values(self.cfg)
        summary = {
            "status": "complete",
            **{k: last[k] for k in summary_metrics() if k in last},
            **self._robustness(),
            "best_top1": self.best_top1,
            "epochs": self.epoch,
            "wall_s": self.wall_s,
            "img_per_s": last["img_per_s"],
            "world_size": self.dist.world_size,
            "global_batch_size": self.batch_size,
            "hardware": device_name(self.device),
            "step_format": self.step_cfg.precision,  # e.g. "bf16 autocast + channels_last (auto: ...)"
            "pretrained": self.weights,
            "skipped_files": self.data.skipped_files,  # an image folder's unreadable files (skip_bad_files=true)
            **values,
            "params": sum(p.numel() for p in self.model.parameters()),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }
        if self.tracker is not None:
            hparams = {k: v for k, v in values.items() if isinstance(v, int | float | str)}  # TensorBoard's kinds
            self.tracker.finish(summary, hparams)
        log.info(
            "done: top-1 %.2f%%  top-5 %.2f%%  ECE %.4f  NLL %.4f  (%d epochs, %.0f s) -> %s",
            100 * summary["top1"],
            100 * summary["top5"],
            summary["ece"],
            summary["nll"],
            self.epoch,
            self.wall_s,
            self.run_dir,
        )
        return summary

    def _robustness(self) -> dict:
        """summary.json's robustness keys (recipes.robustness_run), robustness.json beside it; {} when off."""
        if not self.cfg.trainer.robustness:
            return {}
        summary, detail = measure_robustness(
            self.model,
            self.data,
            subset=int(self.cfg.trainer.robustness_subset),
            batch_size=int(self.cfg.trainer.eval_batch_size),
            predict=self._predict,
            dist=self.dist,
        )
        if self.dist.is_main:
            write_json(self.run_dir / ROBUSTNESS_JSON, detail)
        return summary

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of one normalised batch with the run's precision and memory format."""
        return predict(
            self.model,
            [(images, images.new_zeros(0))],
            autocast_dtype=self.step_cfg.autocast_dtype,
            channels_last=self.step_cfg.channels_last,
        )[0]

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
        distributed.cleanup(self.dist)
