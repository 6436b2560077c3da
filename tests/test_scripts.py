"""The benchmark and picture scripts still run (smallest settings): benchmarks are scripts, not timed tests."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_script(*args, timeout=240):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_bench_train_runs_and_prints_the_cutmix_ratio():
    out = run_script(
        "scripts/bench_train.py",
        "--device",
        "cpu",
        "--sizes",
        "32",
        "--methods",
        "none,cutmix",
        "--batch-size",
        "8",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--width",  # 8, not 4: channels_last (auto on a native-bf16 CPU) crashes torch 2.14.1 at widths 2-7
        "8",
        "--threads",
        "1",
    )
    assert "cutmix" in out and "none" in out


def test_plot_augment_writes_a_png(tmp_path):
    from recipes.datasets import DEBIAN_FASHION_MNIST

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("Fashion-MNIST package not installed")
    run_script("scripts/plot_augment.py", "--out", str(tmp_path / "grid.png"), "--n", "2")
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_menu_covers_every_preset_and_tables_finished_runs(tmp_path):
    """scripts/model_menu.py: every configs/model preset but `timm` is on the menu, and the table row of a run
    shows its summary.json (percent top-1, the recipe from its config), or says that it did not finish."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import model_menu

    assert sorted(model_menu.MODELS) == sorted(
        p.stem for p in (ROOT / "configs" / "model").glob("*.yaml") if p.stem != "timm"
    )
    run = tmp_path / "vit_tiny"
    run.mkdir()
    config = {
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05},
        "sched": {"name": "cosine", "warmup_epochs": 0.5},
    }
    summary = {"params": 5.4e6, "top1": 0.7712, "ece": 0.0312, "img_per_s": 41.6, "wall_s": 612.4, "config": config}
    (run / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "resnet18").mkdir()
    (tmp_path / "resnet18" / "failed.json").write_text("{}")
    lines = model_menu.table(["vit_tiny", "resnet18", "wrn_28_10"], tmp_path).splitlines()
    assert (
        lines[2] == "| vit_tiny | 5.40M | 77.1 | 0.031 | 42 | 612 | adamw lr 0.001 wd 0.05; cosine, warmup 0.5 epochs |"
    )
    assert lines[3].startswith("| resnet18 | failed") and lines[4].startswith("| wrn_28_10 | not run")
    assert (
        "dataset.subset=5000" in model_menu.command("vit_tiny", tmp_path, [])
        and "trainer.epochs=3" in model_menu.BUDGET
    )
