"""Every file of an image folder decoded once before training, the verdicts remembered across runs.

A header is not enough (a truncated JPEG opens and fails half-way through its pixels), so each listed file is
decoded in full (recipes.folder_decode.open_image) by the run's DataLoader workers. The verdicts are kept in a
small JSON file per folder under the cache dir ($XDG_CACHE_HOME/mixaug/checked_files, default ~/.cache), keyed by
the file's path, size and modification time, so the runs of a sweep over one folder pay the check once and a file
changed on disk is checked again. By default any unreadable file stops the run with one error listing them all;
with dataset.skip_bad_files=true the run trains on the rest and summary.json lists the skipped files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from recipes.folder_decode import open_image
from recipes.schema.rules import ConfigError

log = logging.getLogger(__name__)
SHOWN = 20  # unreadable files named one by one in the error; the rest are counted


class BadFilesError(ConfigError):
    """Unreadable files in an image folder (one error for all of them, naming dataset.skip_bad_files)."""


@dataclass(frozen=True)
class CheckedSamples:
    """The readable (path, label) samples of each split and the {"path", "reason"} of every file left out."""

    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
    skipped: list[dict] = field(default_factory=list)


def cache_file(root) -> Path:
    """The JSON file holding the verdicts for the folder `root` (one per folder, named by its resolved path)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mixaug" / "checked_files"
    return base / (hashlib.sha256(str(Path(str(root)).resolve()).encode()).hexdigest()[:16] + ".json")


def _stamp(path: str) -> list[int]:
    """[size, mtime in ns] of the file; [-1, -1] for one that vanished since it was listed (its decode fails)."""
    try:
        stat = os.stat(path)
    except OSError:
        return [-1, -1]
    return [stat.st_size, stat.st_mtime_ns]


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: check again
        return {}


def _write_cache(path: Path, verdicts: dict) -> None:
    """Atomically (a temporary file renamed over it); a cache dir that cannot be written only costs a re-check."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(verdicts))
        os.replace(tmp, path)
    except OSError as err:
        log.warning("could not save the image check cache %s: %s", path, err)


class _Decode(torch.utils.data.Dataset):
    """Item i: the reason files[i] cannot be decoded, or "" when it decodes."""

    def __init__(self, files: list[str]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> str:
        try:
            open_image(self.files[index])
        except Exception as err:  # noqa: BLE001 - PIL raises many types for a damaged file; each is a verdict
            reason = str(err).replace(f" '{self.files[index]}'", "").replace(self.files[index], "the file")
            return f"{type(err).__name__}: {reason}".replace("\n", " ")
        return ""


def unreadable(files: list[str], *, root, num_workers: int) -> dict[str, str]:
    """path -> reason of each of `files` that does not decode; cached verdicts are reused while size and mtime
    match, the other files are decoded by `num_workers` DataLoader workers."""
    cache = cache_file(root)
    verdicts = _read_cache(cache)
    stamps = {f: _stamp(f) for f in files}
    todo = [f for f in files if verdicts.get(f, [None])[:2] != stamps[f]]
    if todo:
        log.info("checking %d image files (decoding each once; %d verdicts cached)", len(todo), len(files) - len(todo))
        loader = torch.utils.data.DataLoader(
            _Decode(todo), batch_size=64, num_workers=num_workers, collate_fn=list, shuffle=False
        )
        reasons = [reason for batch in loader for reason in batch]
        verdicts.update({f: [*stamps[f], reason] for f, reason in zip(todo, reasons, strict=True)})
        _write_cache(cache, verdicts)
    return {f: verdicts[f][2] for f in files if verdicts[f][2]}


def checked_samples(train, test, cfg) -> CheckedSamples:
    """The samples of both splits with every unreadable file found first (`cfg`: the dataset node, for its root,
    num_workers and skip_bad_files): one BadFilesError naming them all, or (dataset.skip_bad_files=true) the
    samples without them and the list of what was skipped."""
    root = cfg.root
    bad = unreadable(sorted({p for p, _ in train + test}), root=root, num_workers=int(cfg.num_workers))
    if not bad:
        return CheckedSamples(train, test)
    if not cfg.get("skip_bad_files", False):
        listed = "; ".join(f"{path} ({reason})" for path, reason in list(bad.items())[:SHOWN])
        more = f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise BadFilesError(
            f"{len(bad)} unreadable image file(s) in dataset.root={root}: {listed}{more}. Fix or remove them, or "
            "pass dataset.skip_bad_files=true to train on the rest"
        )
    log.warning("skipping %d unreadable image file(s) of %s (dataset.skip_bad_files=true)", len(bad), root)
    return CheckedSamples(
        [s for s in train if s[0] not in bad],
        [s for s in test if s[0] not in bad],
        [{"path": path, "reason": reason} for path, reason in bad.items()],
    )
