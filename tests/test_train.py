"""End-to-end training through recipes.run_training and train.py: outputs, resume, failures."""

import json
import logging
import subprocess
import sys

import pytest
import torch

from models.preact_resnet import preact_resnet18
from recipes import run as run_module
from recipes.engine import NonFiniteLossError
from recipes.run import run_training
from tests.conftest import ROOT

SUMMARY_KEYS = {
    "status",
    "top1",
    "top5",
    "nll",
    "ece",
    "brier",
    "epochs",
    "wall_s",
    "img_per_s",
    "dataset",
    "model",
    "augment",
    "alpha",
    "seed",
}


def test_run_dir_holds_every_promised_file(fast_cfg, tmp_path):
    summary = run_training(fast_cfg("augment=cutmix", "trainer.epochs=2"), tmp_path)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["augment"] == "cutmix" and summary["alpha"] == 1.0 and summary["epochs"] == 2
    # without train.py's model_choice, `model` falls back to the builder's name; the sizes still tell nets apart
    assert summary["model"] == "preact_resnet18" and summary["model_args"] == {"width": 8}
    assert summary["params"] == sum(w.numel() for w in preact_resnet18(10, 3, 16, width=8).parameters())
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["top1"] == summary["top1"] and 0 <= on_disk["ece"] <= 1
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and lines[-1]["top1"] == summary["top1"]
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    assert not list(tmp_path.rglob("*.tmp"))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_synthetic_run_learns(fast_cfg, tmp_path):
    summary = run_training(fast_cfg("trainer.epochs=3", "dataset.train_size=1024", "dataset.noise=0.2"), tmp_path)
    assert summary["top1"] > 0.5  # 10 classes: chance is 0.1


def test_compiled_model_trains_like_the_eager_one(fast_cfg, tmp_path):
    """trainer.compile=true (torch.compile, inductor: ~30 s to compile on CPU) computes the same training run;
    only kernel fusion changes float32 rounding, so the losses agree to 1e-4 after 4 SGD steps."""
    eager = run_training(fast_cfg("augment=cutmix", "trainer.deterministic=true"), tmp_path / "eager")
    compiled = run_training(
        fast_cfg("augment=cutmix", "trainer.deterministic=true", "trainer.compile=true"), tmp_path / "compiled"
    )
    loss = [json.loads((tmp_path / d / "metrics.jsonl").read_text())["train_loss"] for d in ("eager", "compiled")]
    assert loss[1] == pytest.approx(loss[0], abs=1e-4)
    assert compiled["nll"] == pytest.approx(eager["nll"], abs=1e-4)


def interrupt_after(monkeypatch, epochs_done: int):
    """Make the run die (like a kill) right after the checkpoint of `epochs_done` is on disk."""
    real_save, calls = run_module.ckpt.atomic_save, []

    def save_then_die(obj, path):
        real_save(obj, path)
        calls.append(path)
        if len(calls) == epochs_done:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module.ckpt, "atomic_save", save_then_die)


@pytest.mark.parametrize("augment", ["none", "cutmix", "mixup_cutmix"])
def test_killed_run_resumes_to_the_bitwise_same_result(fast_cfg, tmp_path, monkeypatch, augment):
    overrides = [f"augment={augment}", "trainer.epochs=3", "trainer.deterministic=true"]
    full = run_training(fast_cfg(*overrides), tmp_path / "full")
    with monkeypatch.context() as m:
        interrupt_after(m, epochs_done=2)
        with pytest.raises(KeyboardInterrupt):
            run_training(fast_cfg(*overrides), tmp_path / "killed")
    assert not (tmp_path / "killed" / "summary.json").exists()
    resumed = run_training(fast_cfg(*overrides, "resume=true"), tmp_path / "killed")
    for key in ("top1", "top5", "nll", "ece", "brier", "epochs"):
        assert resumed[key] == full[key], key
    w_full = torch.load(tmp_path / "full/checkpoints/last.pt", weights_only=True)["model"]
    w_res = torch.load(tmp_path / "killed/checkpoints/last.pt", weights_only=True)["model"]
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "killed/metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


