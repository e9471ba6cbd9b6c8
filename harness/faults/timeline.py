"""The fault timeline: the one scheduler of a trial. It owns "when"; injectors own only "what".

Instants are counted from the start of load. Each fault is injected at its ``at`` and cleared at
``at + duration``; other scheduled calls (a manual rollback) run on the same schedule, so there is
one notion of time and one order: at the same instant a clear runs before an inject, and an
inject before a scheduled call. The journal records both the scheduled instant and the instant
the call returned (``injected_at`` / ``cleared_at`` per DESIGN.md), so the injection lag is part
of every fault event. On any exit path every active fault is cleared, newest first, and every
failure to clear is reported together.

The clock and the sleep are parameters, so the schedule is testable with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType
from typing import Any

from harness.clock import now_ns
from harness.events import EventBus, FaultCleared, FaultInjected
from harness.scenario.models import Fault

MakeFault = Callable[[Fault, str], AbstractContextManager[Any]]
#: A scheduled call, given the instant it was scheduled for (run clock, ns).
Scheduled = Callable[[int], None]
#: Called while waiting (at least every 50 ms): liveness checks and guards; may raise to abort.
Check = Callable[[], None]


class Step(IntEnum):
    """What an action does; the value is its order among actions at the same instant."""

    CLEAR = 0
    INJECT = 1
    CALL = 2


@dataclass(frozen=True)
class Action:
    at_ns: int
    step: Step
    index: int  # the fault's index in the scenario, or the scheduled call's
    call: Scheduled | None = None


class FaultTimeline(AbstractContextManager["FaultTimeline"]):
    def __init__(
        self,
        faults: Sequence[Fault],
        make: MakeFault,
        bus: EventBus,
        trial: int = 0,
        *,
        clock: Callable[[], int] = now_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.faults = list(faults)
        self.make = make
        self.bus = bus
        self.trial = trial
        self.clock = clock
        self.sleep = sleep
        self._calls: list[tuple[float, Scheduled]] = []
        self._active: dict[int, AbstractContextManager[Any]] = {}  # insertion order = injection order

    def fault_id(self, index: int) -> str:
        return f"t{self.trial}f{index}"

    def at(self, offset: float, call: Scheduled) -> None:
        """Schedule ``call`` at ``offset`` seconds after the start of load (e.g. a manual rollback)."""
        self._calls.append((offset, call))

    def actions(self, load_start_ns: int) -> list[Action]:
        acts: list[Action] = []
        for i, f in enumerate(self.faults):
            acts.append(Action(load_start_ns + round(f.at * 1e9), Step.INJECT, i))
            if f.duration is not None:  # open-ended faults (a deploy) are cleared by a rollback
                acts.append(Action(load_start_ns + round((f.at + f.duration) * 1e9), Step.CLEAR, i))
        for i, (offset, call) in enumerate(self._calls):
            acts.append(Action(load_start_ns + round(offset * 1e9), Step.CALL, i, call))
        return sorted(acts, key=lambda a: (a.at_ns, a.step, a.index))

    def sleep_until(self, deadline_ns: int, check: Check | None = None) -> None:
        """Sleep to a run-clock instant, waking at least every 50 ms to run ``check``."""
        while True:
            left = deadline_ns - self.clock()
            if left <= 0:
                return
            if check is not None:
                check()
            self.sleep(min(left / 1e9, 0.05))

    def run(self, load_start_ns: int, end_ns: int, check: Check | None = None) -> None:
        """Play the timeline, then wait until ``end_ns``. ``check`` may raise to abort."""
        for action in self.actions(load_start_ns):
            self.sleep_until(action.at_ns, check)
            if action.step is Step.INJECT:
                self._inject(action.index, action.at_ns)
            elif action.step is Step.CLEAR:
                self._clear(action.index, action.at_ns)
            elif action.call is not None:
                action.call(action.at_ns)
        self.sleep_until(end_ns, check)

    def active(self) -> list[int]:
        return list(self._active)

    def clear_now(self, index: int) -> None:
        """Clear an active fault before (or without) its scheduled clear, e.g. by a rollback."""
        self._clear(index, self.clock())

    def _event_fields(self, index: int, scheduled_ns: int, called_ns: int, t_ns: int) -> dict[str, Any]:
        f = self.faults[index]
        return {
            "t_ns": t_ns,
            "trial": self.trial,
            "fault": index,
            "kind": f.kind,
            "target": f.where,
            "label": f.label,
            "scheduled_ns": scheduled_ns,
            "call_ns": t_ns - called_ns,
        }

    def _inject(self, index: int, scheduled_ns: int) -> None:
        handle = self.make(self.faults[index], self.fault_id(index))
        called = self.clock()
        handle.__enter__()
        self._active[index] = handle
        returned = self.clock()
        effect = getattr(handle, "effect_started_ns", None)
        injected = self.bus.publish(
            FaultInjected(
                **self._event_fields(index, scheduled_ns, called, returned),
                effect_ns=effect if isinstance(effect, int) else None,
            )
        )
        if getattr(handle, "clears_itself", False):
            # e.g. a crash the target's own supervisor recovers from: cleared_at = injected_at
            self._active.pop(index)
            handle.__exit__(None, None, None)
            fields = self._event_fields(index, scheduled_ns, injected.t_ns, injected.t_ns)
            self.bus.publish(FaultCleared(**fields, forced=False))

    def _clear(self, index: int, scheduled_ns: int, forced: bool = False) -> None:
        handle = self._active.pop(index, None)
        if handle is None:
            return
        called = self.clock()
        handle.__exit__(None, None, None)
        fields = self._event_fields(index, scheduled_ns, called, self.clock())
        self.bus.publish(FaultCleared(**fields, forced=forced))

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clear_all()

    def clear_all(self) -> None:
        """Clear every active fault now, newest first (an abort, the teardown); report every failure."""
        errors: list[Exception] = []
        for index in reversed(list(self._active)):  # newest first
            try:
                self._clear(index, self.clock(), forced=True)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("clearing faults failed", errors)
