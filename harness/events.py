"""Run events: the orchestrator emits them; the journal, the progress display and reporters listen.

Listeners never reach into the orchestrator, and the orchestrator does not know who listens.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.clock import now_ns


@dataclass(frozen=True)
class RunEvent:
    """Something that happened during a run, stamped on the run clock."""

    kind: str  # e.g. "service_up", "fault_injected", "fault_cleared", "load_started", "abort"
    t_ns: int
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[RunEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, kind: str, /, t_ns: int | None = None, **data: Any) -> RunEvent:
        """Tell every listener. A failing listener (a closed terminal, a full disk) is reported
        once and dropped: it must never stop the run's teardown."""
        event = RunEvent(kind, now_ns() if t_ns is None else t_ns, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:
                self._listeners.remove(listener)
                with contextlib.suppress(Exception):
                    print(
                        f"aftershock: a run listener failed and was dropped: {exc!r}",
                        file=sys.stderr,
                        flush=True,
                    )
        return event
