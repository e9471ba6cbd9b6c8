"""A trial's guards as one context manager, entered around the play phase by the orchestrator.

Inside it, :meth:`TrialGuards.check` (called by the timeline every few tens of milliseconds) may
raise :class:`~harness.errors.HarnessFailure` (a part of the harness died) or
:class:`~harness.errors.Aborted` (an abort bound was crossed). On the way out the watchdog looks
once more; if anything raised inside because a part of the harness had died (e.g. Toxiproxy
refusing a fault's call), the failure is named for that death instead.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from harness.errors import Aborted, HarnessFailure, Interrupted
from harness.events import EventBus
from harness.guards.abort import AbortGuard
from harness.guards.watchdog import LoadWorkersWatch, LocustWatch, ToxiproxyWatch, Watchdog, Watched
from harness.load.runner import LoadProcess
from harness.scenario.models import Scenario
from harness.toxiproxy.server import ToxiproxyServer


class TrialGuards(AbstractContextManager["TrialGuards"]):
    def __init__(self, watchdog: Watchdog, abort: AbortGuard | None = None) -> None:
        self.watchdog = watchdog
        self.abort = abort

    def __enter__(self) -> TrialGuards:
        if self.abort is not None:
            self.abort.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.abort is not None:
            self.abort.__exit__(None, None, None)
        if ev is None or (
            isinstance(ev, Exception) and not isinstance(ev, Interrupted | Aborted | HarnessFailure)
        ):
            self.watchdog.check(force=True)  # raises HarnessFailure (chained to ev) if a part died

    def check(self, now: int | None = None) -> None:
        """Called by the timeline while it plays, with the run clock: raises to stop the trial."""
        self.watchdog.check(now)
        if self.abort is not None:
            self.abort.check(now)

    def release(self, component: str) -> None:
        """The harness is about to stop ``component`` on purpose (e.g. "locust" after the play)."""
        self.watchdog.release(component)

    def stop_aborting(self) -> None:
        """No more abort decisions (the play is over): stop the user's checks."""
        if self.abort is not None:
            self.abort.__exit__(None, None, None)
            self.abort = None


def trial_guards(
    scenario: Scenario,
    *,
    bus: EventBus,
    trial: int,
    t0_ns: int,
    server: ToxiproxyServer,
    load: LoadProcess,
    trial_dir: Path,
    load_start_ns: int,
    urls: dict[str, str],
    workdir: Path,
    run_id: str,
) -> TrialGuards:
    """The guards of one trial: the watchdog always, the abort guard if the scenario has ``abort:``."""
    watched: list[Watched] = [ToxiproxyWatch(server, t0_ns), LocustWatch(load), LoadWorkersWatch(load, t0_ns)]
    watchdog = Watchdog(watched, bus, trial=trial, t0_ns=t0_ns)
    abort = None
    if scenario.abort is not None:
        abort = AbortGuard(
            scenario.abort,
            window=scenario.slo.window,
            step=scenario.slo.step,
            trial_dir=trial_dir,
            load_start_ns=load_start_ns,
            bus=bus,
            trial=trial,
            t0_ns=t0_ns,
            urls=urls,
            workdir=workdir,
            run_id=run_id,
        )
    return TrialGuards(watchdog, abort)