def _lines(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_eval_every_evaluates_every_nth_epoch_and_the_last(fast_cfg, tmp_path):
    every = run_training(fast_cfg("trainer.epochs=5", "trainer.deterministic=true"), tmp_path / "every")
    sparse = run_training(
        fast_cfg("trainer.epochs=5", "trainer.eval_every=2", "trainer.deterministic=true"), tmp_path / "sparse"
    )
    lines = _lines(tmp_path / "sparse")
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5]
    assert [r["epoch"] for r in lines if r["evaluated"]] == [2, 4, 5]
    assert all("top1" not in r and "ece" not in r for r in lines if not r["evaluated"])
    assert sparse["best_top1"] == max(r["top1"] for r in lines if r["evaluated"])
    # evaluation changes nothing about training: the final metrics equal those of a run evaluated every epoch
    for key in ("top1", "top5", "nll", "ece", "brier"):
        assert sparse[key] == every[key], key
    assert [r["train_loss"] for r in lines] == [r["train_loss"] for r in _lines(tmp_path / "every")]


def test_run_killed_in_a_stretch_without_evaluation_resumes_to_the_same_result(fast_cfg, tmp_path, monkeypatch):
    overrides = ["trainer.epochs=5", "trainer.eval_every=3", "trainer.deterministic=true"]
    full = run_training(fast_cfg(*overrides), tmp_path / "full")
    with monkeypatch.context() as m:
        interrupt_after(m, epochs_done=4)  # epoch 4 is not evaluated; 3 and 5 are
        with pytest.raises(KeyboardInterrupt):
            run_training(fast_cfg(*overrides), tmp_path / "killed")
    resumed = run_training(fast_cfg(*overrides, "resume=true"), tmp_path / "killed")
    for key in ("top1", "top5", "nll", "ece", "brier", "best_top1", "epochs"):
        assert resumed[key] == full[key], key
    drop_time = ("wall_s", "img_per_s")
    strip = [{k: v for k, v in r.items() if k not in drop_time} for r in _lines(tmp_path / "killed")]
    assert strip == [{k: v for k, v in r.items() if k not in drop_time} for r in _lines(tmp_path / "full")]


def test_resume_skips_a_complete_run(fast_cfg, tmp_path):
    first = run_training(fast_cfg(), tmp_path)
    mtime = (tmp_path / "summary.json").stat().st_mtime_ns
    again = run_training(fast_cfg("resume=true"), tmp_path)
    assert again["top1"] == first["top1"] and (tmp_path / "summary.json").stat().st_mtime_ns == mtime


def test_ckpt_path_continues_from_another_run(fast_cfg, tmp_path):
    run_training(fast_cfg("trainer.epochs=1"), tmp_path / "a")
    summary = run_training(fast_cfg("trainer.epochs=2", f"ckpt_path={tmp_path / 'a'}"), tmp_path / "b")
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert summary["epochs"] == 2 and [json.loads(x)["epoch"] for x in lines] == [2]


