"""A sweep's figures and TensorBoard hparams: metric against alpha, each group minus its baseline, reliability.

Drawn by recipes.plots from the groups and verdicts that recipes.sweeps.runs and recipes.sweeps.verdict compute.
"""

from __future__ import annotations

from pathlib import Path

from recipes import catalogue
from recipes.catalogue import N_BINS, is_percent
from recipes.sweeps.runs import MISSING, Group, format_value, group_label

ALPHA_KEY = "augment.alpha"


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def curve_labels(groups: list[Group]) -> list[str]:
    """A short line label per group: the non-alpha group keys that tell the lines apart (e.g. "cutmix").

    Keys a group lacks (MISSING, e.g. augment.mode for the baseline) and keys with one value left are omitted.
    """
    keys = [k for k in (groups[0].values if groups else {}) if k != ALPHA_KEY]
    keys = [k for k in keys if len({format_value(g.values[k]) for g in groups if g.values[k] is not MISSING}) > 1]
    labels = []
    for group in groups:
        present = [(k, format_value(group.values[k])) for k in keys if group.values[k] is not MISSING]
        if len(keys) == 1 and present:
            labels.append(present[0][1])
        else:
            labels.append(", ".join(f"{k}={v}" for k, v in present))
    return labels


def alpha_series(groups: list[Group], metric: str, baselines: tuple[Group, ...] = ()) -> tuple[dict, dict]:
    """(methods, bands) for alpha_sweep_plot; percent metrics scaled to percent (see curve_labels for labels).

    methods: label -> [(alpha, mean, std or None, n)] for groups with a numeric alpha; bands: label ->
    (mean, std or None, n) for the others, drawn as horizontal bands: `baselines` first, marked "(baseline)".
    """
    scale = 100.0 if is_percent(metric) else 1.0
    methods: dict[str, list] = {}
    bands: dict[str, tuple] = {}
    order = sorted(range(len(groups)), key=lambda i: not any(groups[i] is b for b in baselines))
    labels = curve_labels(groups)
    for group, label in ((groups[i], labels[i]) for i in order):
        if any(group is b for b in baselines):
            label = f"{label or 'baseline'} (baseline)"
        stat = group.stats().get(metric)
        if stat is None:
            continue
        point = (scale * stat.mean, None if stat.std is None else scale * stat.std, stat.n)
        alpha = group.values[ALPHA_KEY]
        if _is_number(alpha):
            methods.setdefault(label or metric, []).append((alpha, *point))
        else:
            bands[label or "no alpha"] = point
    return {label: sorted(points) for label, points in methods.items()}, bands


def delta_title(metric: str) -> str:
    """A delta panel's axis label: "Δ top-1 (points; higher is better)", "Δ ECE (lower is better)"."""
    unit = "points; " if is_percent(metric) else ""
    direction = "higher" if catalogue.higher_is_better(metric) else "lower"
    return f"Δ {catalogue.label(metric)} ({unit}{direction} is better)"


def delta_panels(groups: list[Group], verdicts: list, *, over_alpha: bool) -> dict:
    """Axis label -> method label -> points for recipes.plots.delta_plot, from the verdicts' comparisons.

    over_alpha: (alpha, diff, low, high) per group (alpha None for a group without one); else (diff, low, high).
    """
    labels = dict(zip(map(id, groups), curve_labels(groups), strict=True))
    titles = {metric: delta_title(metric) for metric in catalogue.verdict_metrics()}
    panels: dict[str, dict] = {name: {} for name in titles.values()}
    for verdict in verdicts:
        alpha = verdict.group.values.get(ALPHA_KEY)
        alpha = alpha if _is_number(alpha) else None
        found = {c.metric: c for c in verdict.comparisons}
        for metric, name in titles.items():
            c = found.get(metric)
            if c is None:
                continue
            scale = 100.0 if is_percent(metric) else 1.0
            low, high = (None, None) if c.low is None else (scale * c.low, scale * c.high)
            point = (scale * c.diff, low, high)
            row = labels[id(verdict.group)] or metric
            if not over_alpha:  # one row per method: its seeds beside it
                row = f"{row} (n = {c.n} / {c.n_base})"
            panels[name].setdefault(row, []).append((alpha, *point) if over_alpha else point)
    return {name: {k: sorted(v, key=str) for k, v in methods.items()} for name, methods in panels.items() if methods}


