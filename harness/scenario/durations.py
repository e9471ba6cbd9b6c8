"""Durations ("500ms", "10s", "2m") and bounds ("<= 10s", "< 0.05", ">= 0.99").

Bare numbers are seconds for durations. A bare bound ("10s", 0) means "<=". Every value is
finite and within what a rehearsal can measure: a duration is at most :data:`MAX_SECONDS`, a
count a whole number up to :data:`MAX_COUNT`, a rate a share within [0, 1].
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

#: One day: no rehearsal runs, waits or recovers for longer.
MAX_SECONDS = 24 * 3600.0
#: No rehearsal sends more requests than this.
MAX_COUNT = 10**9
BoundKind = Literal["duration", "count", "rate", "number"]

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
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            if value.strip().startswith("-"):
                raise ValueError("a duration cannot be negative")
            raise ValueError("expected a duration such as '500ms', '10s' or '2m' (units: ms, s, m, h)")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError("expected a duration such as '500ms', '10s' or '2m'")
    if math.isnan(seconds):
        raise ValueError("expected a duration such as '500ms', '10s' or '2m', not NaN")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_SECONDS:
        raise ValueError(f"a duration must be at most 24h ({MAX_SECONDS:g}s); fix: use a value <= 24h")
    return seconds


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


_EXAMPLE = {"duration": "'<= 10s'", "count": "'<= 0'", "rate": "'<= 0.05'", "number": "'<= 0.05'"}


def parse_bound(value: object, *, duration: bool = False, kind: BoundKind | None = None) -> Bound:
    """Parse ``"<= 10s"``. ``kind`` says what is bounded: a time, a count of writes (a whole
    number), a rate (a share within [0, 1]) or any non-negative number (``duration`` is the
    older spelling of ``kind="duration"``)."""
    kind = kind or ("duration" if duration else "number")
    example = _EXAMPLE[kind]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a bound such as {example}")
    op, rest = "<=", value
    if isinstance(value, str):
        m = _BOUND.match(value)
        if not m:
            raise ValueError(f"expected a bound such as {example}")
        op, rest = m.group(1) or "<=", m.group(2)
    if kind == "duration":
        number = parse_duration(rest)
        text = f"{op} {rest}" if isinstance(rest, str) else f"<= {rest}s"
        return Bound(op, number, text, True)
    number = _bound_number(rest, op, kind, example)
    return Bound(op, number, f"{op} {rest}", False)


def _bound_number(rest: object, op: str, kind: BoundKind, example: str) -> float:
    try:
        number = float(rest)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"expected a number after {op!r}, such as {example}") from None
    if not math.isfinite(number):
        raise ValueError(f"a bound must be a finite number; fix: write a number, such as {example}")
    what = "count" if kind == "count" else "rate or number"
    if number < 0:
        raise ValueError(f"a bound on a {what} cannot be negative; fix: write a bound such as {example}")
    if kind == "count" and (number != int(number) or number > MAX_COUNT):
        raise ValueError(
            f"a count of writes is a whole number from 0 to {MAX_COUNT}; fix: write a bound such as {example}"
        )
    if kind == "rate" and number > 1:
        raise ValueError(f"a rate is a share within [0, 1]; fix: write a bound such as {example}")
    return number
