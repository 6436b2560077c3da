"""What a run leaves in its directory: TensorBoard events, metrics.jsonl, summary.json or failed.json.

Sweep summaries read only these files, so their names and keys are a contract (docs/design.md, "Run directory").
JSON files are written atomically (temporary file + rename), so a killed run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from recipes.catalogue import prediction_metrics

TB_DIR = "tb"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
FAILED = "failed.json"


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary.json if the run completed, else None."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("status") == "complete" else None


class RunTracker:
    """Writes one run's logs. Only rank 0 of a distributed job creates one.

    `start_epoch` > 0 means we resume: metrics.jsonl keeps the lines of finished epochs and TensorBoard purges
    events past the resumed step, so a resumed run's logs equal an uninterrupted run's.
    """

    def __init__(self, run_dir: str | Path, start_epoch: int, start_step: int):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if start_epoch == 0:
            self._clear_previous_outputs()
        else:
            self._keep_epochs_up_to(start_epoch)
        (self.run_dir / FAILED).unlink(missing_ok=True)
        self.tb = SummaryWriter(str(self.run_dir / TB_DIR), purge_step=start_step if start_step else None)

    def _clear_previous_outputs(self) -> None:
        for name in (METRICS, SUMMARY, FAILED):
            (self.run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.run_dir / TB_DIR, ignore_errors=True)

    def _keep_epochs_up_to(self, epoch: int) -> None:
        path = self.run_dir / METRICS
        if path.is_file():
            lines = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["epoch"] <= epoch]
            path.write_text("".join(ln + "\n" for ln in lines))

    def log_step(self, step: int, loss: float, lr: float, img_per_s: float) -> None:
        self.tb.add_scalar("train/loss", loss, step)
        self.tb.add_scalar("train/lr", lr, step)
        self.tb.add_scalar("train/img_per_s", img_per_s, step)

    def log_epoch(self, record: dict, step: int) -> None:
        """One metrics.jsonl line, and the test metrics (of an evaluated epoch) as TensorBoard scalars at the
        epoch's last step."""
        for key in prediction_metrics():
            if key in record:
                self.tb.add_scalar(f"test/{key}", record[key], step)
        self.tb.add_scalar("train/epoch_loss", record["train_loss"], step)
        with open(self.run_dir / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.tb.flush()

    def log_batch_grid(self, images01: torch.Tensor, tag: str = "train/mixed_batch") -> None:
        """A grid of (up to 32) training images after mixing, so a user sees what the augmentation did."""
        from torchvision.utils import make_grid

        self.tb.add_image(tag, make_grid(images01[:32].float().cpu(), nrow=8), 0)

    def finish(self, summary: dict, hparams: dict) -> None:
        metrics = {f"hparam/{k}": summary[k] for k in prediction_metrics() if summary.get(k) is not None}
        self.tb.add_hparams(hparams, metrics, run_name=".")
        write_json(self.run_dir / SUMMARY, summary)

    def close(self) -> None:
        self.tb.close()


def write_failure(run_dir: str | Path, error: BaseException, epoch: int) -> None:
    """failed.json: the sweep summary lists this run as failed, with the error, instead of dropping it."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(
        Path(run_dir) / FAILED, {"status": "failed", "error": f"{type(error).__name__}: {error}", "epoch": epoch}
    )
