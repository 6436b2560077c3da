"""One trainer per run dir: two real train.py processes of one run dir (as hydra/launcher=parallel can start them)
train it once; the second waits for the lock, then skips the complete run."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time

from recipes.run_lock import LOCK_FILE
from tests.conftest import FAST, ROOT


def test_two_processes_of_one_run_dir_train_it_once(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    command = [sys.executable, str(ROOT / "train.py"), *FAST, "trainer.precision=fp32", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = [tmp_path / f"job{i}.log" for i in range(2)]
    with open(run_dir / LOCK_FILE, "a") as held:  # a third trainer holds the dir while both jobs start
        fcntl.flock(held, fcntl.LOCK_EX)
        jobs = [
            subprocess.Popen(command, env=env, cwd=tmp_path, stdout=open(log, "w"), stderr=subprocess.STDOUT)
            for log in logs
        ]
        deadline = time.monotonic() + 240
        while not all("waiting for it to finish" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(job.poll() is None for job in jobs), [
                log.read_text() for log in logs
            ]
            time.sleep(0.5)
    assert [job.wait(timeout=300) for job in jobs] == [0, 0], [log.read_text() for log in logs]
    outputs = [log.read_text() for log in logs]
    assert sum("already holds this run, complete (summary.json); skipping" in out for out in outputs) == 1
    assert sum("done: top-1" in out for out in outputs) == 1
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1]  # one epoch written once: the two jobs never trained side by side
