"""recipes.metrics: accuracy, NLL, Brier and calibration errors, checked against torchmetrics and by hand."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

from recipes.metrics import (
    adaptive_ece,
    classification_metrics,
    classwise_ece,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_bins,
)
from recipes.plots import curve_plot, reliability_diagram


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


KEYS = {"top1", "top5", "nll", "brier", "ece", "mce", "ada_ece", "classwise_ece"}


def _random_case(n, c, scale, seed):
    """Logits of the given temperature and labels that agree with the arg-max about 70 % of the time."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    random_labels = torch.randint(0, c, (n,), generator=g)
    agree = torch.rand(n, generator=g) < 0.7
    return logits, torch.where(agree, logits.argmax(dim=1), random_labels)


def _ours_from_probs(probs, labels, n_bins=15):
    conf, pred = probs.max(dim=1)
    bins = reliability_bins(conf, (pred == labels).double(), n_bins)
    return expected_calibration_error(bins).item(), maximum_calibration_error(bins).item()


def _torchmetrics(probs, labels, n_bins, norm):
    metric = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=n_bins, norm=norm)
    return metric(probs, labels).item()


# ----------------------------------------------------------------------------------------- ECE / MCE


@pytest.mark.parametrize("c", [2, 10, 100])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_ece_mce_match_torchmetrics_on_random_logits(n, c):
    # scale 60 saturates many confidences to exactly 1 in float32: torchmetrics' extra bin is exercised.
    for scale in (0.1, 1.0, 4.0, 60.0):
        for seed in range(3):
            logits, labels = _random_case(n, c, scale, seed)
            probs = logits.softmax(dim=1)
            ours = classification_metrics(logits, labels)
            assert ours["ece"] == pytest.approx(_torchmetrics(probs, labels, 15, "l1"), abs=1e-6)
            assert ours["mce"] == pytest.approx(_torchmetrics(probs, labels, 15, "max"), abs=1e-6)


def test_confidences_exactly_on_bin_edges_match_torchmetrics():
    # Top-1 confidences exactly on the float32 edges torchmetrics uses, on the float64 values k/15 (which
    # differ from those edges by up to 4e-8, to either side), on 1 and next to 1; C = 20 keeps each the max.
    edges32 = torch.linspace(0, 1, 16, dtype=torch.float32).double()[1:]
    exact = torch.arange(1, 16, dtype=torch.float64) / 15
    tops = torch.cat([edges32, exact, torch.tensor([1.0, 1 - 1e-9, 1 - 1e-7])])
    c = 20
    probs = torch.cat([tops[:, None], ((1 - tops) / (c - 1))[:, None].expand(-1, c - 1)], dim=1)
    assert torch.equal(probs.max(dim=1).values, tops)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        labels = torch.where(torch.rand(len(tops), generator=g) < 0.6, 0, 1)
        ece, mce = _ours_from_probs(probs, labels)
        assert ece == pytest.approx(_torchmetrics(probs, labels, 15, "l1"), abs=1e-6)
        assert mce == pytest.approx(_torchmetrics(probs, labels, 15, "max"), abs=1e-6)


def test_ece_mce_hand_computed():
    # 0.30 and 0.31 share bin [4/15, 5/15): acc 1/2, conf 0.305; 0.90 and 0.92 share [13/15, 14/15): acc 1,
    # conf 0.91. ECE = 0.5 * 0.195 + 0.5 * 0.09 = 0.1425; MCE = 0.195.
    bins = reliability_bins(f64([0.30, 0.31, 0.90, 0.92]), torch.tensor([1, 0, 1, 1]))
    assert expected_calibration_error(bins).item() == pytest.approx(0.1425, abs=1e-12)
    assert maximum_calibration_error(bins).item() == pytest.approx(0.195, abs=1e-12)
    assert bins["count"][4].item() == 2 and bins["count"][13].item() == 2 and bins["count"].sum().item() == 4


