"""Which config keys define what a run computes: the one home of that rule, and the run-dir name built from it.

Two kinds of keys do not define a run's result:
- NOT_RESULT_DEFINING: where a run reads and writes, how much it prints or evaluates along the way. They stay out
  of the run dir's name, are ignored when a resumed run compares its settings, and do not split sweep groups
  (configs/train.yaml's override_dirname.exclude_keys reads them through the `not_result_defining` resolver).
- augment args the chosen method does not take (`augment=none augment.alpha=0.5`, `augment=cutout
  augment.mode=elem`): accepted so that one sweep can share them across methods, but they change nothing. They
  stay out of the run dir's name (so the baseline of `augment=none,mixup augment.alpha=0.5,1.0` lands in one
  dir and is trained once), out of the mixer's constructor (recipes.mixers.build_mixer) and out of sweep groups.
`augment.off_epoch` applies to every method but `none` (it wraps the mixer: augment.MixUntil); null, its default
(mixing never stops), is what a config written before the key existed meant, so a null value is left out too.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import OmegaConf

from augment import METHODS, MODEL_METHODS

# trainer.robustness and trainer.robustness_subset are result-defining although training ignores them: they decide
# which summary.json keys exist and on which images they are measured, so a complete run without them must not be
# reused for a command that asks for them, nor grouped with runs that measured another subset.
NOT_RESULT_DEFINING = (
    "resume",
    "ckpt_path",
    "trainer.device",
    "trainer.progress",
    "trainer.log_every",
    "trainer.eval_every",
    "trainer.eval_batch_size",
    "dataset.root",
    "dataset.download",
    "dataset.num_workers",
    # the readable files are a property of the folder, like dataset.root: a run with false trains only when every
    # file reads, and then on the same files as with true
    "dataset.skip_bad_files",
)

# Constructor args every mixer takes from the trainer, not from the augment node.
_TRAINER_ARGS = frozenset({"num_classes", "generator"})
# Args of every method but `none`, outside the mixer's constructor: the epoch after which mixing stops.
_SCHEDULE_ARGS = frozenset({"off_epoch"})


def augment_args(name: str) -> frozenset[str] | None:
    """The augment-node keys (besides `name`) that change what method `name` computes; None for an unknown name.

    Derived from the mixer's constructor in augment.METHODS (or MODEL_METHODS), so a new mixer arg applies without
    a second list.
    `none` takes no args: NoMix returns one-hot targets whatever its `prob`. `choice` (MixChoice) takes its
    `methods` table and `probs`. Every method but `none` takes `off_epoch`.
    """
    if name == "none":
        return frozenset()
    if name == "choice":
        return frozenset({"methods", "probs"}) | _SCHEDULE_ARGS
    mixer = METHODS.get(name) or MODEL_METHODS.get(name)
    if mixer is None:
        return None
    return frozenset(inspect.signature(mixer).parameters) - _TRAINER_ARGS | _SCHEDULE_ARGS


def applies(key: str, augment_name: str) -> bool:
    """False for a dotted `augment.<arg>...` key that method `augment_name` does not take; True otherwise."""
    if not key.startswith("augment.") or key == "augment.name":
        return True
    args = augment_args(augment_name)
    return args is None or key.split(".")[1] in args


def applying_augment_args(node: Mapping[str, Any]) -> dict[str, Any]:
    """An augment node (a plain dict, `name` included) without the args its method does not take."""
    return {k: v for k, v in node.items() if applies(f"augment.{k}", node.get("name"))}


def result_defining(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A flattened config ({"a.b": value}) without the keys that do not define the run's result."""
    name = flat.get("augment.name")
    return {
        k: v
        for k, v in flat.items()
        if k not in NOT_RESULT_DEFINING and applies(k, name) and not (k == "augment.off_epoch" and v is None)
    }


# --------------------------------------------------------------------------------------------------
# The run dir's name
# --------------------------------------------------------------------------------------------------


MAX_NAME_BYTES = 200  # run dir names longer than this end in a hash (file systems allow 255 bytes)


def run_name(overrides: Iterable[str], augment_name: str) -> str:
    """The run dir name: the command-line overrides that define the run, sorted, joined with ',' ("default").

    Hydra's own override_dirname, less the keys that do not define the result: e.g. `augment.alpha=0.5,augment=none`
    becomes `augment=none`. Lines come from hydra.overrides.task (the job's overrides, sweep values expanded).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    kept = sorted(
        o.input_line
        for o in parsed
        if o.key_or_group not in NOT_RESULT_DEFINING and applies(o.key_or_group, augment_name)
    )
    name = ",".join(kept) or "default"
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    # a file system takes 255 bytes per name: a long one keeps its readable head and ends in a hash of the whole,
    # so the same overrides still find the same dir (.hydra/overrides.yaml in it has them all)
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    head = name.encode()[: MAX_NAME_BYTES - len(digest) - 6].decode(errors="ignore")
    return f"{head},sha1={digest}"


def register_run_name() -> None:
    """Register the resolvers configs/train.yaml uses (train.py and tests call it): `run_name` names the run dirs,
    `not_result_defining` gives Hydra's override_dirname the keys to leave out (NOT_RESULT_DEFINING, no copy)."""
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("not_result_defining", lambda: list(NOT_RESULT_DEFINING), replace=True)
