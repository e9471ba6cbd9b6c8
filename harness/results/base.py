"""What every results model shares: frozen, no unknown field, durations in seconds."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _seconds(value: object) -> object:
    """Seconds; an older results.json wrote SLO durations as text ("1s"), read as seconds."""
    if isinstance(value, str):
        from harness.scenario.durations import parse_duration

        return parse_duration(value)
    return value


Seconds = Annotated[float, BeforeValidator(_seconds)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