def test_bins_are_left_closed_hand_computed():
    # 4 bins with exact edges: 0.25 belongs to [0.25, 0.5), 0.5 to [0.5, 0.75), 0.75 to [0.75, 1): each
    # sample alone, ECE = (0.2 + 0.75 + 0.5 + 0.25) / 4 = 0.425 (right-closed bins would give 0.325).
    conf, correct = f64([0.2, 0.25, 0.5, 0.75]), torch.tensor([0, 1, 0, 1])
    bins = reliability_bins(conf, correct, n_bins=4)
    assert bins["count"].tolist() == [1, 1, 1, 1, 0]
    assert expected_calibration_error(bins).item() == pytest.approx(0.425, abs=1e-12)
    c = 8  # class 0 gets conf, the 7 others share the rest, so conf is the top-1 confidence
    probs = torch.cat([conf[:, None], ((1 - conf) / (c - 1))[:, None].expand(-1, c - 1)], dim=1)
    labels = 1 - correct
    assert _torchmetrics(probs, labels, 4, "l1") == pytest.approx(0.425, abs=1e-6)


def test_confidence_one_has_its_own_bin_hand_computed():
    # torchmetrics puts confidence 1 in an extra bin: |0 - 1| / 2 + |1 - 0.95| / 2 = 0.525 (merged: 0.475).
    bins = reliability_bins(f64([1.0, 0.95]), torch.tensor([0, 1]))
    assert bins["count"][-1].item() == 1 and bins["count"][14].item() == 1
    assert expected_calibration_error(bins).item() == pytest.approx(0.525, abs=1e-12)
    assert maximum_calibration_error(bins).item() == pytest.approx(1.0, abs=1e-12)


def test_confidence_zero_goes_to_the_first_bin():
    bins = reliability_bins(f64([0.0, 0.05]), torch.tensor([0, 1]), n_bins=10)
    assert bins["count"][0].item() == 2
    assert bins["accuracy"][0].item() == pytest.approx(0.5)
    assert bins["confidence"][0].item() == pytest.approx(0.025)


def test_reliability_bins_edges_and_empty_bins():
    bins = reliability_bins(f64([0.55]), torch.tensor([True]), n_bins=10)
    assert bins["edges"].shape == (11,) and bins["edges"][0] == 0 and bins["edges"][-1] == 1
    assert bins["count"].shape == bins["accuracy"].shape == bins["confidence"].shape == (11,)
    assert bins["count"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert bins["accuracy"][5] == 1 and bins["accuracy"].sum() == 1 and bins["confidence"].sum() == 0.55


# ----------------------------------------------------------------------------------------- other metrics


@pytest.mark.parametrize("c", [2, 10, 100])
def test_topk_and_nll_match_references(c):
    for scale in (0.5, 3.0):
        logits, labels = _random_case(1000, c, scale, seed=c)
        logits = logits.float()
        ours = classification_metrics(logits, labels)
        k = min(5, c)
        top1 = MulticlassAccuracy(num_classes=c, top_k=1, average="micro")(logits, labels).item()
        topk = MulticlassAccuracy(num_classes=c, top_k=k, average="micro")(logits, labels).item()
        assert ours["top1"] == pytest.approx(top1, abs=1e-7)
        assert ours["top5"] == pytest.approx(topk, abs=1e-7)
        assert ours["nll"] == pytest.approx(F.cross_entropy(logits.double(), labels).item(), abs=1e-10)
        assert ours["top1"] <= ours["top5"]


def test_brier_hand_computed():
    # p = (0.7, 0.2, 0.1), y = 0: 0.09 + 0.04 + 0.01 = 0.14;
    # p = (0.25, 0.25, 0.5), y = 1: 0.0625 + 0.5625 + 0.25 = 0.875; mean 0.5075.
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]], dtype=torch.float64)
    out = classification_metrics(probs.log(), torch.tensor([0, 1]))
    assert out["brier"] == pytest.approx(0.5075, abs=1e-12)
    assert out["nll"] == pytest.approx(-(math.log(0.7) + math.log(0.25)) / 2, abs=1e-12)
    assert out["top1"] == 0.5 and out["top5"] == 1.0


def test_adaptive_ece_hand_computed():
    # 2 equal-mass bins over 4 samples: {0.1, 0.2} acc 1/2 conf 0.15; {0.8, 0.9} acc 1 conf 0.85;
    # AdaECE = 0.5 * 0.35 + 0.5 * 0.15 = 0.25 (shuffled input order must not matter).
    conf, correct = f64([0.8, 0.1, 0.9, 0.2]), torch.tensor([1, 0, 1, 1])
    assert adaptive_ece(conf, correct, n_bins=2).item() == pytest.approx(0.25, abs=1e-12)
    # One sample per bin: the mean of |correct - conf|; more bins than samples: empty bins are skipped.
    expected = (0.2 + 0.1 + 0.1 + 0.8) / 4
    assert adaptive_ece(conf, correct, n_bins=4).item() == pytest.approx(expected, abs=1e-12)
    assert adaptive_ece(conf, correct, n_bins=15).item() == pytest.approx(expected, abs=1e-12)


