"""Checkpoints: what train.py writes loads with torch's weights-only unpickler; a file whose pickle would run code
is refused (by train.py's ckpt_path=, by eval.py and by the CIFAR loader) and the code never runs."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np
import pytest
import torch

from recipes import datasets
from recipes.checkpoint import CheckpointError, load_checkpoint
from recipes.evaluate import evaluate_checkpoint
from recipes.run import run_training
from tests.conftest import compose_cfg


class Payload:
    """Unpickling this creates `marker`: stands for any code a planted pickle could run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def planted(tmp_path):
    """(a checkpoint-shaped file carrying the payload, the file the payload would create)."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / "sent" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save({"model": {}, "config": {}, "epoch": 1, "extra": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live: an unrestricted load runs it
    assert marker.exists()
    marker.unlink()
    return path, marker


def test_a_checkpoint_train_py_wrote_loads_weights_only(fast_cfg, tmp_path):
    run_training(fast_cfg(), tmp_path)
    state = load_checkpoint(tmp_path)
    assert {"model", "optimizer", "scheduler", "config", "epoch"} <= set(state) and state["epoch"] == 1
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1


def test_a_planted_payload_is_refused_and_never_runs(planted):
    path, marker = planted
    with pytest.raises(CheckpointError, match=r"refusing .*last\.pt.*could run code.*Unsupported global"):
        load_checkpoint(path)
    assert not marker.exists()


def test_train_py_ckpt_path_refuses_a_planted_payload(fast_cfg, planted, tmp_path):
    path, marker = planted
    with pytest.raises(CheckpointError, match="refusing"):
        run_training(fast_cfg(f"ckpt_path={path}"), tmp_path / "run")
    assert not marker.exists() and not (tmp_path / "run" / "summary.json").exists()


def test_eval_py_refuses_a_planted_payload(planted):
    path, marker = planted
    with pytest.raises(CheckpointError, match="refusing"):
        evaluate_checkpoint(compose_cfg([f"ckpt_path={path.parent.parent}"], config_name="eval"))
    assert not marker.exists()


def test_a_cifar_batch_file_with_a_payload_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "payload-ran"
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        (folder / name).write_bytes(pickle.dumps(good))
    images, labels = datasets.load_cifar("cifar10", tmp_path, "train")
    assert images.shape == (10, 3, 32, 32) and labels.tolist() == [0, 1] * 5
    (folder / "data_batch_3").write_bytes(pickle.dumps({**good, b"extra": Payload(marker)}))
    with pytest.raises(ValueError, match=r"data_batch_3 is not a CIFAR batch file.*pathlib"):
        datasets.load_cifar("cifar10", tmp_path, "train")
    assert not marker.exists()


def truncated_checkpoint(fast_cfg, tmp_path):
    run_training(fast_cfg(), tmp_path / "good")
    whole = (tmp_path / "good" / "checkpoints" / "last.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(whole[: len(whole) // 2])  # an interrupted copy
    return path


@pytest.mark.parametrize("kind", ["text", "truncated", "empty"])
def test_a_text_truncated_or_empty_file_is_called_not_a_checkpoint_in_one_line(fast_cfg, tmp_path, kind):
    if kind == "truncated":
        path = truncated_checkpoint(fast_cfg, tmp_path)
    else:
        path = tmp_path / "notes.pt"
        path.write_text("epoch 3, top-1 91 %\nsee the lab book\n" if kind == "text" else "")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not a checkpoint / truncated (") and "\n" not in message
    assert "could run code" not in message
    with pytest.raises(CheckpointError, match="not a checkpoint / truncated"):
        run_training(fast_cfg(f"ckpt_path={path}"), tmp_path / "run")
