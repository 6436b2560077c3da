"""The compact text report eval.py prints from an eval.json record (recipes.evaluate builds the record)."""

from __future__ import annotations

from recipes.catalogue import is_percent
from recipes.metrics import CLASSIFICATION_METRICS


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_table(record: dict) -> str:
    """The compact stdout report: metrics before/after temperature scaling, occlusion, OOD detection."""
    lines = [f"{record['model']} on {record['dataset']}, {record['checkpoint']} (epoch {record['epoch']})"]
    split, temperature = record["ts_split"], record["temperature"]
    if temperature is None:
        lines.append("temperature scaling: not fitted (this dataset serves no training split to evaluation)")
    else:
        seen = "  (images SEEN in training: train with dataset.holdout=0.1)" if split["name"] == "train_seen" else ""
        lines.append(
            f"temperature {temperature:.4f} fitted on {split['name']} (n={split['n']}): its NLL "
            f"{split['nll_before']:.4f} -> {split['nll_after']:.4f}{seen}"
        )
    lines.append(f"{'metric':<15}{'clean':>9}{'after TS':>10}")
    for key in CLASSIFICATION_METRICS:
        fmt = _pct if is_percent(key) else (lambda v: "-" if v is None else f"{v:.4f}")
        name = f"{key} (%)" if is_percent(key) else key
        lines.append(f"{name:<15}{fmt(record[key]):>9}{fmt(record[key + '_ts']):>10}")
    fractions = [f for f, _ in record["occlusion_center"]]
    lines.append("occlusion top-1 (%) at occluded area " + " ".join(f"{100 * f:>6.1f}%" for f in fractions))
    for kind in ("center", "border"):
        lines.append(f"  {kind:<35}" + " ".join(f"{_pct(a):>7}" for _, a in record[f"occlusion_{kind}"]))
    lines.append(f"{'OOD by max softmax (%)':<24}{'AUROC':>8}{'TNR@95':>8}{'det.acc':>8}")
    for name, r in record["ood"].items():
        lines.append(f"  {name:<22}{_pct(r['auroc']):>8}{_pct(r['tnr_at_tpr95']):>8}{_pct(r['detection_acc']):>8}")
    return "\n".join(lines)
