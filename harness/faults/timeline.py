"""The fault timeline: inject and clear each fault at its scheduled instant.

Instants are counted from the start of load. The journal records both the scheduled instant and
the instant the fault call returned (``injected_at`` / ``cleared_at`` per DESIGN.md). On any exit
path every active fault is cleared, newest first, and every failure to clear is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from harness.clock import now_ns
from harness.events import EventBus
from harness.scenario.models import Fault

MakeFault = Callable[[Fault, str], AbstractContextManager[Any]]


@dataclass(frozen=True)
class Action:
    at_ns: int
    inject: bool
    index: int


def sleep_until(deadline_ns: int, check: Callable[[], None] | None = None) -> None:
    """Sleep to a run-clock instant, waking at least every 50 ms to run ``check`` (abort/liveness)."""
    while True:
        left = deadline_ns - now_ns()
        if left <= 0:
            return
        if check is not None:
            check()
        time.sleep(min(left / 1e9, 0.05))


class FaultTimeline(AbstractContextManager["FaultTimeline"]):
    def __init__(self, faults: Sequence[Fault], make: MakeFault, bus: EventBus, trial: int = 0) -> None:
        self.faults = list(faults)
        self.make = make
        self.bus = bus
        self.trial = trial
        self._active: dict[int, AbstractContextManager[Any]] = {}

    def fault_id(self, index: int) -> str:
        return f"t{self.trial}f{index}"

    def actions(self, load_start_ns: int) -> list[Action]:
        acts: list[Action] = []
        for i, f in enumerate(self.faults):
            acts.append(Action(load_start_ns + round(f.at * 1e9), True, i))
            if f.duration is not None:  # open-ended faults (a deploy) are cleared by a rollback
                acts.append(Action(load_start_ns + round((f.at + f.duration) * 1e9), False, i))
        return sorted(acts, key=lambda a: (a.at_ns, a.inject))  # a clear before an inject at the same instant

    def run(self, load_start_ns: int, end_ns: int, check: Callable[[], None] | None = None) -> None:
        """Play the timeline, then wait until ``end_ns``. ``check`` may raise to abort."""
        for action in self.actions(load_start_ns):
            sleep_until(action.at_ns, check)
            if action.inject:
                self._inject(action)
            else:
                self._clear(action.index, action.at_ns)
        sleep_until(end_ns, check)

    def active(self) -> list[int]:
        return list(self._active)

    def clear_now(self, index: int) -> None:
        """Clear an active fault before (or without) its scheduled clear, e.g. by a rollback."""
        self._clear(index, now_ns())

    def _describe(self, index: int) -> dict[str, Any]:
        f = self.faults[index]
        return {"fault": index, "trial": self.trial, "kind": f.kind, "target": f.where, "label": f.label}

    def _inject(self, action: Action) -> None:
        f = self.faults[action.index]
        handle = self.make(f, self.fault_id(action.index))
        called = now_ns()
        handle.__enter__()
        self._active[action.index] = handle
        injected = self.bus.emit(
            "fault_injected",
            scheduled_ns=action.at_ns,
            call_ns=now_ns() - called,
            **self._describe(action.index),
        )
        if getattr(handle, "clears_itself", False):
            # e.g. a crash the target's own supervisor recovers from: cleared_at = injected_at
            self._active.pop(action.index)
            handle.__exit__(None, None, None)
            self.bus.emit(
                "fault_cleared",
                t_ns=injected.t_ns,
                scheduled_ns=action.at_ns,
                call_ns=0,
                forced=False,
                **self._describe(action.index),
            )

    def _clear(self, index: int, scheduled_ns: int, forced: bool = False) -> None:
        handle = self._active.pop(index, None)
        if handle is None:
            return
        called = now_ns()
        handle.__exit__(None, None, None)
        self.bus.emit(
            "fault_cleared",
            scheduled_ns=scheduled_ns,
            call_ns=now_ns() - called,
            forced=forced,
            **self._describe(index),
        )

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        errors: list[Exception] = []
        for index in sorted(self._active, reverse=True):
            try:
                self._clear(index, now_ns(), forced=True)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("clearing faults failed", errors)
