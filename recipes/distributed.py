"""Data-parallel training with torch.distributed, launched by torchrun or by submitit (SLURM, or its local executor).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK itself. A submitit task only has its launcher's variables
(SLURM_PROCID, ...); submitit's own TorchDistributedEnvironment translates them into torch's before we join.
Without either we run as a single process and nothing here does anything. The backend is NCCL on CUDA and gloo on CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

SUBMITIT_TASK = "SUBMITIT_EXECUTOR"  # set in every task a submitit executor starts


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_rank() -> int:
    """This process's global rank as its launcher set it, before any process group exists (0 when alone).

    train.py needs it before Hydra starts (non-zero ranks must not write the run dir), and a run that fails before
    joining the group needs it to let only rank 0 write failed.json.
    """
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    if SUBMITIT_TASK in os.environ:
        from submitit import JobEnvironment

        return JobEnvironment().global_rank
    return 0


def export_submitit_env() -> None:
    """In a submitit task that torchrun did not start, export RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT.

    submitit's helper derives them from the job (rank 0's host is the master; the port is drawn from the job id,
    so every task agrees). CUDA_VISIBLE_DEVICES is left alone: each task picks cuda:LOCAL_RANK (local_device).
    """
    if "RANK" in os.environ or SUBMITIT_TASK not in os.environ:
        return
    from submitit.helpers import TorchDistributedEnvironment

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group the launcher describes (or return the single-process info).

    Ranks other than 0 then log warnings only, so a job's log says each thing once.
    """
    export_submitit_env()
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if not info.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    return info


def global_batch_size(batch_size: int, scope: str, info: DistInfo) -> int:
    """Images per optimiser step summed over all processes: trainer.batch_size itself with batch_scope=global,
    or batch_size per process times the number of processes with batch_scope=per_device."""
    return batch_size * info.world_size if scope == "per_device" else batch_size


def check_setup(batch_size: int, sync_bn: bool, device: torch.device, info: DistInfo) -> None:
    """Refuse settings DDP cannot honour, before any data is loaded.

    The global batch is split evenly over the ranks (a remainder would be silently dropped), and torch's
    SyncBatchNorm runs on GPUs only.
    """
    if not info.enabled:
        return
    if batch_size % info.world_size:
        raise ValueError(
            f"trainer.batch_size={batch_size} is the global batch and must be divisible by the "
            f"world size {info.world_size} (number of processes)"
        )
    if sync_bn and device.type != "cuda":
        raise ValueError(
            f"trainer.sync_bn=true needs CUDA (torch's SyncBatchNorm has no {device.type} kernel); "
            "use trainer.sync_bn=false"
        )


def local_device(device: torch.device, info: DistInfo) -> torch.device:
    """Each rank drives one GPU; CPU stays CPU.

    That is cuda:LOCAL_RANK when the process sees all of its node's GPUs (torchrun, plain SLURM tasks), and
    cuda:0 when the launcher let it see only its own (SLURM clusters that bind one GPU to each task).
    """
    if device.type != "cuda" or not info.enabled:
        return device
    count = torch.cuda.device_count()
    index = 0 if count == 1 else info.local_rank
    if index >= count:
        raise ValueError(
            f"local rank {info.local_rank} has no GPU of its own: this process sees {count} GPUs; "
            "start one process per GPU"
        )
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def gather_cat(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's tensor along dim 0 (ranks may hold different lengths)."""
    if not info.enabled:
        return tensor
    sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(info.world_size)]
    dist.all_gather(sizes, torch.tensor([len(tensor)], device=tensor.device))
    longest = int(max(sizes))
    padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: len(tensor)] = tensor
    parts = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(n)] for p, n in zip(parts, sizes, strict=True)])


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics).

    DDP sends rank 0's buffers at the start of each forward, but each rank then updates its copy from its own
    share of the batch; after the last step they differ. Evaluating with rank 0's, which the checkpoint stores,
    makes the gathered test metrics those of the saved model.
    """
    if not info.enabled:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def check_same_on_all_ranks(value: int, what: str, device: torch.device, info: DistInfo) -> None:
    """Raise on every rank if `value` differs between ranks (rather than let the job hang in a collective)."""
    if not info.enabled:
        return
    values = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(info.world_size)]
    dist.all_gather(values, torch.tensor([value], device=device))
    seen = [int(v) for v in values]
    if len(set(seen)) > 1:
        raise ValueError(f"ranks disagree on {what}: {seen} (by rank); is the run dir on a filesystem every node sees?")


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