def test_adaptive_ece_bins_have_equal_counts():
    # 10 samples in 3 bins get sizes 4, 3, 3 (floor(i * 3 / 10)); all wrong, so AdaECE = mean confidence.
    conf = torch.linspace(0.1, 0.9, 10)
    assert adaptive_ece(conf, torch.zeros(10), n_bins=3).item() == pytest.approx(conf.double().mean().item())
    # Bins {0..3} (all right), {4..6} and {7..9} (all wrong):
    # 0.4 |1 - mean c0..3| + 0.3 mean c4..6 + 0.3 mean c7..9
    correct = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    c = conf.double()
    expected = 0.4 * (1 - c[:4].mean()) + 0.3 * c[4:7].mean() + 0.3 * c[7:].mean()
    assert adaptive_ece(conf, correct, n_bins=3).item() == pytest.approx(expected.item(), abs=1e-12)


def test_classwise_ece_hand_computed():
    # Class 0: p = (.62, .52, .64), y = (1, 0, 0): .62, .64 share [9/15, 10/15) -> 2 * |.5 - .63| + .52 = .78
    # Class 1: p = (.28, .11, .30), y = (0, 0, 1): .28, .30 share a bin -> 2 * |.5 - .29| + .11 = .53
    # Class 2: p = (.10, .37, .06), y = (0, 1, 0): all apart -> .10 + .63 + .06 = .79
    # SCE = (.78 + .53 + .79) / (3 classes * 3 samples) = 2.1 / 9.
    probs = torch.tensor([[0.62, 0.28, 0.10], [0.52, 0.11, 0.37], [0.64, 0.30, 0.06]], dtype=torch.float64)
    labels = torch.tensor([0, 2, 1])
    assert classwise_ece(probs, labels).item() == pytest.approx(2.1 / 9, abs=1e-12)
    assert classification_metrics(probs.log(), labels)["classwise_ece"] == pytest.approx(2.1 / 9, abs=1e-12)


def test_classwise_ece_equals_mean_of_per_class_reliability_ece():
    for c, scale in ((2, 1.0), (10, 3.0), (100, 8.0)):
        logits, labels = _random_case(500, c, scale, seed=c)
        probs = logits.softmax(dim=1)
        per_class = [
            expected_calibration_error(reliability_bins(probs[:, k], (labels == k).double())).item() for k in range(c)
        ]
        assert classwise_ece(probs, labels).item() == pytest.approx(sum(per_class) / c, abs=1e-12)


def test_calibrated_data_has_small_errors_and_sharpened_data_does_not():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200_000, 10, generator=g, dtype=torch.float64) * 2
    labels = torch.multinomial(logits.softmax(dim=1), 1, generator=g).squeeze(1)
    calibrated = classification_metrics(logits, labels)
    assert calibrated["ece"] < 0.005 and calibrated["ada_ece"] < 0.005 and calibrated["classwise_ece"] < 0.005
    sharpened = classification_metrics(logits * 3, labels)
    assert sharpened["ece"] > 0.1 and sharpened["ada_ece"] > 0.1 and sharpened["classwise_ece"] > 0.01


def test_output_is_python_floats_in_range():
    logits, labels = _random_case(300, 10, 2.0, seed=1)
    out = classification_metrics(logits.float(), labels)
    assert set(out) == KEYS and all(type(v) is float for v in out.values())
    for key in ("top1", "top5", "ece", "mce", "ada_ece", "classwise_ece"):
        assert 0.0 <= out[key] <= 1.0
    assert 0.0 <= out["brier"] <= 2.0 and out["nll"] >= 0.0


def test_perfect_confident_predictions_score_zero():
    labels = torch.tensor([0, 1, 2, 1])
    out = classification_metrics(F.one_hot(labels, 3).double() * 100, labels)
    assert out["top1"] == 1.0 and out["ece"] == pytest.approx(0, abs=1e-12)
    assert out["brier"] == pytest.approx(0, abs=1e-12) and out["nll"] == pytest.approx(0, abs=1e-12)


