"""The benchmark and picture scripts still run (smallest settings): benchmarks are scripts, not timed tests."""

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
