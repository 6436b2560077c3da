"""The robustness every run measures (recipes/robustness_run.py, recipes.robustness.fgsm): FGSM raises the loss,
eps is in pixels, the occlusion summary is the curve's mean, ood_auroc is the Mann-Whitney AUROC, a run's
summary.json holds the four claims, and a sweep verdicts them (summary.md, summary.csv, delta_vs_baseline.png)."""

import json
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from scipy.stats import mannwhitneyu

from recipes import catalogue, distributed
from recipes.robustness import fgsm, max_softmax, noise_images, occlusion_curve
from recipes.robustness_run import (
    OCCLUSION_FRACTIONS,
    SUMMARY_KEYS,
    local_batches,
    measure_robustness,
    subset_indices,
)
from recipes.sweeps import summary as sweep_summary
from tests.test_distributed import _join, free_port
from tests.test_summarize import config, make_run, result

MEAN, STD = (0.3, 0.5, 0.4), (0.2, 0.25, 0.3)
CLAIMS = ("occlusion_top1", "corruption_top1", "fgsm_top1", "ood_auroc")


def linear_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5))


def normalised(pixels):
    return (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_fgsm_raises_the_loss_of_every_image_it_changes():
    """For a linear model the cross-entropy is convex in x, so a step along sign(grad) (clipped towards the valid
    range, which keeps each change's sign) cannot lower any image's loss: loss(x + d) >= loss(x) + grad . d >= 0."""
    model = linear_model()
    x = normalised(torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    y = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(1))
    before = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    for adversarial in fgsm(model, x, y, (1 / 255, 8 / 255, 0.5), mean=MEAN, std=STD):
        after = torch.nn.functional.cross_entropy(model(adversarial), y, reduction="none")
        changed = (adversarial != x).flatten(1).any(1)
        assert changed.all()
        assert bool((after[changed] >= before[changed] - 1e-6).all())
        assert float(after.mean()) > float(before.mean())


def test_fgsm_eps_is_in_pixels_and_stays_in_the_valid_range():
    model = linear_model()
    pixels = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.zeros(16, dtype=torch.long)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    (adversarial,) = fgsm(model, normalised(pixels), y, (8 / 255,), mean=MEAN, std=STD)
    moved = adversarial * std + mean  # back to pixels
    assert float(moved.min()) >= -1e-6 and float(moved.max()) <= 1 + 1e-6
    step = (moved - pixels).abs()
    inside = (pixels > 8 / 255) & (pixels < 1 - 8 / 255)  # not clipped
    assert torch.allclose(step[inside], torch.full_like(step[inside], 8 / 255), atol=1e-5)
    assert float(step.max()) <= 8 / 255 + 1e-5


def test_fgsm_runs_in_fp32_and_restores_the_mode():
    model = linear_model().train()
    x = torch.randn(4, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (adversarial,) = fgsm(model, x, torch.zeros(4, dtype=torch.long), (0.1,), mean=MEAN, std=STD)
    assert adversarial.dtype == torch.float32 and model.training


def test_subset_is_fixed_and_sorted():
    a, b = subset_indices(1000, 100), subset_indices(1000, 100)
    assert torch.equal(a, b) and len(a.unique()) == 100 and bool((a.diff() > 0).all())
    assert torch.equal(subset_indices(50, 100), torch.arange(50))


class TinyData:
    """The part of recipes.data's interface measure_robustness reads: 8x8 RGB test images in batches; with
    world_size > 1 a rank's share is every world_size-th image, as recipes.data shards evaluation."""

    def __init__(self, n=24, rank=0, world_size=1):
        g = torch.Generator().manual_seed(3)
        self.pixels = torch.rand(n, 3, 8, 8, generator=g)
        self.labels = torch.randint(0, 5, (n,), generator=g)
        self.info = SimpleNamespace(mean=MEAN, std=STD, in_chans=3, img_size=8)
        self.num_test, self.rank, self.world_size = n, rank, world_size

    def eval_batches(self, split, batch_size):
        pixels, labels = self.pixels[self.rank :: self.world_size], self.labels[self.rank :: self.world_size]
        for start in range(0, len(labels), batch_size):
            yield normalised(pixels[start : start + batch_size]), labels[start : start + batch_size]

    def denormalise(self, images):
        return (images * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)).clamp(0, 1)


@pytest.fixture(scope="module")
def measured():
    model, data = linear_model(), TinyData()
    dist = distributed.DistInfo()
    summary, detail = measure_robustness(model, data, subset=16, batch_size=5, predict=model, dist=dist)
    return model, data, summary, detail


def test_occlusion_summary_is_the_curves_mean(measured):
    model, data, summary, detail = measured
    keep = subset_indices(data.num_test, 16)
    batch = (normalised(data.pixels[keep]), data.labels[keep])
    curve = occlusion_curve(model, [batch], OCCLUSION_FRACTIONS, "center")
    assert [t for _, t in curve] == pytest.approx([t for _, t in detail["occlusion_center"]])
    assert summary["occlusion_top1"] == pytest.approx(sum(t for _, t in curve) / len(curve))


def test_corruption_summary_is_the_mean_of_75_and_fgsm_is_8_of_255(measured):
    _, _, summary, detail = measured
    values = [v for per in detail["corruptions"].values() for v in per.values()]
    assert len(detail["corruptions"]) == 15 and len(values) == 75
    assert summary["corruption_top1"] == pytest.approx(sum(values) / 75)
    assert summary["fgsm_top1"] == detail["fgsm"]["8/255"] and set(detail["fgsm"]) == {
        "1/255",
        "2/255",
        "4/255",
        "8/255",
    }
    assert detail["images"] == 16 and 0 <= summary["robustness_s"]


def test_ood_auroc_is_the_mann_whitney_auroc_against_both_noises(measured):
    model, data, summary, detail = measured
    keep = subset_indices(data.num_test, 16)
    in_scores = max_softmax(model(normalised(data.pixels[keep]))).detach()
    sizes = [len(y) for _, y in local_batches(data, keep, 5, distributed.DistInfo())]  # noise drawn per batch
    aurocs = []
    for j, kind in enumerate(("gaussian", "uniform")):
        g = torch.Generator().manual_seed(22 + j)
        noise = torch.cat([noise_images(n, (3, 8, 8), kind, g, MEAN, STD) for n in sizes])
        out_scores = max_softmax(model(noise)).detach()
        u = mannwhitneyu(in_scores.numpy(), out_scores.numpy()).statistic
        aurocs.append(u / (len(in_scores) * len(out_scores)))
        assert detail["ood"][kind]["auroc"] == pytest.approx(aurocs[-1])
    assert summary["ood_auroc"] == pytest.approx(sum(aurocs) / 2)


def test_a_run_writes_the_four_claims(fast_cfg, tmp_path):
    from recipes.run import run_training

    cfg = fast_cfg("trainer.precision=fp32", "trainer.robustness=true", "trainer.robustness_subset=16")
    summary = run_training(cfg, tmp_path)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert set(catalogue.summary_metrics()) <= set(summary)  # every catalogued summary metric, these included
    for key in CLAIMS:
        assert 0 <= on_disk[key] <= 1 and on_disk[key] == summary[key]
    assert summary["robustness_s"] > 0
    detail = json.loads((tmp_path / "robustness.json").read_text())
    assert detail["images"] == 16 and detail["occlusion_top1"] == summary["occlusion_top1"]


def test_a_sweep_verdicts_the_claims(tmp_path):
    """summary.md and summary.csv carry the four claims with a word; delta_vs_baseline.png has 7 panels."""
    for method, shift in (("none", 0.0), ("cutmix", 0.03)):
        for seed in range(3):
            claims = {k: 0.5 + shift + 0.01 * seed + 0.05 * i for i, k in enumerate(CLAIMS)}
            cfg = config(**{"augment": {"name": method, "alpha": 1.0}, "seed": seed})
            make_run(tmp_path / "sweep", f"augment={method},seed={seed}", cfg, {**result(0.9 + shift), **claims})
    out = tmp_path / "out"
    text = sweep_summary.summarize([tmp_path / "sweep"], out=out)
    rows = {line.split(" | ")[2]: line for line in text.splitlines() if line.startswith("| cutmix |")}
    for key in CLAIMS:  # +3 points on every seed: better, as top-1
        assert "| +3.00 |" in rows[key] and "**better**" in rows[key]
    csv = (out / "summary.csv").read_text()
    assert all(k in csv for k in CLAIMS)
    assert (out / "delta_vs_baseline.png").is_file()


def _two_ranks(rank: int, port: int, root) -> None:
    torch.set_num_threads(1)
    _join(rank, port)
    info = distributed.init_from_env("cpu")
    model = linear_model()
    summary, detail = measure_robustness(
        model, TinyData(rank=rank, world_size=2), subset=16, batch_size=5, predict=model, dist=info
    )
    if rank == 0:
        (root / "ddp.json").write_text(json.dumps(detail))
    distributed.cleanup(info)


def test_two_processes_measure_the_same_images_as_one(measured, tmp_path):
    """Each rank measures its shard of the subset; gathered, the deterministic measures equal one process's."""
    _, _, _, one = measured
    mp.spawn(_two_ranks, args=(free_port(), tmp_path), nprocs=2)
    two = json.loads((tmp_path / "ddp.json").read_text())
    assert two["images"] == one["images"] == 16
    assert two["clean_top1"] == pytest.approx(one["clean_top1"])
    assert [t for _, t in two["occlusion_center"]] == pytest.approx([t for _, t in one["occlusion_center"]])
    assert two["fgsm"] == pytest.approx(one["fgsm"])
    assert two["corruptions"]["brightness"] == pytest.approx(one["corruptions"]["brightness"])  # no random draw


def test_summary_keys_are_catalogued_as_summary_metrics():
    assert set(SUMMARY_KEYS) <= set(catalogue.summary_metrics())
    assert set(SUMMARY_KEYS) - {"robustness_s"} <= set(catalogue.verdict_metrics())
