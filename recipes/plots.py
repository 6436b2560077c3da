"""Figures: reliability diagrams, x-y curves (occlusion), and sweeps against alpha and against the baseline.

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

    Used for occlusion curves (``robustness.occlusion_curve`` gives (fraction, top1) pairs); sweeps over alpha
    have ``alpha_sweep_plot``. Writes a PNG when ``path`` is given.
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


def _n_text(counts: Sequence[int]) -> str:
    low, high = min(counts), max(counts)
    return f"n = {low}" if low == high else f"n = {low}–{high}"


def _dodge(xs: Sequence[float], r: int, count: int, span: float) -> list[float]:
    """x positions shifted a little per line (r of count), so error bars at the same alpha do not hide each other."""
    shift = 0.012 * span * (r - (count - 1) / 2)
    return [x + shift for x in xs]


def alpha_sweep_plot(
    methods: Mapping[str, Sequence[tuple[float, float, float | None, int]]],
    bands: Mapping[str, tuple[float, float | None, int]],
    *,
    ylabel: str,
    path: str | Path | None = None,
) -> Figure:
    """A metric against alpha: each method a line with error bars (± std over seeds) and its n in the legend;
    each group without alpha (the baseline first, then e.g. Cutout) a horizontal band, mean ± std.

    Args:
        methods: label -> [(alpha, mean, std or None, n)].
        bands: label -> (mean, std or None, n), e.g. {"none (baseline)": (89.0, 0.4, 3)}; the first is drawn grey.
        ylabel: the metric and its unit.
        path: where to write a PNG, if given.
    """
    if not methods:
        raise ValueError("methods is empty: give at least one label -> [(alpha, mean, std, n)]")
    figure = _new_figure((6.5, 4.2))
    axis = figure.subplots()
    for r, (label, (mean, std, n)) in enumerate(bands.items()):
        colour = ("0.3", "tab:olive", "tab:cyan", "tab:pink")[r % 4]
        axis.axhline(mean, color=colour, linestyle="--", linewidth=1.2, label=f"{label}: mean ± std, {_n_text([n])}")
        if std:
            axis.axhspan(mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)
    xs = [p[0] for points in methods.values() for p in points]
    for r, (label, points) in enumerate(methods.items()):
        alpha, mean, std, n = zip(*sorted(points), strict=True)
        errors = [s or 0.0 for s in std]
        colour = _COLOURS[r % len(_COLOURS)]
        dodged = _dodge(alpha, r, len(methods), max(xs) - min(xs))
        axis.errorbar(dodged, mean, yerr=errors, marker="o", capsize=3, color=colour, label=f"{label} ({_n_text(n)})")
    axis.set(xlabel="alpha", ylabel=ylabel, title="error bars and bands: ± std over seeds")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    _save(figure, path)
    return figure


def _delta_errors(points) -> tuple[list, list]:
    """Error-bar lengths below and above each diff from (.., diff, low, high); 0 where there is no interval."""
    below = [0.0 if low is None else diff - low for *_, diff, low, high in points]
    above = [0.0 if high is None else high - diff for *_, diff, low, high in points]
    return below, above


def _delta_over_x(axis, methods: Mapping[str, Sequence[tuple]]) -> None:
    """One line per method over x with interval bars; a method whose x is None (no alpha) as a band."""
    xs = [p[0] for points in methods.values() for p in points if p[0] is not None]
    span = (max(xs) - min(xs)) if xs else 1.0
    for r, (label, points) in enumerate(methods.items()):
        colour = _COLOURS[r % len(_COLOURS)]
        if points[0][0] is None:
            _, diff, low, high = points[0]
            axis.axhline(diff, color=colour, linestyle="--", linewidth=1.2, label=f"{label} (no alpha)")
            if low is not None:
                axis.axhspan(low, high, color=colour, alpha=0.12, linewidth=0)
            continue
        below, above = _delta_errors(points)
        dodged = _dodge([p[0] for p in points], r, len(methods), span)
        diffs = [p[1] for p in points]
        axis.errorbar(dodged, diffs, yerr=[below, above], marker="o", capsize=3, color=colour, label=label)
    axis.axhline(0.0, color="black", linestyle=":", linewidth=1)
    axis.legend(fontsize="small")


def _delta_per_method(axis, methods: Mapping[str, Sequence[tuple]], xlabel: str) -> None:
    """One horizontal interval per method (a row each), 0 marked."""
    for r, (_, points) in enumerate(methods.items()):
        below, above = _delta_errors(points)
        colour = _COLOURS[r % len(_COLOURS)]
        axis.errorbar(points[0][0], r, xerr=[below, above], marker="o", capsize=4, color=colour)
    axis.axvline(0.0, color="black", linestyle=":", linewidth=1)
    axis.set_yticks(range(len(methods)), list(methods))
    axis.set(xlabel=xlabel, ylim=(len(methods) - 0.4, -0.6))


def delta_plot(
    panels: Mapping[str, Mapping[str, Sequence[tuple]]],
    *,
    title: str = "against the baseline",
    path: str | Path | None = None,
) -> Figure:
    """Differences against the baseline with their 95 % intervals, one panel per metric.

    Two layouts, by the points given: (x, diff, low, high) points draw each method as a line over x (alpha),
    x None a method without alpha as a band; (diff, low, high) points draw one horizontal interval per method
    (a method comparison). low and high may be None (one seed: no interval): the point is drawn alone. A dotted
    line marks 0.

    Args:
        panels: axis label (e.g. "Δ top-1 (points)") -> method label -> points.
        title: the figure's title, e.g. naming the baseline.
        path: where to write a PNG, if given.
    """
    if not panels or not all(panels.values()):
        raise ValueError(f"every panel needs at least one method with points, got {dict(panels)!r}")
    over_x = len(next(iter(next(iter(panels.values())).values()))[0]) == 4
    rows = max(len(m) for m in panels.values())
    figure = _new_figure((6.5, 3.2 * len(panels)) if over_x else (9.0, (1.0 + 0.4 * rows) * len(panels)))
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for axis, (label, methods) in zip(axes, panels.items(), strict=True):
        if over_x:
            _delta_over_x(axis, methods)
            axis.set(xlabel="alpha", ylabel=label)
        else:
            _delta_per_method(axis, methods, label)
        axis.grid(alpha=0.3)
    axes[0].set_title(f"{title} (bars: 95 % confidence interval)")
    _save(figure, path)
    return figure
