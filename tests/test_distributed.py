"""Data-parallel training, proved on CPU with 2 gloo processes against 1.

- torchrun + train.py (and the submitit launcher, slow) with augment=none end with the weights and metrics of one
  process at the same global batch and seed. The model is ViT-Tiny: it has no BatchNorm, whose batch statistics
  would differ between half batches, and torch's SyncBatchNorm has no CPU kernel. Tolerance: the weights within
  1e-5 and nll/ece/brier within 1e-5 (measured: 6e-8 and 1e-8). Two processes average two half-batch gradients
  where one process averages the whole batch, so only float32 summation order differs, over 8 SGD steps.
- With a BatchNorm net and CutMix (torch.multiprocessing workers calling run_training): the ranks' mixing draws
  differ and are seeded from seed and rank, the ranks' batches are the halves of one process's batch, the gathered
  test metrics equal a one-process evaluation of the saved weights, and a killed run resumes bitwise.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
import torch
import torch.multiprocessing as mp
from omegaconf import OmegaConf

from models import build_model
from recipes import distributed
from recipes import run as run_module
from recipes.builders import epoch_seed
from recipes.data import InMemoryData
from recipes.engine import predict
from recipes.metrics import classification_metrics
from recipes.mixers import build_mixer
from recipes.run import run_training
from tests.conftest import FAST, ROOT, compose_cfg, force_native_bf16

# No BatchNorm: 2 processes must match 1 (to fp32 rounding). 8 px images in 4 px patches keep ViT-Tiny fast (5 tokens).
NO_BN = [
    "dataset=synthetic",
    "dataset.img_size=8",
    "dataset.train_size=128",
    "dataset.test_size=64",
    "model=vit_tiny",
    "optim.lr=0.02",
    "trainer.batch_size=32",
    "trainer.epochs=2",
    "trainer.progress=false",
    "trainer.device=cpu",
    "trainer.deterministic=true",
    "optim=sgd",  # not vit_tiny's AdamW: Adam divides by the gradient's size, which turns the rounding
    "sched=cosine",  # differences of an all-reduce into full-size steps; SGD keeps them at rounding level
    "trainer.precision=fp32",  # 1e-5 agreement is fp32's: pinned, whatever `auto` would pick on this host
    "trainer.channels_last=false",
    "trainer.robustness=false",  # as FAST: tests/test_robustness_run.py covers it under DDP
]
# BatchNorm and CutMix, 4 steps per epoch.
BN_CUTMIX = [*FAST, "augment=cutmix", "trainer.epochs=2", "trainer.deterministic=true"]
METRICS = ("top1", "top5", "nll", "ece", "brier")
BN_CUTMIX_AUTO_BF16 = [*BN_CUTMIX, "trainer.precision=auto", "trainer.channels_last=auto"]
TOL = 1e-5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_thread_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # 2 processes on 2 cores: no oversubscription


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)["model"]


def weights_epoch(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)["epoch"]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def assert_trained_alike(ddp_dir: Path, single_dir: Path) -> None:
    ddp, single = summary(ddp_dir), summary(single_dir)
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    for key in METRICS:
        assert ddp[key] == pytest.approx(single[key], abs=TOL), key
    w_ddp, w_single = weights(ddp_dir), weights(single_dir)
    assert w_ddp.keys() == w_single.keys()
    for key in w_single:
        torch.testing.assert_close(w_ddp[key], w_single[key], rtol=0, atol=TOL, msg=key)


@pytest.fixture(scope="module")
def single_no_bn(tmp_path_factory) -> Path:
    run_dir, threads = tmp_path_factory.mktemp("single"), torch.get_num_threads()
    torch.set_num_threads(1)  # the CPU is shared; 2 threads here ran 5x slower than 1 (measured)
    try:
        run_training(compose_cfg(NO_BN), run_dir)
    finally:
        torch.set_num_threads(threads)
    return run_dir


# ----------------------------------------------------------------------------- launchers, end to end


def test_torchrun_two_processes_train_like_one_and_only_rank_0_writes(single_no_bn, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "train.py",
        *NO_BN,
        f"hydra.run.dir={tmp_path}",
    ]
    out = subprocess.run(cmd, cwd=ROOT, env=one_thread_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert_trained_alike(tmp_path, single_no_bn)
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "tb"}
    assert files == {
        ".lock",  # rank 0's run-dir lock (recipes.run_lock)
        ".hydra/config.yaml",
        ".hydra/hydra.yaml",
        ".hydra/overrides.yaml",
        "train.log",
        "metrics.jsonl",
        "summary.json",
        "checkpoints/last.pt",
    }
    writers = {p.name.split(".")[-2] for p in (tmp_path / "tb").iterdir()}  # events.out.tfevents.<t>.<host>.<pid>.<n>
    assert len(writers) == 1, writers
    log = (tmp_path / "train.log").read_text()
    assert log.count("epoch 1/2") == 1 and log.count("done:") == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    assert "output_subdir=null" not in (tmp_path / ".hydra" / "hydra.yaml").read_text()  # rank 0's copy


@pytest.mark.slow
def test_submitit_launcher_with_two_tasks_trains_like_one_process(single_no_bn, tmp_path):
    """The SLURM path without SLURM: the submitit launcher's local executor starts 2 tasks of one job."""
    cmd = [
        sys.executable,
        "train.py",
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.tasks_per_node=2",
        f"hydra.sweep.dir={tmp_path}",
        *NO_BN,
    ]
    out = subprocess.run(cmd, cwd=ROOT, env=one_thread_env(), capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = [p.parent for p in tmp_path.glob("*/summary.json")]
    assert_trained_alike(run_dir, single_no_bn)


# ----------------------------------------------------------------------------- BatchNorm + CutMix, in workers


def _join(rank: int, port: int) -> None:
    """What torchrun does for each of its 2 workers: describe the process group in the environment."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )


def _recording_build_mixer(rank: int, record_dir: Path):
    """build_mixer whose mixer saves, at its first call, its generator's state and the labels it got."""

    def build(augment_cfg, num_classes, generator, choice_generator=None):
        mixer = build_mixer(augment_cfg, num_classes, generator, choice_generator)

        def mix(images, labels):
            path = record_dir / f"rank{rank}.pt"
            if not path.exists():
                torch.save({"generator": generator.get_state(), "labels": labels.clone()}, path)
            return mixer(images, labels)

        return mix

    return build


def _die_at_epoch(stop_at: int):
    """Trainer._train_epoch that raises at the start of epoch `stop_at` on every rank, as if the job were killed."""
    train_epoch = run_module.Trainer._train_epoch

    def train_or_die(self, epoch):
        if epoch == stop_at:
            raise KeyboardInterrupt
        return train_epoch(self, epoch)

    return train_or_die


def _collectives(rank: int, root: Path) -> None:
    info = distributed.init_from_env("cpu")
    gathered = distributed.gather_cat(torch.arange(3 + rank) + 10 * rank, info)  # 3 and 4 elements
    bn = torch.nn.BatchNorm1d(2)
    bn.running_mean.fill_(rank + 1.0)
    distributed.broadcast_buffers(bn, info)
    with pytest.raises(ValueError, match=r"ranks disagree on the epoch: \[0, 1\]"):
        distributed.check_same_on_all_ranks(rank, "the epoch", torch.device("cpu"), info)
    distributed.check_same_on_all_ranks(7, "the epoch", torch.device("cpu"), info)
    with pytest.raises(ValueError, match="trainer.batch_size=63.*world size 2"):
        run_training(compose_cfg([*FAST, "trainer.batch_size=63"]), root / "bad_batch")
    torch.save({"gathered": gathered, "running_mean": bn.running_mean}, root / f"collectives{rank}.pt")
    distributed.cleanup(info)


def _ddp_session(rank: int, ports: list[int], root: Path) -> None:
    """One pair of processes does all the 2-process work below (starting processes is most of the cost).

    The collectives; a full BatchNorm + CutMix run whose mixers record their first draw (root/full); the same
    run with its batch given per process (root/per_device); the same run killed at the start of epoch 2
    (root/resumed), then resumed there with resume=true.
    """
    torch.set_num_threads(1)
    os.environ.pop(distributed.SUBMITIT_TASK, None)
    _join(rank, ports[0])
    _collectives(rank, root)
    _join(rank, ports[1])
    with patch.object(run_module, "build_mixer", _recording_build_mixer(rank, root)):
        run_training(compose_cfg(BN_CUTMIX), root / "full")
    _join(rank, ports[2])
    run_training(
        compose_cfg([*BN_CUTMIX, "trainer.batch_scope=per_device", "trainer.batch_size=32"]), root / "per_device"
    )
    with patch.object(run_module.Trainer, "_train_epoch", _die_at_epoch(2)), pytest.raises(KeyboardInterrupt):
        run_training(compose_cfg(BN_CUTMIX), root / "resumed")
    if rank == 0:  # what the kill left on disk
        left = {"summary": (root / "resumed" / "summary.json").exists(), "epoch": weights_epoch(root / "resumed")}
        torch.save(left, root / "killed.pt")
    _join(rank, ports[3])
    run_training(compose_cfg([*BN_CUTMIX, "resume=true"]), root / "resumed")
    _join(rank, ports[4])  # the format auto picks on a native-bf16 CPU, whatever this host has
    force_native_bf16(setattr)
    run_training(compose_cfg(BN_CUTMIX_AUTO_BF16), root / "bf16")


@pytest.fixture(scope="module")
def ddp_session(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    mp.spawn(_ddp_session, args=([free_port() for _ in range(5)], root), nprocs=2)
    return root


def test_gathered_test_metrics_equal_one_process_evaluating_the_saved_weights(ddp_session):
    cfg = compose_cfg(BN_CUTMIX)
    data = InMemoryData(cfg.dataset, torch.device("cpu"), int(cfg.seed))
    model = build_model(**OmegaConf.to_container(cfg.model), num_classes=10, in_chans=3, img_size=16)
    model.load_state_dict(weights(ddp_session / "full"))
    expected = classification_metrics(*predict(model, data.eval_batches("test")))
    gathered = summary(ddp_session / "full")
    assert gathered["world_size"] == 2
    for key in METRICS:  # e.g. the ECE of all 128 test images, not a mean of two 64-image ECEs
        assert gathered[key] == pytest.approx(expected[key], abs=1e-6), key


@pytest.mark.bf16
def test_gathered_bf16_metrics_equal_one_process_evaluating_the_saved_weights_in_bf16(ddp_session):
    """DDP under bf16 autocast + channels_last: the ranks' gathered predictions are what one process computes from
    the saved weights in the same format, up to bf16 rounding, which depends on the batch a kernel sees (64 images
    per rank vs 128 here): a near-tied image may flip (1/128 of top-1 or top-5) and the losses agree to ~1 %."""
    cfg = compose_cfg(BN_CUTMIX_AUTO_BF16)
    data = InMemoryData(cfg.dataset, torch.device("cpu"), int(cfg.seed))
    model = build_model(**OmegaConf.to_container(cfg.model), num_classes=10, in_chans=3, img_size=16)
    model.load_state_dict(weights(ddp_session / "bf16"))
    model = model.to(memory_format=torch.channels_last)
    logits, labels = predict(model, data.eval_batches("test"), autocast_dtype=torch.bfloat16, channels_last=True)
    expected, gathered = classification_metrics(logits, labels), summary(ddp_session / "bf16")
    assert gathered["world_size"] == 2 and gathered["config"]["trainer"]["precision"] == "auto"
    for key in ("top1", "top5"):
        assert gathered[key] == pytest.approx(expected[key], abs=2 / 128), key
    for key in ("nll", "brier"):
        assert gathered[key] == pytest.approx(expected[key], rel=0.01), key
    assert gathered["ece"] == pytest.approx(expected["ece"], abs=0.02)


def test_ranks_draw_their_own_mixing_from_seed_and_rank(ddp_session):
    states = [torch.load(ddp_session / f"rank{r}.pt")["generator"] for r in (0, 1)]
    for rank, state in enumerate(states):
        assert torch.equal(state, torch.Generator().manual_seed(epoch_seed(0, 1, rank + 1)).get_state())
    assert not torch.equal(states[0], states[1])


def test_ranks_train_on_the_halves_of_one_process_batch(ddp_session):
    cfg = compose_cfg(BN_CUTMIX)
    data = InMemoryData(cfg.dataset, torch.device("cpu"), int(cfg.seed))
    _, labels = next(data.train_batches(64, torch.Generator().manual_seed(epoch_seed(0, 1))))
    halves = [torch.load(ddp_session / f"rank{r}.pt")["labels"] for r in (0, 1)]
    assert [len(h) for h in halves] == [32, 32] and torch.equal(torch.cat(halves), labels)


def test_a_per_device_batch_of_32_on_2_processes_is_the_global_batch_of_64(ddp_session):
    per_device, full = summary(ddp_session / "per_device"), summary(ddp_session / "full")
    assert per_device["global_batch_size"] == full["global_batch_size"] == 64
    assert per_device["config"]["trainer"]["batch_size"] == 32
    w_full, w_per_device = weights(ddp_session / "full"), weights(ddp_session / "per_device")
    assert all(torch.equal(w_full[k], w_per_device[k]) for k in w_full)


def test_killed_ddp_run_resumes_to_the_bitwise_same_result(ddp_session):
    assert torch.load(ddp_session / "killed.pt") == {"summary": False, "epoch": 1}
    resumed, full = summary(ddp_session / "resumed"), summary(ddp_session / "full")
    assert all(resumed[k] == full[k] for k in (*METRICS, "epochs")), (resumed, full)
    epochs = [json.loads(x)["epoch"] for x in (ddp_session / "resumed/metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    w_full, w_resumed = weights(ddp_session / "full"), weights(ddp_session / "resumed")
    assert all(torch.equal(w_full[k], w_resumed[k]) for k in w_full)


def test_gather_broadcast_and_agreement_across_two_processes(ddp_session):
    for rank in (0, 1):
        got = torch.load(ddp_session / f"collectives{rank}.pt")
        assert got["gathered"].tolist() == [0, 1, 2, 10, 11, 12, 13]
        assert got["running_mean"].tolist() == [1.0, 1.0]
    failed = json.loads((ddp_session / "bad_batch" / "failed.json").read_text())
    assert "63" in failed["error"] and failed["epoch"] == 0


def test_without_a_launcher_we_are_one_process(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", distributed.SUBMITIT_TASK):
        monkeypatch.delenv(key, raising=False)
    assert distributed.env_rank() == 0
    info = distributed.init_from_env("cpu")
    assert info == distributed.DistInfo() and info.is_main and not info.enabled
    tensor = torch.arange(5)
    assert distributed.gather_cat(tensor, info) is tensor


@pytest.fixture
def restored_environ():
    """export() writes os.environ directly, which monkeypatch cannot undo: put the whole environment back.

    A leaked WORLD_SIZE would make every later run in this pytest process wait for ranks that never come.
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_submitit_slurm_task_exports_torch_variables(monkeypatch, restored_environ):
    """Task 5 of 8 (2 nodes x 4 GPUs), on the second node: rank 5, local rank 1, master on the first node."""
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    slurm = {
        "SUBMITIT_EXECUTOR": "slurm",
        "SLURM_JOB_ID": "4242",
        "SLURM_NTASKS": "8",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NODEID": "1",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_JOB_NODELIST": "gpu[07-08]",
    }
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    assert distributed.env_rank() == 5
    distributed.export_submitit_env()
    env = os.environ
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["MASTER_ADDR"]) == ("5", "8", "1", "gpu07")
    port = env["MASTER_PORT"]
    monkeypatch.setenv("SLURM_PROCID", "0")
    del os.environ["RANK"]
    distributed.export_submitit_env()
    assert env["RANK"] == "0" and env["MASTER_PORT"] == port  # every task of the job agrees on the port


def test_torchrun_variables_win_over_submitit(monkeypatch, restored_environ):
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("MASTER_ADDR", "torchrun-host")
    distributed.export_submitit_env()
    assert distributed.env_rank() == 3 and os.environ["MASTER_ADDR"] == "torchrun-host"


def test_batch_scope_says_whether_batch_size_is_global_or_per_process():
    two, one = distributed.DistInfo(rank=0, world_size=2), distributed.DistInfo()
    assert distributed.global_batch_size(64, "global", two) == 64
    assert distributed.global_batch_size(64, "per_device", two) == 128
    assert distributed.global_batch_size(64, "per_device", one) == 64


def test_settings_ddp_cannot_honour_are_refused():
    two, cpu = distributed.DistInfo(rank=0, world_size=2), torch.device("cpu")
    with pytest.raises(ValueError, match=r"trainer.batch_size=100 .*world size 8"):
        distributed.check_setup(100, False, cpu, distributed.DistInfo(world_size=8))
    with pytest.raises(ValueError, match="trainer.sync_bn=true needs CUDA"):
        distributed.check_setup(64, True, cpu, two)
    distributed.check_setup(64, False, cpu, two)
    distributed.check_setup(63, True, cpu, distributed.DistInfo())  # one process: nothing to split or sync


def test_ranks_mixers_draw_differently_from_the_same_batch():
    """The mixers as Trainer builds them for epoch 1 of ranks 0 and 1: same batch in, different boxes out."""
    augment = compose_cfg(["augment=cutmix", "augment.mode=elem"]).augment
    images, labels = torch.rand(16, 3, 16, 16), torch.arange(16) % 10

    def mixed(rank: int):
        generator = torch.Generator().manual_seed(epoch_seed(0, 1, rank + 1))
        return build_mixer(augment, 10, generator)(images, labels)

    (x0, t0), (x0_again, _), (x1, t1) = mixed(0), mixed(0), mixed(1)
    assert torch.equal(x0, x0_again)
    assert not torch.equal(x0, x1) and not torch.equal(t0, t1)


def test_each_rank_drives_its_own_gpu(monkeypatch):
    """cuda:LOCAL_RANK when all the node's GPUs are visible, cuda:0 when SLURM shows each task only its own."""
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    rank5 = distributed.DistInfo(rank=13, world_size=16, local_rank=5)
    for visible, expected in ((8, 5), (1, 0)):
        monkeypatch.setattr(torch.cuda, "device_count", lambda n=visible: n)
        assert distributed.local_device(torch.device("cuda"), rank5) == torch.device("cuda", expected)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    with pytest.raises(ValueError, match="local rank 5 has no GPU of its own: this process sees 4 GPUs"):
        distributed.local_device(torch.device("cuda"), rank5)
    assert distributed.local_device(torch.device("cpu"), rank5) == torch.device("cpu")
