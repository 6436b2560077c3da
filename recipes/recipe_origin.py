"""Which optimiser and schedule a run trains with, and where they came from: the first lines of its log.

Every configs/model option names its family's recipe in its defaults list (`override /optim@_global_.optim:
adamw`, `override /sched@_global_.sched: cosine_warmup`); an experiment file pins its paper's recipe over it, and
the command line wins over both (Hydra applies the first override it meets: command line, then the experiment,
then the model). So the origin of a group's choice is, in that order: a command-line override of the group or of
one of its keys, the experiment, else the model's recipe. train.py passes Hydra's runtime choices and task
overrides in; nothing here reads Hydra's globals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from omegaconf import DictConfig

GROUPS = ("optim", "sched")


def set_on_command_line(group: str, task_overrides: Sequence[str]) -> bool:
    """Whether the overrides (`optim=sgd`, `optim.lr=0.01`, `+sched.x=1`, ...) choose or change `group`."""
    for override in task_overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == group or key.startswith(f"{group}."):
            return True
    return False


def origin(group: str, *, choices: Mapping[str, str | None], task_overrides: Sequence[str]) -> str:
    """Where `group`'s settings come from, as the log says it: "the command line", "experiment=<name>" or
    "model=<option>'s recipe"."""
    if set_on_command_line(group, task_overrides):
        return "the command line"
    if choices.get("experiment"):
        return f"experiment={choices['experiment']}"
    return f"model={choices.get('model')}'s recipe"


def describe_optim(optim: DictConfig) -> str:
    extra = f" momentum {optim.momentum}{' nesterov' if optim.nesterov else ''}" if optim.name == "sgd" else ""
    return f"{optim.name} lr {optim.lr:g} wd {optim.weight_decay:g}{extra}"


def describe_sched(sched: DictConfig) -> str:
    extra = f" milestones {list(sched.milestones)} gamma {sched.gamma:g}" if sched.name == "multistep" else ""
    return f"{sched.name}, warmup {sched.warmup_epochs:g} epochs{extra}"


def describe_recipe(cfg: DictConfig, *, choices: Mapping[str, str | None], task_overrides: Sequence[str]) -> list[str]:
    """Two log lines, e.g. "optim: adamw lr 0.001 wd 0.05 (from model=vit_tiny's recipe)"."""
    where = {group: origin(group, choices=choices, task_overrides=task_overrides) for group in GROUPS}
    return [
        f"optim: {describe_optim(cfg.optim)} (from {where['optim']})",
        f"sched: {describe_sched(cfg.sched)} (from {where['sched']})",
    ]
