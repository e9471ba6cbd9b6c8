"""Durations ("500ms", "10s", "2m") and bounds ("<= 10s", "< 0.05", ">= 0.99").

Bare numbers are seconds for durations. A bare bound ("10s", 0) means "<=".
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_BOUND = re.compile(r"^\s*(<=|<|>=|>|==)?\s*(.+?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}


def parse_duration(value: object) -> float:
    """Seconds from "250ms", "1.5s", "2m", "1h" or a bare non-negative number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '500ms', '10s' or '2m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '500ms', '10s' or '2m'")
    m = _DURATION.match(value)
    if not m:
        if value.strip().startswith("-"):
            raise ValueError("a duration cannot be negative")
        raise ValueError("expected a duration such as '500ms', '10s' or '2m' (units: ms, s, m, h)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def format_seconds(seconds: float, resolution: float | None = None) -> str:
    """A duration with no more precision than its resolution supports."""
    if resolution is None or resolution <= 0:
        decimals = 3
    elif resolution >= 1:
        decimals = 0
    elif resolution >= 0.1:
        decimals = 1
    elif resolution >= 0.01:
        decimals = 2
    else:
        decimals = 3
    return f"{seconds:.{decimals}f}s"


@dataclass(frozen=True)
class Bound:
    """A comparison against a target value: ``measured <op> value``."""

    op: str
    value: float
    text: str
    is_duration: bool

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)

    def margin(self, measured: float) -> float:
        """How far inside the bound (positive) or outside it (negative) the measurement is."""
        if self.op in ("<=", "<"):
            return self.value - measured
        if self.op in (">=", ">"):
            return measured - self.value
        return -abs(measured - self.value)


def parse_bound(value: object, *, duration: bool) -> Bound:
    """Parse ``"<= 10s"``; ``duration`` says whether the value is a time or a plain number."""
    if isinstance(value, bool):
        raise ValueError("expected a bound such as '<= 10s' or '<= 0.05'")
    if isinstance(value, int | float):
        if duration:
            return Bound("<=", parse_duration(value), f"<= {value}s", True)
        return Bound("<=", float(value), f"<= {value}", False)
    if not isinstance(value, str):
        raise ValueError("expected a bound such as '<= 10s' or '<= 0.05'")
    m = _BOUND.match(value)
    if not m:
        raise ValueError("expected a bound such as '<= 10s' or '<= 0.05'")
    op = m.group(1) or "<="
    rest = m.group(2)
    if duration:
        number = parse_duration(rest)
    else:
        try:
            number = float(rest)
        except ValueError:
            raise ValueError(f"expected a number after {op!r}, such as '<= 0.05'") from None
        if number < 0:
            raise ValueError("a bound on a count or rate cannot be negative")
    return Bound(op, number, f"{op} {rest}", duration)
