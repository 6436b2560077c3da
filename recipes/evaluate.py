"""evaluate_checkpoint(cfg): a trained checkpoint -> eval.json, predictions.npz, reliability and occlusion figures.

The output dir (default `<run dir>/eval/`, where sweep summaries look) gets `eval.json` (clean and temperature-
scaled metrics, occlusion curves, OOD detection), `predictions.npz` (test logits and labels, the temperature and
its fitting split: later analysis needs no re-run), `reliability.png`, `occlusion.png`, and the diagram in `tb/`
(those three written by recipes.eval_outputs).
The model and data are rebuilt from the config saved in the checkpoint, so evaluation sees the run's dataset,
holdout split and normalisation. eval.py is a thin Hydra wrapper; tests call `evaluate_checkpoint` directly.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from recipes import checkpoint as ckpt
from recipes.builders import build_network, step_config
from recipes.calibration import fit_temperature, heldout_split
from recipes.catalogue import N_BINS
from recipes.config import load_option, resolve_device, validate, validate_eval
from recipes.data import IN_MEMORY, build_data, dataset_info
from recipes.engine import StepConfig, predict
from recipes.eval_outputs import write_figures, write_predictions
from recipes.metrics import classification_metrics
from recipes.robustness import adapt_images, noise_images, occlusion_curve, ood_scores
from recipes.tracking import write_json
from recipes.transforms import Normalisation

log = logging.getLogger(__name__)
EVAL_JSON, PREDICTIONS = "eval.json", "predictions.npz"
DATASET_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "dataset"
RUN_OVERRIDES = ("dataset.root", "trainer.device", "trainer.eval_batch_size")


@dataclass
class Loaded:
    """A checkpoint's model in eval mode, its run's data and how to run forward passes like training did."""

    cfg: DictConfig  # the run's config with the eval overrides applied
    model: torch.nn.Module
    data: object  # recipes.data.InMemoryData or FolderData
    step: StepConfig
    device: torch.device
    batch_size: int

    def predict(self, batches, transform=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, labels) of a batch stream, with the run's precision and memory format."""
        return predict(
            self.model,
            batches,
            autocast_dtype=self.step.autocast_dtype,
            channels_last=self.step.channels_last,
            transform=transform,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of one normalised batch (the occlusion curves' predict_fn)."""
        return self.predict([(images, images.new_zeros(0))])[0]

    def batches(self, split: str = "test"):
        return self.data.eval_batches(split, self.batch_size)


# ----------------------------------------------------------------------------------------- setup


def output_paths(ckpt_path: str, out_dir: str | None, overwrite: bool) -> tuple[Path, Path]:
    """(checkpoint file, output dir); refuses an output dir that already holds eval.json unless `overwrite`."""
    if not ckpt_path:
        raise ValueError("ckpt_path is required: python eval.py ckpt_path=<run dir or checkpoint file>")
    ckpt_file = ckpt.find_checkpoint(ckpt_path)
    run_dir = ckpt_file.parent.parent if ckpt_file.parent.name == "checkpoints" else ckpt_file.parent
    out = Path(out_dir) if out_dir else run_dir / "eval"
    if (out / EVAL_JSON).exists() and not overwrite:
        raise FileExistsError(
            f"{out / EVAL_JSON} already exists; pass overwrite=true to replace it or out_dir=... to write elsewhere"
        )
    return ckpt_file, out


def run_config(saved: dict, cfg: DictConfig) -> DictConfig:
    """The run's saved config with the non-null eval overrides (RUN_OVERRIDES) applied, then validated."""
    run_cfg = OmegaConf.create(saved)
    for key in RUN_OVERRIDES:
        value = OmegaConf.select(cfg, key)
        if value is not None:
            OmegaConf.update(run_cfg, key, value)
    return validate(run_cfg)  # with the schema's default for a key the run's (older) config lacks


def load(ckpt_file: Path, cfg: DictConfig) -> tuple[Loaded, dict]:
    """Model (weights loaded, checked against the saved model/num_classes) and data of the checkpoint's run."""
    state = ckpt.load_checkpoint(ckpt_file)
    run_cfg = run_config(state["config"], cfg)
    device = resolve_device(run_cfg.trainer.device)
    ds = run_cfg.dataset
    model = build_network(run_cfg.model, dataset_info(ds), pretrained=False)  # the checkpoint's weights follow
    ckpt.load_model_weights(model, state, ckpt_file)
    step = step_config(run_cfg, device)
    model = model.to(device, memory_format=torch.channels_last if step.channels_last else torch.preserve_format)
    model.eval()
    data = build_data(ds, device, int(run_cfg.seed))
    return Loaded(run_cfg, model, data, step, device, int(run_cfg.trainer.eval_batch_size)), state


def ood_dataset_config(name: str, roots: dict) -> DictConfig:
    """The config of an `eval.ood_datasets` entry: configs/dataset/<name>.yaml, its root from `roots` if given."""
    path = DATASET_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DATASET_CONFIGS.glob("*.yaml"))
        raise ValueError(f"eval.ood_datasets entry {name!r} is unknown: choose from {', '.join(known)}")
    other = load_option(path)
    if name in roots:
        other.root = roots[name]
    if OmegaConf.is_missing(other, "root"):
        raise ValueError(f"eval.ood_datasets entry {name!r} needs a root: pass +eval.ood_roots.{name}=/path")
    other.holdout = 0.0
    return other


def load_ood_sets(run: Loaded, names, roots) -> dict:
    """name -> data module of each OOD dataset, loaded before any prediction so that a missing one fails fast.

    The run's own dataset name gives the run's test set itself (a sanity check: AUROC 0.5).
    """
    sets = {}
    for name in map(str, names):
        if name == run.cfg.dataset.name:
            sets[name] = run.data
            continue
        try:
            sets[name] = build_data(ood_dataset_config(name, dict(roots or {})), run.device, int(run.cfg.seed))
        except FileNotFoundError as err:
            raise ValueError(f"eval.ood_datasets entry {name!r} is not available offline: {err}") from err
    return sets


# ----------------------------------------------------------------------------------------- evaluations


def select_rows(batches, keep: torch.Tensor):
    """The rows of a fixed-order batch stream whose running index is in `keep` (only those get a forward pass)."""
    start = 0
    for images, labels in batches:
        rows = keep[(keep >= start) & (keep < start + len(labels))] - start
        start += len(labels)
        if len(rows):
            yield images[rows.to(images.device)], labels[rows.to(labels.device)]


def temperature_split(run: Loaded, ts_fraction: float) -> tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(split name, indices into the training set, logits, labels) of the images the temperature is fitted on.

    `holdout`: the run held these out of training (dataset.holdout > 0), the honest choice. `train_seen`: a
    seeded ts_fraction of the training set, which the model trained on (logged as such). `none`: an image folder
    read by workers with dataset.holdout=0 serves no training split for evaluation, so no temperature is fitted.
    """
    ds = run.cfg.dataset
    if float(ds.holdout) > 0:  # every data module serves its holdout split (both folder paths too)
        logits, labels = run.predict(run.batches("holdout"))
        return "holdout", run.data.holdout_indices, logits, labels
    if ds.name not in IN_MEMORY and not ds.in_memory:
        return "none", torch.empty(0, dtype=torch.long), None, None
    keep = heldout_split(run.data.num_train, float(ts_fraction), int(run.cfg.seed))
    log.warning(
        "temperature fitted on %d images the model TRAINED on (dataset.holdout=0); train with "
        "dataset.holdout=0.1 for an unseen split",
        len(keep),
    )
    logits, labels = run.predict(select_rows(run.batches("train"), keep))
    return "train_seen", keep, logits, labels


def temperature_scaling(run: Loaded, logits: torch.Tensor, labels: torch.Tensor, ts_fraction: float) -> dict:
    """Fit T on the training-side split (never the test set); metrics of the test logits before and after."""
    name, indices, ts_logits, ts_labels = temperature_split(run, ts_fraction)
    before = classification_metrics(logits, labels, N_BINS)
    if ts_logits is None:
        return {
            "metrics": before,
            "temperature": None,
            "after": {k: None for k in before},
            "ts_split": {"name": name, "n": 0},
            "indices": indices,
            "logits": None,
            "labels": None,
        }
    temperature = fit_temperature(ts_logits, ts_labels)
    fitted = {
        "nll_before": classification_metrics(ts_logits, ts_labels, N_BINS)["nll"],
        "nll_after": classification_metrics(ts_logits / temperature, ts_labels, N_BINS)["nll"],
    }
    return {
        "metrics": before,
        "temperature": temperature,
        "after": classification_metrics(logits / temperature, labels, N_BINS),
        "ts_split": {"name": name, "n": len(indices), **fitted},
        "indices": indices,
        "logits": ts_logits,
        "labels": ts_labels,
    }


def occlusion(run: Loaded, fractions) -> dict[str, list[list[float]]]:
    """Top-1 under a centred hole and under a border covering each fraction of the image (CutMix Fig. 5)."""
    return {
        kind: [list(point) for point in occlusion_curve(run.forward, run.batches, fractions, kind)]
        for kind in ("center", "border")
    }


def ood_detection(run: Loaded, test_logits: torch.Tensor, ood_sets: dict) -> dict[str, dict[str, float]]:
    """MSP detection (CutMix Table 12) of Gaussian/uniform noise as many as the test set, and of other datasets."""
    info, n_test = run.data.info, len(test_logits)
    shape = (info.in_chans, info.img_size, info.img_size)
    generator = torch.Generator(device=run.device).manual_seed(int(run.cfg.seed))
    results = {}
    for kind in ("gaussian", "uniform"):
        sizes = [min(run.batch_size, n_test - s) for s in range(0, n_test, run.batch_size)]
        batches = (
            (
                noise_images(n, shape, kind, generator, info.mean, info.std),
                torch.zeros(n, dtype=torch.long, device=run.device),
            )
            for n in sizes
        )
        results[kind] = ood_scores(test_logits, run.predict(batches)[0])
    norm = Normalisation(info.mean, info.std, run.device)
    for name, other in ood_sets.items():

        def to_model_input(images, other=other):  # the other set's pixels, normalised as the model expects
            return norm.pixels(adapt_images(other.denormalise(images.float()), info.in_chans, info.img_size))

        transform = None if other is run.data else to_model_input
        out_logits = run.predict(other.eval_batches("test", run.batch_size), transform)[0]
        results[name] = ood_scores(test_logits, out_logits)
    return results


# ----------------------------------------------------------------------------------------- outputs


def build_record(ckpt_file: Path, state: dict, run: Loaded, ts: dict, occ: dict, ood: dict) -> dict:
    """eval.json: metric names as in summary.json, `_ts` after temperature scaling, fractions not percent."""
    return {
        "checkpoint": str(ckpt_file),
        "epoch": int(state.get("epoch", 0)),
        "dataset": run.cfg.dataset.name,
        "model": run.cfg.get("model_choice") or run.cfg.model.name,
        **ts["metrics"],
        "temperature": ts["temperature"],
        **{f"{key}_ts": value for key, value in ts["after"].items()},
        "ts_split": ts["ts_split"],
        "occlusion_center": occ["center"],
        "occlusion_border": occ["border"],
        "ood": ood,
    }


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    """Evaluate `cfg.ckpt_path` as configs/eval.yaml describes; returns the eval.json record.

    eval.json is written last, so its presence means a complete evaluation; an existing one is replaced only
    with `overwrite=true`. Errors name the checkpoint file (missing, truncated, or weights that do not fit the
    model and num_classes of the saved config).
    """
    cfg = validate_eval(cfg)  # a bad eval.* value fails before any checkpoint or data is loaded
    ckpt_file, out = output_paths(cfg.ckpt_path, cfg.out_dir, bool(cfg.overwrite))
    run, state = load(ckpt_file, cfg)
    ood_sets = load_ood_sets(run, cfg.eval.ood_datasets, cfg.eval.ood_roots)
    logits, labels = run.predict(run.batches())
    ts = temperature_scaling(run, logits, labels, float(cfg.eval.ts_fraction))
    occ = occlusion(run, [float(f) for f in cfg.eval.occlusion_fractions])
    ood = ood_detection(run, logits, ood_sets)
    record = build_record(ckpt_file, state, run, ts, occ, ood)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "tb", ignore_errors=True)  # one event file per evaluation, not one per re-run
    write_figures(out, logits, labels, record)
    write_predictions(out / PREDICTIONS, logits, labels, ts)
    write_json(out / EVAL_JSON, record)
    return record
