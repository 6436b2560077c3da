"""One trainer per run dir at a time: an exclusive lock on `<run dir>/.lock` held while a run trains.

A sweep with hydra/launcher=parallel can start two jobs of one run dir at once (a baseline that several methods'
overrides name alike). The second one waits on the lock; once it holds it, the first has finished, and the
"complete run is skipped" rule of recipes.run.run_training finds its summary.json. The lock is fcntl.flock's:
the kernel releases it when the process exits, crashed or killed included, so a stale lock file blocks nothing.
Only a torchrun job's rank 0 takes it (the other ranks of the job follow their rank 0).
"""

from __future__ import annotations

import fcntl
import functools
import logging
from pathlib import Path

from recipes.distributed import env_rank

log = logging.getLogger(__name__)
LOCK_FILE = ".lock"


def one_trainer_per_run_dir(run):
    """Decorate run(cfg, run_dir, ...) to run while holding the run dir's lock, waiting for it if taken."""

    @functools.wraps(run)
    def locked(cfg, run_dir, *args, **kwargs):
        if env_rank() != 0:
            return run(cfg, run_dir, *args, **kwargs)
        path = Path(run_dir) / LOCK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("%s is being trained by another process; waiting for it to finish", run_dir)
                fcntl.flock(lock, fcntl.LOCK_EX)
            return run(cfg, run_dir, *args, **kwargs)  # closing the file releases the lock

    return locked
