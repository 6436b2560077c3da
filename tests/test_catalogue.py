"""The metric catalogue is the one home of each metric's facts, and every producer of metrics stays inside it."""

import torch

from recipes import catalogue
from recipes.metrics import CLASSIFICATION_METRICS, classification_metrics
from recipes.robustness_run import SUMMARY_KEYS
from recipes.run import run_training


def test_every_metric_a_run_or_eval_computes_is_catalogued():
    logits, labels = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 10
    assert tuple(classification_metrics(logits, labels)) == CLASSIFICATION_METRICS
    assert set(CLASSIFICATION_METRICS) <= set(catalogue.CATALOGUE)


def test_directions_and_display_follow_the_entries():
    assert catalogue.higher_is_better("top1") is True and catalogue.higher_is_better("ece") is False
    assert catalogue.higher_is_better("wall_s") is None and catalogue.higher_is_better("no_such_metric") is None
    assert catalogue.is_percent("top1") and not catalogue.is_percent("nll")
    assert catalogue.is_percent("ood.uniform_noise.auroc") and catalogue.higher_is_better("ood.cifar10.auroc")
    # every verdicted metric has a direction: the verdict word needs it
    assert all(catalogue.higher_is_better(m) is not None for m in catalogue.verdict_metrics())
    assert set(catalogue.verdict_metrics()) <= set(catalogue.summary_metrics())


def test_a_run_writes_every_summary_metric(tmp_path, fast_cfg):
    summary = run_training(fast_cfg("trainer.precision=fp32"), tmp_path / "run")  # robustness off (FAST)
    assert set(catalogue.summary_metrics()) - set(SUMMARY_KEYS) <= set(summary)
    assert not set(SUMMARY_KEYS) & set(summary)  # tests/test_robustness_run.py: a run with them
    assert all(0.0 <= summary[m] <= 1.0 for m in catalogue.prediction_metrics() if m not in ("nll", *SUMMARY_KEYS))
    # what it ran on and in which format, for a results table (recipes.precision)
    assert summary["step_format"].startswith("fp32, NCHW (as set by") and " cores (CPU: " in summary["hardware"]
