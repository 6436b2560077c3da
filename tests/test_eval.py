"""Evaluation from a checkpoint (recipes.evaluate and eval.py) on models trained for a few steps on synthetic data."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassCalibrationError

from recipes.calibration import heldout_split
from recipes.checkpoint import CheckpointError
from recipes.datasets import DEBIAN_FASHION_MNIST, make_synthetic
from recipes.evaluate import evaluate_checkpoint, select_rows
from recipes.metrics import classification_metrics
from recipes.report import format_table
from recipes.robustness import adapt_images, ood_scores
from recipes.run import run_training
from tests.conftest import FAST, ROOT, compose_cfg, write_image_folder

METRICS = ("top1", "top5", "nll", "brier", "ece", "mce", "ada_ece", "classwise_ece")
TRAIN = FAST + ["trainer.epochs=2", "dataset.noise=0.2"]  # 256 training and 128 test images, 16x16, seed 0
OUT_FILES = ("eval.json", "predictions.npz", "reliability.png", "occlusion.png")


def eval_cfg(ckpt_path, *overrides):
    return compose_cfg([f"ckpt_path={ckpt_path}", *overrides], config_name="eval")


@pytest.fixture(scope="module")
def seen_run(tmp_path_factory):
    """(run dir, eval record) of a run without a holdout: the temperature is fitted on seen training images."""
    run_dir = tmp_path_factory.mktemp("seen")
    run_training(compose_cfg(TRAIN), run_dir)
    return run_dir, evaluate_checkpoint(eval_cfg(run_dir, "eval.ood_datasets=[synthetic]"))


@pytest.fixture(scope="module")
def holdout_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("holdout")
    run_training(compose_cfg(TRAIN + ["dataset.holdout=0.25"]), run_dir)
    return run_dir, evaluate_checkpoint(eval_cfg(run_dir))


def load_npz(run_dir):
    with np.load(run_dir / "eval" / "predictions.npz") as data:
        return {key: data[key] for key in data.files}


# ----------------------------------------------------------------------------------------- outputs


def test_every_output_file_exists_and_parses(seen_run):
    run_dir, record = seen_run
    out = run_dir / "eval"
    assert all((out / name).is_file() for name in OUT_FILES)
    on_disk = json.loads((out / "eval.json").read_text())
    assert on_disk == json.loads(json.dumps(record))
    for key in METRICS:
        assert isinstance(on_disk[key], float) and isinstance(on_disk[f"{key}_ts"], float)
    assert all(0 <= on_disk[k] <= 1 for k in ("top1", "top5", "ece", "mce", "ada_ece", "classwise_ece"))
    assert on_disk["epoch"] == 2 and on_disk["checkpoint"].endswith("checkpoints/last.pt")
    assert set(on_disk["ood"]) == {"gaussian", "uniform", "synthetic"}
    for result in on_disk["ood"].values():
        assert set(result) == {"auroc", "tnr_at_tpr95", "detection_acc"}
        assert all(0 <= v <= 1 for v in result.values())
    npz = load_npz(run_dir)
    assert npz["logits"].shape == (128, 10) and npz["labels"].shape == (128,)
    assert float(npz["temperature"]) == on_disk["temperature"] and str(npz["ts_split"]) == "train_seen"
    for name in ("reliability.png", "occlusion.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert not list(out.rglob("*.tmp")) and not (out / ".hydra").exists()  # not a "run dir" for summaries


def test_tensorboard_holds_the_reliability_image(seen_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(seen_run[0] / "eval" / "tb")).Reload()
    assert events.Tags()["images"] == ["eval/reliability"]


def test_metrics_equal_a_recomputation_and_torchmetrics_on_the_model_outputs(seen_run):
    run_dir, record = seen_run
    npz = load_npz(run_dir)
    logits, labels = torch.from_numpy(npz["logits"]), torch.from_numpy(npz["labels"])
    for suffix, scaled in (("", logits), ("_ts", logits / record["temperature"])):
        again = classification_metrics(scaled, labels)
        assert all(record[k + suffix] == pytest.approx(again[k], abs=1e-12) for k in METRICS)
        probs = scaled.double().softmax(dim=1)
        for key, norm in (("ece", "l1"), ("mce", "max")):
            reference = MulticlassCalibrationError(num_classes=10, n_bins=15, norm=norm)(probs, labels).item()
            assert abs(record[key + suffix] - reference) < 1e-6
    assert record["top1_ts"] == record["top1"]  # a temperature never changes the arg-max


def test_the_printed_table_has_every_section(seen_run):
    table = format_table(seen_run[1])
    for text in ("after TS", "train_seen (n=26)", "SEEN in training", "center", "border", "gaussian", "synthetic"):
        assert text in table


# ----------------------------------------------------------------------------------------- temperature scaling


def test_unseen_split_is_the_runs_holdout_and_scaling_never_raises_its_nll(holdout_run):
    run_dir, record = holdout_run
    npz = load_npz(run_dir)
    split = record["ts_split"]
    assert split["name"] == "holdout" and split["n"] == 64  # 0.25 of 256
    assert np.array_equal(npz["ts_indices"], heldout_split(256, 0.25, 0).numpy())  # what training left out
    check_fitted_temperature(npz, split)


def test_seen_split_is_the_seeded_training_subset_with_the_right_labels(seen_run):
    run_dir, record = seen_run
    npz = load_npz(run_dir)
    assert record["ts_split"]["name"] == "train_seen" and record["ts_split"]["n"] == 26  # round(0.1 * 256)
    assert np.array_equal(npz["ts_indices"], heldout_split(256, 0.1, 0).numpy())
    train_labels = make_synthetic(10, 3, 16, 256, 0.2, 0, "train")[1]
    assert np.array_equal(npz["ts_labels"], train_labels[npz["ts_indices"]].numpy())  # the rows it says
    check_fitted_temperature(npz, record["ts_split"])


def check_fitted_temperature(npz, split):
    logits, labels = torch.from_numpy(npz["ts_logits"]).double(), torch.from_numpy(npz["ts_labels"])
    t = float(npz["temperature"])

    def nll(temperature):
        return F.cross_entropy(logits / temperature, labels).item()

    assert split["nll_after"] <= split["nll_before"]
    assert split["nll_before"] == pytest.approx(nll(1.0), abs=1e-6)
    assert split["nll_after"] == pytest.approx(nll(t), abs=1e-6)  # float32 logits / T
    assert nll(t) <= min(nll(t * 1.05), nll(t / 1.05))  # a minimum, not just an improvement


# ----------------------------------------------------------------------------------------- occlusion and OOD


def test_occlusion_at_zero_equals_clean_accuracy_exactly(seen_run):
    record = seen_run[1]
    for kind in ("center", "border"):
        curve = record[f"occlusion_{kind}"]
        assert curve[0] == [0.0, record["top1"]]
        requested = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
        assert all(abs(f - r) < 2 / 16 for (f, _), r in zip(curve, requested, strict=True))  # one 16-px row


def test_ood_auroc_of_the_test_set_against_itself_is_one_half(seen_run):
    run_dir, record = seen_run
    assert record["ood"]["synthetic"]["auroc"] == 0.5  # the run's own dataset name: the test set itself
    logits = torch.from_numpy(load_npz(run_dir)["logits"])
    halves = ood_scores(logits[:64], logits[64:])  # two samples of one distribution: 0.5 within noise
    assert abs(halves["auroc"] - 0.5) < 0.2  # null standard error sqrt(129 / (12 * 64 * 64)) = 0.05


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Fashion-MNIST not installed")
def test_another_dataset_is_resized_and_recoloured_to_the_model(seen_run, tmp_path):
    record = evaluate_checkpoint(
        eval_cfg(
            seen_run[0], f"out_dir={tmp_path}", "eval.ood_datasets=[fashion_mnist]", "eval.occlusion_fractions=[0.0]"
        )
    )
    assert 0 <= record["ood"]["fashion_mnist"]["auroc"] <= 1  # 28x28 grey images into a 16x16 RGB model


def test_adapt_images_maps_channels_by_mean_or_repeat_and_resizes_bilinearly():
    grey = torch.rand(2, 1, 8, 8)
    assert torch.equal(adapt_images(grey, 3, 8), grey.expand(-1, 3, -1, -1))
    rgb = torch.rand(2, 3, 8, 8)
    assert torch.allclose(adapt_images(rgb, 1, 8), rgb.mean(dim=1, keepdim=True))
    flat = torch.full((1, 3, 28, 28), 0.3)
    assert torch.allclose(adapt_images(flat, 3, 16), torch.full((1, 3, 16, 16), 0.3))
    # Bilinear (half-pixel centres) upsampling keeps a linear ramp linear: output pixel j of 8 samples the
    # 4-pixel input at j / 2 - 1/4, so a ramp i / 3 becomes (j / 2 - 1/4) / 3 away from the clamped ends.
    ramp = (torch.arange(4.0) / 3).expand(1, 1, 4, 4)
    expected = (torch.arange(1, 7) / 2 - 0.25) / 3
    assert torch.allclose(adapt_images(ramp, 1, 8)[0, 0, 3, 1:7], expected, atol=1e-6)
    with pytest.raises(ValueError, match="2-channel"):
        adapt_images(torch.rand(1, 2, 8, 8), 3, 8)


def test_select_rows_keeps_exactly_the_given_indices_across_batches():
    x = torch.arange(10.0)[:, None]
    batches = [(x[i : i + 4], torch.arange(10)[i : i + 4]) for i in range(0, 10, 4)]
    kept = list(select_rows(iter(batches), torch.tensor([0, 3, 4, 9])))
    assert torch.cat([labels for _, labels in kept]).tolist() == [0, 3, 4, 9]
    assert torch.cat([images for images, _ in kept]).flatten().tolist() == [0.0, 3.0, 4.0, 9.0]


# ----------------------------------------------------------------------------------------- bad input


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=str(tmp_path / "nope")):
        evaluate_checkpoint(eval_cfg(tmp_path / "nope"))


def test_truncated_checkpoint_is_named(seen_run, tmp_path):
    data = (seen_run[0] / "checkpoints" / "last.pt").read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt.*truncated"):
        evaluate_checkpoint(eval_cfg(bad, f"out_dir={tmp_path / 'out'}"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key,value", [("dataset.num_classes", 5), ("model.width", 16)])
def test_checkpoint_of_another_model_or_num_classes_is_named_with_the_mismatch(seen_run, tmp_path, key, value):
    state = torch.load(seen_run[0] / "checkpoints" / "last.pt", weights_only=False)
    section, name = key.split(".")
    state["config"][section][name] = value
    other = tmp_path / "other.pt"
    torch.save(state, other)
    with pytest.raises(CheckpointError, match=r"other\.pt does not fit.*size mismatch"):
        evaluate_checkpoint(eval_cfg(other, f"out_dir={tmp_path / 'out'}"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "override,bad",
    [
        ("eval.ts_fraction=1.5", "eval.ts_fraction=1.5"),
        ("eval.occlusion_fractions=[0.2,1.2]", "1.2"),
        ("eval.ood_datasets=[svhn]", "'svhn' is unknown"),
        ("trainer.device=tpu", "trainer.device='tpu'"),
    ],
)
def test_bad_settings_fail_naming_the_value_before_writing(seen_run, tmp_path, override, bad):
    with pytest.raises(ValueError) as err:
        evaluate_checkpoint(eval_cfg(seen_run[0], f"out_dir={tmp_path / 'out'}", override))
    assert bad in str(err.value)
    assert not (tmp_path / "out").exists()


def test_existing_eval_is_kept_unless_overwrite(seen_run, tmp_path):
    fast = ("eval.occlusion_fractions=[0.0]", f"out_dir={tmp_path}")
    evaluate_checkpoint(eval_cfg(seen_run[0], *fast))
    before = (tmp_path / "eval.json").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="eval.json already exists.*overwrite=true"):
        evaluate_checkpoint(eval_cfg(seen_run[0], *fast))
    assert (tmp_path / "eval.json").stat().st_mtime_ns == before
    record = evaluate_checkpoint(eval_cfg(seen_run[0], *fast, "overwrite=true"))
    assert (tmp_path / "eval.json").stat().st_mtime_ns != before
    assert json.loads((tmp_path / "eval.json").read_text())["top1"] == record["top1"]
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 1


# ----------------------------------------------------------------------------------------- entry point


def test_eval_py_end_to_end(seen_run, tmp_path):
    ckpt = seen_run[0] / "checkpoints" / "last.pt"

    def run_cli():  # run from an empty working dir, to see that Hydra writes nothing there
        return subprocess.run(
            [sys.executable, str(ROOT / "eval.py"), f"ckpt_path={ckpt}", f"out_dir={tmp_path / 'out'}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    out = run_cli()
    assert out.returncode == 0, out.stderr[-2000:]
    assert "after TS" in out.stdout and "uniform" in out.stdout
    record = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert record["top1"] == seen_run[1]["top1"] and record["ece"] == seen_run[1]["ece"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # Hydra left nothing in the working dir
    again = run_cli()
    assert again.returncode != 0 and "overwrite=true" in again.stderr


def test_a_folder_dataset_is_evaluated_without_a_temperature(tmp_path):
    """ImageNet-layout folders serve no training split to evaluation: no temperature, everything else as usual."""
    write_image_folder(tmp_path / "images", {"train": [6, 6], "val": [4, 4]})
    run_training(
        compose_cfg(
            [
                "dataset=imagefolder",
                f"dataset.root={tmp_path / 'images'}",
                "dataset.num_classes=2",
                "dataset.img_size=16",
                "dataset.num_workers=0",
                *(o for o in FAST if not o.startswith("dataset")),  # the folder and its keys are set above
                "trainer.batch_size=4",
            ]
        ),
        tmp_path / "run",
    )
    record = evaluate_checkpoint(eval_cfg(tmp_path / "run"))
    assert record["temperature"] is None and record["ts_split"] == {"name": "none", "n": 0}
    assert record["ece_ts"] is None and 0 <= record["ece"] <= 1
    assert record["occlusion_center"][0] == [0.0, record["top1"]]
    assert set(record["ood"]) == {"gaussian", "uniform"}
    npz = load_npz(tmp_path / "run")
    assert npz["logits"].shape == (8, 2) and np.isnan(npz["temperature"]) and npz["ts_logits"].shape == (0, 2)
    assert "not fitted" in format_table(record)
