"""The hypothesis strategy of fault schedules within a scenario's ``explore:`` bounds.

Schedules are lists of plain fault mappings, exactly as a scenario file holds them, so a failing
one can be written out and run with ``aftershock run``. Times and magnitudes are drawn as whole
tenths of a second (hundredths for shares), so hypothesis shrinks towards fewer faults, earlier
starts, shorter durations and smaller magnitudes. The ``explore:`` model guarantees every range
holds at least one such value. A fault that would overlap an earlier one on the same link or
service is dropped (the scenario loader rejects overlapping faults; see
:mod:`harness.scenario.overlap`), so every schedule is a valid scenario.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from pydantic import TypeAdapter

from harness.scenario.models import LINK_FAULT_KINDS, RESOURCE_FAULT_KINDS, Explore, Fault
from harness.scenario.overlap import overlaps
from harness.scenario.target import Target

SERVICE_KINDS = ("crash", "pause", *RESOURCE_FAULT_KINDS)


def _tenths(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.integers(round(lo * 10), round(hi * 10)).map(lambda n: n / 10)


def drawable_kinds(ex: Explore, target: Target) -> list[str]:
    links = ex.links or target.links
    services = ex.services or list(target.services)
    return [
        k
        for k in ex.kinds
        if (k in LINK_FAULT_KINDS and links) or (k in SERVICE_KINDS and services) or k == "duplicate"
    ]


@st.composite
def fault(draw: st.DrawFn, ex: Explore, target: Target) -> dict[str, Any]:
    kinds = drawable_kinds(ex, target)
    kind = draw(st.sampled_from(kinds))
    spec: dict[str, Any] = {
        "kind": kind,
        "at": draw(_tenths(*ex.start)),
        "duration": draw(_tenths(max(ex.duration[0], 0.1), ex.duration[1])),
    }
    if kind in LINK_FAULT_KINDS:
        spec["link"] = draw(st.sampled_from(ex.links or target.links))
    if kind == "latency":
        spec["latency"] = draw(_tenths(max(ex.latency[0], 0.1), ex.latency[1]))
    if kind == "bandwidth":
        spec["rate"] = draw(st.integers(*ex.rate))
    if kind == "slicer":
        spec["average_size"] = draw(st.integers(*ex.size))
        spec["delay"] = draw(_tenths(0.0, min(ex.latency[1], 10.0))) / 100  # ms-scale gaps between slices
    if kind == "slow_close":
        spec["delay"] = draw(_tenths(max(ex.latency[0], 0.1), ex.latency[1]))
    if kind == "limit_data":
        spec["bytes"] = draw(st.integers(*ex.bytes))
    if kind == "cpu_starve":
        lo, hi = ex.cpus
        spec["cpus"] = draw(st.integers(max(1, round(lo * 100)), max(1, round(hi * 100)))) / 100
    if kind in SERVICE_KINDS:
        spec["service"] = draw(st.sampled_from(ex.services or list(target.services)))
    if kind == "duplicate":
        lo, hi = ex.fraction
        spec["fraction"] = draw(st.integers(max(1, round(lo * 100)), max(1, round(hi * 100)))) / 100
    return spec


_FAULT: TypeAdapter[Any] = TypeAdapter(Fault)


def without_overlaps(schedule: list[dict[str, Any]], target: Target) -> list[dict[str, Any]]:
    """``schedule`` minus each fault that repeats or overlaps one kept before it (the first stays)."""
    kept: list[dict[str, Any]] = []
    for spec in schedule:
        if spec in kept:
            continue
        candidate = [*kept, spec]
        if not overlaps([_FAULT.validate_python(f) for f in candidate], target):
            kept = candidate
    return kept


def schedules(ex: Explore, target: Target) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Between one and ``max_faults`` faults, sorted by start, none overlapping another."""
    return st.lists(fault(ex, target), min_size=1, max_size=ex.max_faults).map(
        lambda faults: without_overlaps(sorted(faults, key=lambda f: f["at"]), target)
    )


def describe(schedule: list[dict[str, Any]]) -> str:
    parts = []
    for f in schedule:
        where = f.get("link") or f.get("service") or "load"
        extra = ""
        if "latency" in f:
            extra = f" +{f['latency']:g}s"
        elif "rate" in f:
            extra = f" {f['rate']}KB/s"
        elif "average_size" in f:
            extra = f" {f['average_size']}B slices"
        elif "bytes" in f:
            extra = f" {f['bytes']}B"
        elif "cpus" in f:
            extra = f" {f['cpus']:g} CPU"
        elif f.get("kind") == "slow_close":
            extra = f" close +{f['delay']:g}s"
        elif "fraction" in f:
            extra = f" x{f['fraction']:g}"
        parts.append(f"{f['kind']}@{where}{extra} at {f['at']:g}s for {f['duration']:g}s")
    return "; ".join(parts)
