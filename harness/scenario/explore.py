"""The ``explore:`` block of a scenario: the bounds within which ``aftershock explore`` draws
fault schedules (kinds, where, how many, and the range of each magnitude)."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from harness.scenario.base import Model
from harness.scenario.faults import LINK_FAULT_KINDS, RESOURCE_FAULT_KINDS
from harness.scenario.fields import Count, Number, Seconds


class Explore(Model):
    """Bounds of the fault schedules ``aftershock explore`` may generate for this scenario."""

    kinds: list[str] = Field(min_length=1, description="fault kinds to draw from")
    links: list[str] = Field(default_factory=list, description="links link faults may hit (default: all)")
    services: list[str] = Field(
        default_factory=list, description="services crash/pause may hit (default: all)"
    )
    max_faults: Count = Field(2, ge=1, le=10)
    start: tuple[Seconds, Seconds] = Field(description="range of `at`, e.g. [2s, 12s]")
    duration: tuple[Seconds, Seconds] = Field((1.0, 5.0), description="range of fault durations")
    latency: tuple[Seconds, Seconds] = Field((0.1, 2.0), description="range of latency faults' delay")
    fraction: tuple[Number, Number] = Field(
        (0.05, 0.5), description="range of duplicate faults' resend share, within [0.01, 1]"
    )
    rate: tuple[Count, Count] = Field((1, 1000), description="range of bandwidth faults' KB per second")
    size: tuple[Count, Count] = Field((1, 1000), description="range of slicer faults' average slice, bytes")
    bytes: tuple[Count, Count] = Field(
        (0, 10_000), description="range of limit_data faults' bytes let through"
    )
    cpus: tuple[Number, Number] = Field((0.01, 0.5), description="range of cpu_starve faults' CPU share")
    budget: Count = Field(10, ge=1, le=1000, description="examples to try (each one is a real rehearsal)")

    @field_validator("start", "duration", "latency", "fraction", "rate", "size", "bytes", "cpus")
    @classmethod
    def _range(cls, value: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        name, (lo, hi) = info.field_name, value
        if lo > hi:
            raise ValueError(f"the range [{lo:g}, {hi:g}] is empty; fix: write [low, high]")
        step = {"duration": 0.1, "latency": 0.1, "fraction": 0.01}.get(str(name))
        if step is not None and hi < step:
            raise ValueError(
                f"the range [{lo:g}, {hi:g}] holds nothing to draw (values are drawn in steps of"
                f" {step:g}); fix: raise its upper end to at least {step:g}"
            )
        if name == "fraction" and not 0 <= lo <= hi <= 1:
            raise ValueError(f"[{lo:g}, {hi:g}] is not a share; fix: give a range within [0.01, 1]")
        if (name == "rate" and lo < 1) or (name == "size" and lo < 1):
            raise ValueError(f"[{lo:g}, {hi:g}] starts below 1; fix: give a range from 1 up")
        if name == "cpus" and not 0.01 <= lo <= hi <= 1024:
            raise ValueError(f"[{lo:g}, {hi:g}] is not a CPU share; fix: give a range within [0.01, 1024]")
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(EXPLORABLE_KINDS))
        if unknown:
            raise ValueError(f"kinds {unknown} cannot be explored; fix: use {', '.join(EXPLORABLE_KINDS)}")
        return kinds


#: What explore can draw: every link fault, the service faults that take no command, the load's
#: duplicates (deploy and partition need a plan a draw cannot make).
EXPLORABLE_KINDS = (*LINK_FAULT_KINDS, "crash", "pause", *RESOURCE_FAULT_KINDS, "duplicate")