def test_resuming_with_changed_settings_names_them(fast_cfg, tmp_path, caplog):
    run_training(fast_cfg("trainer.epochs=1"), tmp_path / "a")
    with caplog.at_level(logging.WARNING, logger="recipes.run"):
        # the same settings (where and how verbosely aside): nothing to warn about
        run_training(
            fast_cfg("trainer.progress=true", "trainer.log_every=1", f"ckpt_path={tmp_path / 'a'}"), tmp_path / "same"
        )
        assert not caplog.records
        run_training(fast_cfg("trainer.epochs=2", "optim.lr=0.2", f"ckpt_path={tmp_path / 'a'}"), tmp_path / "b")
    [warning] = [r.getMessage() for r in caplog.records]
    assert "optim.lr: 0.1 -> 0.2; trainer.epochs: 1 -> 2." in warning


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(fast_cfg, tmp_path, monkeypatch):
    real_loss, calls = run_module.train_one_epoch.__globals__["soft_target_loss"], []

    def loss_turning_nan_in_epoch_2(logits, targets, smoothing):  # 256 images / batch 64 = 4 steps per epoch
        calls.append(1)
        loss = real_loss(logits, targets, smoothing)
        return loss * float("nan") if len(calls) == 6 else loss

    monkeypatch.setitem(run_module.train_one_epoch.__globals__, "soft_target_loss", loss_turning_nan_in_epoch_2)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 2\b"):
        run_training(fast_cfg("trainer.epochs=3", "trainer.log_every=100"), tmp_path)
    kept = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert kept["epoch"] == 1 and all(torch.isfinite(w).all() for w in kept["model"].values())
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert failed["status"] == "failed" and "NaN" in failed["error"] and failed["epoch"] == 1


@pytest.mark.parametrize(
    "override,bad",
    [
        ("augment=cutmix augment.alpha=-1", "-1"),
        ("augment=mixup augment.prob=1.5", "1.5"),
        ("trainer.epochs=0", "trainer.epochs=0"),
        ("trainer.batch_size=0", "trainer.batch_size=0"),
        ("dataset.subset=0", "dataset.subset=0"),
        ("trainer.device=tpu", "trainer.device='tpu'"),
        ("augment=cutmix augment.mode=pixel", "pixel"),
        ("label_smoothing=1.0", "label_smoothing=1.0"),
        ("trainer.batch_scope=per_gpu", "trainer.batch_scope='per_gpu'"),
        ("trainer.batch_size=1", "trainer.batch_size=1"),  # BatchNorm cannot train on one image
        ("optim.momentum=2", "optim.momentum=2.0"),
        ("model.width=0", "model.width=0"),
        ("+augment.alhpa=1", "augment.alhpa"),
    ],
)
def test_bad_values_fail_before_any_data_is_loaded(fast_cfg, tmp_path, monkeypatch, override, bad):
    def no_data(*a, **k):
        raise AssertionError("data was loaded before the config was checked")

    monkeypatch.setattr(run_module, "build_data", no_data)
    with pytest.raises(ValueError) as err:
        run_training(fast_cfg(*override.split()), tmp_path)
    assert bad in str(err.value)
    failed = json.loads((tmp_path / "failed.json").read_text())  # a sweep lists the job as failed
    assert failed["status"] == "failed" and bad in failed["error"]


def test_a_subset_too_small_for_one_batch_is_refused_before_training(fast_cfg, tmp_path):
    with pytest.raises(ValueError, match=r"dataset.subset=1\)"):
        run_training(fast_cfg("dataset.subset=1"), tmp_path)


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_unknown_group_option_lists_the_choices():
    out = run_cli("augment=cutmixx")
    assert out.returncode != 0 and "cutmix" in out.stderr and "Available options" in out.stderr


def test_help_shows_the_config_groups():
    out = run_cli("--help")
    assert out.returncode == 0
    for group in ("dataset:", "model:", "augment:", "optim:", "sched:", "trainer:"):
        assert group in out.stdout


def test_fashion_mnist_subset_end_to_end_through_train_py(tmp_path):
    """The real data and the real entry point: a short CutMix run on 4,000 Fashion-MNIST images."""
    out = run_cli(
        "augment=cutmix",
        "dataset.subset=4000",
        "trainer.epochs=2",
        "model.width=8",
        "trainer.batch_size=64",
        "trainer.progress=false",
        f"hydra.run.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dataset"] == "fashion_mnist" and summary["augment"] == "cutmix"
    assert summary["model"] == "preact_resnet18_w16" and summary["model_args"] == {"width": 8}  # the config option
    assert summary["top1"] > 0.5  # 10 classes: chance is 0.1
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
