"""Rules for config values: the allowed range or choices of a schema field, kept in the field's metadata.

recipes.schema declares the fields with `ranged` and `one_of`; recipes.config.validate reads each field's Rule
and calls `problem` on its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from omegaconf import MISSING


class ConfigError(ValueError):
    """A config value is invalid; the message names the key, the value and what is allowed."""


class InputError(Exception):
    """An input the config names is missing or unreadable (dataset files, a checkpoint, pretrained weights); the
    message, one line, names it and says what to do. train.py and eval.py print it without a traceback."""


@dataclass(frozen=True)
class Rule:
    """What a value (or, for a list, each element) must be: a finite number within bounds, or one of choices."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices)
        low = f"[{self.ge}" if self.ge is not None else f"({self.gt}" if self.gt is not None else None
        high = f"{self.le}]" if self.le is not None else f"{self.lt})" if self.lt is not None else None
        if low and high:
            return f"a number in {low}, {high}"
        if low:
            return f"a number {'>=' if self.ge is not None else '>'} {low[1:]}"
        return f"a number {'<=' if self.le is not None else '<'} {high[:-1]}"

    def ok(self, value: Any) -> bool:
        if self.choices is not None:
            return any(value is c or (type(value) is type(c) and value == c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return False
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        )


def ranged(default: Any = MISSING, **bounds: float) -> Any:
    """A numeric field (int, float, a list of them, or optional) whose values must lie within `bounds`."""
    return field(default=default, metadata={"rule": Rule(**bounds)})


def one_of(choices: tuple, default: Any = MISSING) -> Any:
    """A field whose value must be one of `choices`."""
    return field(default=default, metadata={"rule": Rule(choices=tuple(choices))})


def problem(rule: Rule, value: Any) -> str | None:
    """None if `value` (None allowed: the field's type says whether it may be null) follows `rule`, else why not."""
    if value is None:
        return None
    if isinstance(value, list | tuple) and rule.choices is None:
        return None if all(rule.ok(v) for v in value) else f"each element must be {rule.allowed()}"
    return None if rule.ok(value) else f"it must be {rule.allowed()}"


class Node:
    """Base of the schemas: `relation` checks what involves several keys of one node (None = fine)."""

    def relation(self, prefix: str) -> str | None:
        return None
