"""Figures for evaluation: reliability diagrams and x-y curves (occlusion, accuracy against alpha).

Figures are built as ``matplotlib.figure.Figure`` objects on an Agg canvas, never through ``pyplot``, so no
global figure state is created or leaked and nothing needs a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recipes.metrics import expected_calibration_error, reliability_bins

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")


def _new_figure(figsize: tuple[float, float]) -> Figure:
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path | None) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=120)


def figure_rgb(figure: Figure) -> np.ndarray:
    """The figure rendered to an (H, W, 3) uint8 array (for TensorBoard's add_image with dataformats="HWC")."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def reliability_diagram(
    runs: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    n_bins: int = 15,
    path: str | Path | None = None,
) -> Figure:
    """Per-bin accuracy against confidence for one or more runs, over the bins of ``reliability_bins``.

    Top panel: for each run a bar per bin (height = the bin's accuracy, the runs side by side within each
    bin), the gap between accuracy and the bin's mean confidence hatched, the diagonal of perfect calibration,
    and the run's ECE in the legend. Bottom panel: the fraction of the run's samples in each bin. When any
    run has confidences equal to 1, their bin (see ``recipes.metrics``) is drawn after 1, labelled "=1".
    Bars carry gids ``"accuracy:<run>"``, ``"gap:<run>"`` and ``"count:<run>"``.

    Args:
        runs: label -> (confidences (N,), correct (N,)), e.g. top-1 probabilities and whether they were right.
        n_bins: equal-width bins over [0, 1].
        path: where to write a PNG, if given.
    """
    if not runs:
        raise ValueError("runs is empty: give at least one label -> (confidences, correct)")
    binned = {
        label: reliability_bins(torch.as_tensor(conf).cpu(), torch.as_tensor(correct).cpu(), n_bins)
        for label, (conf, correct) in runs.items()
    }
    with_one = any(bins["count"][-1] > 0 for bins in binned.values())
    n_slots = n_bins + 1 if with_one else n_bins
    width = 1.0 / n_bins
    slot_left = [m * width for m in range(n_bins)] + [1.0 + 0.5 * width]  # the "=1" slot after a small gap
    bar_width = width / len(runs)

    figure = _new_figure((6.0, 6.5))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    top.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=1, label="perfect calibration")
    for r, (label, bins) in enumerate(binned.items()):
        colour = _COLOURS[r % len(_COLOURS)]
        lefts = [slot_left[m] + r * bar_width for m in range(n_slots)]
        accuracy = bins["accuracy"][:n_slots].tolist()
        gap = (bins["confidence"] - bins["accuracy"])[:n_slots].tolist()
        ece = expected_calibration_error(bins).item()
        top.bar(
            lefts,
            accuracy,
            width=bar_width,
            align="edge",
            color=colour,
            alpha=0.8,
            edgecolor="black",
            linewidth=0.5,
            gid=f"accuracy:{label}",
            label=f"{label}  (ECE = {100 * ece:.2f} %)",
        )
        top.bar(
            lefts,
            gap,
            bottom=accuracy,
            width=bar_width,
            align="edge",
            facecolor="none",
            edgecolor=colour,
            hatch="///",
            linewidth=0.5,
            gid=f"gap:{label}",
        )
        share = (bins["count"] / bins["count"].sum())[:n_slots].tolist()
        bottom.bar(lefts, share, width=bar_width, align="edge", color=colour, alpha=0.8, gid=f"count:{label}")

    right = slot_left[n_bins] + width if with_one else 1.0
    top.set(xlim=(0, right), ylim=(0, 1), ylabel="accuracy", title="Reliability diagram (hatched: gap)")
    top.legend(loc="upper left", fontsize="small")
    bottom.set(xlim=(0, right), xlabel="confidence", ylabel="fraction of samples")
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    bottom.set_xticks(
        ticks + ([slot_left[n_bins] + 0.5 * width] if with_one else []),
        [f"{t:.1f}" for t in ticks] + (["=1"] if with_one else []),
    )
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    _save(figure, path)
    return figure


def curve_plot(
    curves: Mapping[str, Sequence[tuple[float, ...]]],
    xlabel: str,
    ylabel: str,
    path: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """Lines with markers, one per label; points are (x, y) or (x, mean, std), the latter with a ±std band.

    Used for occlusion curves (``robustness.occlusion_curve`` gives (fraction, top1) pairs) and for metrics
    against a swept value such as alpha (mean and std over seeds). Writes a PNG when ``path`` is given.
    """
    if not curves:
        raise ValueError("curves is empty: give at least one label -> points")
    figure = _new_figure((6.0, 4.0))
    axis = figure.subplots()
    for r, (label, points) in enumerate(curves.items()):
        sizes = {len(point) for point in points}
        if not points or len(sizes) != 1 or sizes.pop() not in (2, 3):
            raise ValueError(
                f"curve {label!r} needs points that are all (x, y) or all (x, mean, std), got {list(points)!r}"
            )
        columns = list(zip(*sorted(points), strict=True))
        colour = _COLOURS[r % len(_COLOURS)]
        axis.plot(columns[0], columns[1], marker="o", color=colour, label=label)
        if len(columns) == 3:
            low = [m - s for m, s in zip(columns[1], columns[2], strict=True)]
            high = [m + s for m, s in zip(columns[1], columns[2], strict=True)]
            axis.fill_between(columns[0], low, high, color=colour, alpha=0.2, linewidth=0)
    axis.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    _save(figure, path)
    return figure
