"""Resource limits of a service (memory, CPU), as a user writes them and as Docker takes them.

Written in ``target.yaml`` (``services.<name>.limits``) or set by a scenario
(``target: {limits: {<service>: {...}}}``, which wins). Only containers have them: the Docker and
Compose backends apply them at create time; the process backend refuses them (validation, exit 2).

Memory is a whole number of bytes or a number with a binary unit: ``Ki``, ``Mi``, ``Gi`` (or
Docker's ``k``, ``m``, ``g``, which mean the same), e.g. ``256Mi``. Decimal units (``M``, ``MB``)
are refused rather than guessed. Docker refuses a memory limit under 6 MiB, so does this.
``cpus`` is the share of CPU time, as ``docker run --cpus`` takes it (0.5 = half of one CPU).
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from harness.scenario.base import Model

MIN_MEMORY = 6 * 2**20  # Docker's floor: "Minimum memory limit allowed is 6MB"
MAX_MEMORY = 2**50
MIN_CPUS = 0.01  # Docker's floor for --cpus (a CFS quota of 1 ms per 100 ms)
_UNITS = {"": 1, "b": 1, "k": 2**10, "ki": 2**10, "m": 2**20, "mi": 2**20, "g": 2**30, "gi": 2**30}
_ALLOWED = ("", "b", "k", "ki", "Ki", "m", "mi", "Mi", "g", "gi", "Gi")
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_FIX = "write a size such as 256Mi or 1Gi (binary units Ki, Mi, Gi; or bytes)"


def parse_memory(value: object) -> int:
    """Bytes from ``256Mi`` / ``1g`` / ``268435456``; ValueError with the fix otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a memory size; fix: {_FIX}")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    else:
        m = _MEMORY_RE.match(value)
        if m is None:
            raise ValueError(f"{value!r} is not a memory size; fix: {_FIX}")
        number, unit = float(m.group(1)), m.group(2)
        if unit not in _ALLOWED:
            raise ValueError(f"unit {unit!r} of {value!r} is not one aftershock takes; fix: {_FIX}")
    size = number * _UNITS[unit.lower()]
    if not math.isfinite(size) or size != int(size):
        raise ValueError(f"{value!r} is not a whole number of bytes; fix: {_FIX}")
    if size < MIN_MEMORY:
        raise ValueError(
            f"{value!r} is under Docker's minimum of 6Mi: the container could not start;"
            " fix: give at least 6Mi"
        )
    if size > MAX_MEMORY:
        raise ValueError(f"{value!r} is more memory than any machine has; fix: {_FIX}")
    return int(size)


def format_memory(size: int) -> str:
    """``268435456`` -> ``256Mi`` (the largest binary unit that divides it)."""
    for unit, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


Memory = Annotated[
    int,
    BeforeValidator(parse_memory),
    PlainSerializer(format_memory, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(b|k|Ki|ki|m|Mi|mi|g|Gi|gi)?\s*$"},
                {"type": "integer", "minimum": MIN_MEMORY},
            ],
            "examples": ["256Mi", "1Gi"],
        }
    ),
]
Cpus = Annotated[float, Field(ge=MIN_CPUS, le=1024, allow_inf_nan=False)]


class Limits(Model):
    """A service's container limits; an unset one is unlimited."""

    memory: Memory | None = Field(None, description="memory limit, e.g. 256Mi (no swap beyond it)")
    cpus: Cpus | None = Field(None, description="share of CPU time, e.g. 0.5 (as `docker run --cpus`)")

    def merged(self, over: Limits | None) -> Limits:
        """These limits with ``over``'s set fields in their place (a scenario over target.yaml)."""
        if over is None:
            return self
        given = {name: getattr(over, name) for name in type(over).model_fields}
        return self.model_copy(update={k: v for k, v in given.items() if v is not None})

    @property
    def nano_cpus(self) -> int | None:
        return None if self.cpus is None else round(self.cpus * 1e9)
