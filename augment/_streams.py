"""Where a mixer's random stream comes from: a private generator, and one stream per DataLoader worker.

A mixer used as (part of) a DataLoader collate_fn, the pattern torchvision documents for mixing, is copied
into every worker with its generator's state, so without care all workers would draw the same λ, boxes and
pairings batch for batch. `fold_worker_seed` gives each worker its own stream the first time a generator is
used there: it reseeds the worker's copy from a draw of that copy and the worker's seed. The worker's seed
(`torch.utils.data.get_worker_info().seed`) is the loader's base seed plus the worker id, and the base seed
comes from the loader's `generator` (or torch's global RNG), so seeding that and the mixer reproduces a whole
epoch. Fresh workers (each epoch unless `persistent_workers`) get a new base seed and so a new stream;
persistent workers fold once and then continue their stream. The main process is never touched.
"""

from __future__ import annotations

import hashlib
import weakref

import torch
from torch.utils.data import get_worker_info

# The worker seed each generator was folded with, in this process (always empty in the main process).
# Keyed by the generator, not the mixer, so a generator shared by several mixers is folded once.
_FOLDED: weakref.WeakKeyDictionary[torch.Generator, int] = weakref.WeakKeyDictionary()


def private_generator() -> torch.Generator:
    """A CPU generator seeded from torch's global RNG (so torch.manual_seed still makes runs repeatable)."""
    seed = int(torch.randint(0, 2**62, (1,)).item())
    return torch.Generator().manual_seed(seed)


def fold_worker_seed(generator: torch.Generator) -> None:
    """Inside a DataLoader worker, reseed `generator` once per worker seed; in the main process do nothing.

    The new seed hashes a draw from the generator (its state, as copied from the main process) together with
    the worker's seed, so different workers, epochs and mixers get unrelated streams. Collate functions run on
    the CPU: a CUDA generator in a forked worker fails in torch itself, as any CUDA use there does.
    """
    info = get_worker_info()
    if info is None or _FOLDED.get(generator) == info.seed:
        return
    state = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    digest = hashlib.blake2b(f"{state}:{info.seed}".encode(), digest_size=8).digest()
    generator.manual_seed(int.from_bytes(digest, "little") >> 1)  # 63 bits: any generator accepts it
    _FOLDED[generator] = info.seed