# ----------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("logits", "labels", "n_bins", "match"),
    [
        (torch.zeros(3, 4), torch.tensor([0, 1, 4]), 15, r"\[0, 4\]"),
        (torch.zeros(3, 4), torch.tensor([0, -1, 2]), 15, r"\[-1, 2\]"),
        (torch.zeros(3, 4), torch.tensor([0, 1]), 15, r"\(3,\)"),
        (torch.zeros(3), torch.tensor([0, 1, 2]), 15, r"\(3,\)"),
        (torch.zeros(3, 4), torch.tensor([0.0, 1.0, 2.0]), 15, "float"),
        (torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), 15, "NaN"),
        (torch.zeros(3, 4), torch.tensor([0, 1, 2]), 0, "0"),
    ],
)
def test_bad_input_raises_naming_the_value(logits, labels, n_bins, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(logits, labels, n_bins=n_bins)


def test_bad_confidences_raise():
    with pytest.raises(ValueError, match="1.5"):
        reliability_bins(torch.tensor([0.5, 1.5]), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        reliability_bins(torch.tensor([0.5, 0.5]), torch.tensor([1, 0, 1]))


# ------------------------------------------------------------------------------ plots (recipes.plots)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bars(figure, gid):
    return [p for axis in figure.axes for p in axis.patches if p.get_gid() == gid]


def test_reliability_diagram_bars_are_the_bins_and_the_png_is_written(tmp_path):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(800, 10, generator=g, dtype=torch.float64) * 2
    labels = torch.multinomial(logits.softmax(dim=1), 1, generator=g).squeeze(1)
    runs = {}
    for name, k in (("calibrated", 1.0), ("sharpened", 4.0), ("saturated", 40.0)):
        conf, pred = (logits * k).softmax(dim=1).max(dim=1)
        runs[name] = (conf, pred == labels)
    assert (runs["saturated"][0] == 1).any()  # the "= 1" bin is drawn: n_bins + 1 bars per run
    path = tmp_path / "sub" / "reliability.png"
    figure = reliability_diagram(runs, n_bins=15, path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    for name, (conf, correct) in runs.items():
        bins = reliability_bins(conf, correct.double(), 15)
        heights = [p.get_height() for p in _bars(figure, f"accuracy:{name}")]
        assert heights == pytest.approx(bins["accuracy"].tolist(), abs=1e-12)
        gaps = [p.get_height() for p in _bars(figure, f"gap:{name}")]
        assert gaps == pytest.approx((bins["confidence"] - bins["accuracy"]).tolist(), abs=1e-12)
        shares = [p.get_height() for p in _bars(figure, f"count:{name}")]
        assert shares == pytest.approx((bins["count"] / len(conf)).tolist(), abs=1e-12)
        ece = expected_calibration_error(bins).item()
        assert f"{name}  (ECE = {100 * ece:.2f} %)" in legend
    assert plt.get_fignums() == []  # no pyplot state was created


def test_reliability_diagram_without_saturated_confidences_has_n_bins_bars():
    conf, correct = f64([0.15, 0.55, 0.56, 0.95]), torch.tensor([0, 1, 0, 1])
    figure = reliability_diagram({"run": (conf, correct)}, n_bins=10)
    heights = [p.get_height() for p in _bars(figure, "accuracy:run")]
    assert heights == pytest.approx([0, 0, 0, 0, 0, 0.5, 0, 0, 0, 1.0])
    with pytest.raises(ValueError, match="empty"):
        reliability_diagram({})


def test_curve_plot_lines_bands_and_png(tmp_path):
    curves = {"mean": [(0.2, 0.6), (0.0, 0.9), (0.1, 0.8)], "seeds": [(0.0, 0.9, 0.01), (0.1, 0.85, 0.02)]}
    path = tmp_path / "curve.png"
    figure = curve_plot(curves, "occluded fraction", "top-1", path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    axis = figure.axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert list(lines["mean"].get_xdata()) == [0.0, 0.1, 0.2]  # sorted by x
    assert list(lines["mean"].get_ydata()) == [0.9, 0.8, 0.6]
    (band,) = axis.collections  # one std band, for the (x, mean, std) curve
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.85 - 0.02) and ys.max() == pytest.approx(0.9 + 0.01)
    assert axis.get_xlabel() == "occluded fraction" and axis.get_ylabel() == "top-1"
    with pytest.raises(ValueError, match="bad"):
        curve_plot({"bad": [(0.0, 1.0), (0.1, 0.9, 0.1)]}, "x", "y")
