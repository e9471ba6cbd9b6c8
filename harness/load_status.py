"""The live load status (requests per second, share failing, active faults) as run events.

A producer of :class:`~harness.events.LoadProgress`, run as one of the checks the fault timeline
calls while it plays; the progress display (:mod:`harness.progress`) is one of its listeners. It
reads the ledger shards as they grow, so it sees what the users see, not what the harness asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from harness.events import EventBus, LoadProgress
from harness.faults.timeline import FaultTimeline
from harness.measure.live import LoadTicker


def load_status(
    bus: EventBus,
    trial: int,
    trial_dir: Path,
    timeline: FaultTimeline,
    labels: Sequence[str],
    *,
    ready_ns: int,
    duration: float,
    live_terminal: bool,
) -> Callable[[int], None]:
    """A check given the run clock: publishes the status every second on a terminal, every 5 s
    otherwise (a CI log stays readable). ``labels`` are the scenario's fault labels by index."""
    ticker = LoadTicker(trial_dir, interval=1.0 if live_terminal else 5.0)

    def tick(now: int) -> None:
        rates = ticker.due(now)
        if rates is not None:
            bus.publish(
                LoadProgress(
                    trial=trial,
                    elapsed=(now - ready_ns) / 1e9,
                    total=duration,
                    rps=rates[0],
                    error_rate=rates[1],
                    faults=[labels[i] for i in timeline.active()],
                )
            )

    return tick