def swept_alpha(groups: list[Group]) -> bool:
    """Whether some method ran at two alphas or more; methods compared at one alpha each are no alpha sweep."""
    alphas: dict = {}
    for group in groups:
        if _is_number(alpha := group.values.get(ALPHA_KEY)):
            alphas.setdefault(str(group.values.get("augment.name")), set()).add(alpha)
    return any(len(values) > 1 for values in alphas.values())


def plot_alpha(groups: list[Group], out: Path, verdicts: list | None = None) -> list[Path]:
    """top1_vs_alpha.png, ece_vs_alpha.png and (with a baseline) delta_vs_alpha.png, when a method ran two alphas
    or more; else delta_vs_baseline.png (one interval per method) when there is a baseline."""
    from recipes.plots import alpha_sweep_plot, delta_plot

    over_alpha = swept_alpha(groups)
    baselines = tuple(v.group for v in verdicts or [] if v.is_baseline)
    written = []
    for metric in ("top1", "ece"):
        name = catalogue.label(metric)
        ylabel = f"{name} (%)" if is_percent(metric) else f"{name} ({N_BINS} bins)"
        methods, bands = alpha_series(groups, metric, baselines) if over_alpha else ({}, {})
        if methods:
            written.append(out / f"{metric}_vs_alpha.png")
            alpha_sweep_plot(methods, bands, ylabel=ylabel, path=written[-1])
    panels = delta_panels(groups, verdicts or [], over_alpha=over_alpha)
    if panels:
        written.append(out / ("delta_vs_alpha.png" if over_alpha else "delta_vs_baseline.png"))
        names = ", ".join(sorted({curve_labels(groups)[groups.index(b)] or "baseline" for b in baselines}))
        delta_plot(panels, title=f"group − baseline ({names})", path=written[-1])
    return written


def reliability_inputs(groups: list[Group]) -> dict:
    """label -> (confidences, correct) from eval/predictions.npz of the lowest-seed complete run per group."""
    import numpy as np

    inputs = {}
    for group in groups:
        runs = sorted(group.complete, key=lambda r: str(r.config.get("seed")))
        path = next(
            (r.path / "eval" / "predictions.npz" for r in runs if (r.path / "eval" / "predictions.npz").is_file()), None
        )
        if path is None:
            continue
        with np.load(path, allow_pickle=False) as data:  # arrays only: a pickled object could run code
            logits, labels = data["logits"].astype(np.float64), data["labels"]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        inputs[group_label(group)] = (probs.max(axis=1), probs.argmax(axis=1) == labels)
    return inputs


def plot_reliability(groups: list[Group], out: Path) -> list[Path]:
    inputs = reliability_inputs(groups)
    if not inputs:
        return []
    from recipes.plots import reliability_diagram

    path = out / "reliability.png"
    reliability_diagram(inputs, n_bins=N_BINS, path=path)
    return [path]


def _tb_value(value):
    return value if _is_number(value) or isinstance(value, bool | str) else format_value(value)


def write_hparams(groups: list[Group], out: Path) -> int:
    """An hparams entry per complete run (group keys + seed -> final metrics); returns the count."""
    from torch.utils.tensorboard import SummaryWriter

    count = 0
    with SummaryWriter(log_dir=str(out / "tb_hparams")) as writer:
        for group in groups:
            for run in group.complete:
                hparams = {k: _tb_value(v) for k, v in group.values.items()}
                hparams["seed"] = _tb_value(run.config.get("seed", MISSING))
                name = f"{count:04d}_{run.path.name}"
                writer.add_hparams(hparams, dict(run.metrics), run_name=name)
                count += 1
    return count
