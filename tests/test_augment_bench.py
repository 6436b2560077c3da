"""scripts/bench_augment.py runs on a tiny batch, with and without the optional kornia peer."""

import argparse
import sys

import pytest
import torch

from tests.conftest import load_script

bench_augment = load_script("bench_augment")


def kornia_column(rows: list[str], method: str, mode: str) -> str:
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[:2] == [method, mode]:
            return cells[6]
    raise AssertionError(f"no row for {method} {mode}")


def test_bench_shape_without_kornia_shows_a_dash(monkeypatch):
    monkeypatch.setitem(sys.modules, "kornia", None)  # import fails as when it is not installed
    rows = bench_augment.bench_shape((4, 3, 8, 8), torch.device("cpu"), rounds=1, stat="mean")
    assert kornia_column(rows, "cutmix", "elem") == "—"
    assert not any(row.startswith("| kornia") for row in rows)
    assert len(rows) == 1 + sum(len(modes) for _, modes in bench_augment.OURS) + 8  # clone, ours, timm + tv


def test_shapes_argument_is_checked():
    assert bench_augment.parse_shape("256x3x32x32") == (256, 3, 32, 32)
    for bad in ("256x3x32", "0x3x8x8", "ax3x8x8"):
        with pytest.raises(argparse.ArgumentTypeError, match="BxCxHxW"):
            bench_augment.parse_shape(bad)
