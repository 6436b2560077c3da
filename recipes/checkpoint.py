"""Checkpoint files: written atomically (a crash never leaves a half-written last.pt), read without running code."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from recipes.schema.rules import InputError


class CheckpointError(RuntimeError, InputError):
    """A checkpoint is missing, unreadable or does not fit the model; the message names the file."""


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file beside `path`, fsync, then rename over it (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run dir holding checkpoints/last.pt."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint on the CPU with a clear error for a truncated, foreign or unsafe file.

    Loaded with torch's weights_only unpickler: tensors and plain containers only, which is all train.py writes.
    A file whose pickle asks for anything else (a class, a function call: code a file someone sent could run)
    is refused before any of it is built.
    """
    path = find_checkpoint(path)
    if not zipfile.is_zipfile(path) and not _is_pickle(path):
        raise CheckpointError(_not_a_checkpoint(path, "neither a zip archive, as torch.save writes, nor a pickle"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = re.search(r"Unsupported [^.]*", str(err))  # torch's "Unsupported global: GLOBAL os.system ..."
        if reason is None:  # a damaged pickle rather than one asking for code
            raise CheckpointError(_not_a_checkpoint(path, str(err).splitlines()[0])) from None
        raise CheckpointError(
            f"refusing {path}: it holds more than tensors and plain containers, so it was not written by train.py "
            f"and loading it could run code ({reason.group(0)})"
        ) from None
    except Exception as err:  # torch raises several types for a damaged zip/pickle
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(_not_a_checkpoint(path, first)) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a checkpoint written by train.py (no 'model'/'config' entries)")
    return state


def _is_pickle(path: Path) -> bool:
    """Whether the file starts as a pickle of protocol 2 or later does (torch.save's legacy format)."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def _not_a_checkpoint(path: Path, reason: str) -> str:
    """One line naming a file that is not a checkpoint, or one cut short (an interrupted copy)."""
    return (
        f"{path}: not a checkpoint / truncated ({path.stat().st_size} bytes; {reason}); point ckpt_path= at a "
        "checkpoints/last.pt that train.py wrote, or copy it again"
    )


def load_model_weights(model: torch.nn.Module, state: dict, path: str | Path) -> None:
    """Load weights, naming the checkpoint and the first mismatching tensors if they do not fit."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[:4]
        raise CheckpointError(
            f"checkpoint {path} does not fit this model (other model or num_classes?): {' '.join(first)}"
        ) from None
