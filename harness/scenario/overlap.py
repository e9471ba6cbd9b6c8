"""Which faults of a timeline hit the same place at the same time.

Two faults on one link (or one service) at overlapping times stack in Toxiproxy, or kill a
paused process, and the measurement cannot say which fault did what: impact would be credited
to whichever came second. So overlapping faults are rejected when a scenario is validated, and
the explore strategy never draws them.

What a fault occupies, from ``at`` for ``duration``:

* a link fault: its link; a partition: every link crossing it;
* crash and pause: their service (a crash waiting for ``when_log`` may fire up to ``within``
  plus its ``delay`` later, so it occupies that wait too).

Duplicate requests act on the load, not on a place, and a deploy holds its service until the
rollback; neither is checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.scenario.faults import _FaultBase, _LinkFault
from harness.scenario.models import (
    CpuStarveFault,
    CrashFault,
    OomFault,
    PartitionFault,
    PauseFault,
)
from harness.scenario.target import Target


@dataclass(frozen=True)
class Span:
    """What one fault occupies, and when (seconds from the start of load)."""

    index: int
    places: frozenset[str]
    start: float
    end: float

    def clashes(self, other: Span) -> str | None:
        """The place both occupy at a common instant, or None."""
        shared = self.places & other.places
        if not shared:
            return None
        same_start = self.start == other.start
        if same_start or (self.start < other.end and other.start < self.end):
            return sorted(shared)[0]
        return None


def span(index: int, fault: _FaultBase, target: Target) -> Span | None:
    if isinstance(fault, _LinkFault):
        return Span(index, frozenset({f"link {fault.link}"}), fault.at, fault.at + (fault.duration or 0.0))
    if isinstance(fault, PartitionFault):
        links = frozenset(f"link {link}" for link in partition_links(fault, target))
        return Span(index, links, fault.at, fault.at + (fault.duration or 0.0))
    if isinstance(fault, CrashFault | PauseFault | OomFault | CpuStarveFault):
        wait = fault.within + fault.delay if isinstance(fault, CrashFault) and fault.when_log else 0.0
        wait = fault.within if isinstance(fault, OomFault) else wait
        return Span(
            index, frozenset({f"service {fault.service}"}), fault.at, fault.at + wait + fault.duration
        )
    return None


def partition_links(fault: PartitionFault, target: Target) -> list[str]:
    """The target's links whose two ends are in different groups of the partition."""
    group_of = {name: g for g, group in enumerate(fault.groups) for name in group}
    out = []
    for link in target.links:
        try:
            client, server = target.link_ends(link)
        except ValueError:
            continue
        if client in group_of and server in group_of and group_of[client] != group_of[server]:
            out.append(link)
    return out


def overlaps(faults: Sequence[_FaultBase], target: Target) -> list[tuple[int, int, str]]:
    """``(earlier index, later index, place)`` for each fault that clashes with an earlier one."""
    spans = [s for i, f in enumerate(faults) if (s := span(i, f, target)) is not None]
    found = []
    for n, later in enumerate(spans):
        for earlier in spans[:n]:
            place = earlier.clashes(later)
            if place is not None:
                found.append((earlier.index, later.index, place))
                break
    return found
