"""The files an evaluation writes beside eval.json: predictions.npz and the reliability and occlusion figures.

predictions.npz keeps the test logits and labels, the temperature and the split it was fitted on, so later
analysis needs no re-run; the reliability diagram also goes to TensorBoard (`tb/`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from recipes.catalogue import N_BINS
from recipes.plots import curve_plot, figure_rgb, reliability_diagram


def write_predictions(path: Path, logits: torch.Tensor, labels: torch.Tensor, ts: dict) -> None:
    """predictions.npz, atomically: test logits/labels, the temperature (NaN if none) and its fitting split."""
    fitted = ts["logits"] is not None
    ts_logits = ts["logits"].cpu().numpy() if fitted else np.zeros((0, logits.shape[1]), np.float32)
    ts_labels = ts["labels"].cpu().numpy() if fitted else np.zeros(0, np.int64)
    temperature = ts["temperature"] if fitted else np.nan
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(
            f,
            logits=logits.cpu().numpy(),
            labels=labels.cpu().numpy(),
            temperature=np.float64(temperature),
            ts_split=np.str_(ts["ts_split"]["name"]),
            ts_indices=ts["indices"].cpu().numpy(),
            ts_logits=ts_logits,
            ts_labels=ts_labels,
        )
    os.replace(tmp, path)


def write_figures(out: Path, logits: torch.Tensor, labels: torch.Tensor, record: dict) -> None:
    """reliability.png (before and after scaling overlaid), occlusion.png, and the diagram in TensorBoard."""
    from torch.utils.tensorboard import SummaryWriter

    temperature, scales, runs = record["temperature"], {"before TS": 1.0}, {}
    if temperature is not None:
        scales[f"after TS (T = {temperature:.3f})"] = temperature
    for label, scale in scales.items():
        confidence, prediction = (logits.double() / scale).softmax(dim=1).max(dim=1)
        runs[label] = (confidence.cpu(), (prediction == labels).cpu())
    figure = reliability_diagram(runs, N_BINS, out / "reliability.png")
    curve_plot(
        {"centred hole": record["occlusion_center"], "border": record["occlusion_border"]},
        "occluded fraction of the image",
        "top-1 accuracy",
        out / "occlusion.png",
        title=f"Occlusion, {record['model']} on {record['dataset']}",
    )
    with SummaryWriter(str(out / "tb")) as writer:
        writer.add_image("eval/reliability", figure_rgb(figure), record["epoch"], dataformats="HWC")
