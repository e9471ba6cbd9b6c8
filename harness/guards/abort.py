"""The abort guard: the scenario's ``abort:`` bounds, judged while the trial plays.

Live bounds are judged on :class:`~harness.measure.live.LiveWindows` (the ledger shards tailed
as they grow, the same windows the automatic rollback watches), one window per grid step, each
once and in order. A bound "above X for Y s" is crossed at the first grid instant whose window,
and every window back to the first of the unbroken run, is above X, once that run spans Y s. So
the rehearsal stops at the evaluation step that crossed the bound, however late it was asked.
The user's checks (HTTP, command) answer from background threads (:mod:`harness.guards.probe`).

When a bound is crossed the guard journals ``aborted`` (bound, measured value, since when, the
judged instant) and raises :class:`~harness.errors.Aborted`; the orchestrator clears every
fault at once, stops the load and keeps what was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.clock import now_ns
from harness.errors import Aborted
from harness.events import EventBus, RunAborted
from harness.guards.probe import CommandAsk, HttpAsk, PeriodicCheck
from harness.measure.live import LiveWindows, WindowStats
from harness.scenario.abort import Abort


@dataclass
class SustainedBound:
    """One live bound and the unbroken run of windows that crossed it so far."""

    name: str  # error_rate, p95_latency, p99_latency
    above: float
    for_ns: int
    measure: Callable[[WindowStats], float | None]
    unit: str  # "" for a share, "s" for a latency
    since_ns: int | None = None

    @property
    def text(self) -> str:
        return f"{self.name} above {self.above:g}{self.unit} for {self.for_ns / 1e9:g}s"

    def feed(self, st: WindowStats) -> float | None:
        """The measured value if the bound is now crossed for long enough, else None."""
        value = self.measure(st)
        if value is None or value <= self.above:
            self.since_ns = None
            return None
        if self.since_ns is None:
            self.since_ns = st.end_ns
        return value if st.end_ns - self.since_ns >= self.for_ns else None


def live_bounds(spec: Abort) -> list[SustainedBound]:
    bounds: list[SustainedBound] = []
    if spec.error_rate is not None:
        e = spec.error_rate
        bounds.append(SustainedBound("error_rate", e.above, round(e.for_ * 1e9), lambda s: s.error_share, ""))
    for name, lat in (("p95_latency", spec.p95_latency), ("p99_latency", spec.p99_latency)):
        if lat is not None:
            pick: Callable[[WindowStats], float | None] = (
                (lambda s: s.p95) if name == "p95_latency" else (lambda s: s.p99)
            )
            bounds.append(SustainedBound(name, lat.above, round(lat.for_ * 1e9), pick, "s"))
    return bounds


class AbortGuard(AbstractContextManager["AbortGuard"]):
    """Entered when the load is ready; :meth:`check` raises :class:`Aborted` once a bound is crossed."""

    def __init__(
        self,
        spec: Abort,
        *,
        window: float,
        step: float,
        trial_dir: Path,
        load_start_ns: int,
        bus: EventBus,
        trial: int,
        t0_ns: int,
        urls: dict[str, str],
        workdir: Path,
        run_id: str,
    ) -> None:
        self.spec = spec
        self.window = spec.window or window
        self.step = spec.step or min(step, self.window)
        self.windows = LiveWindows(trial_dir, window=self.window, step=self.step, start_ns=load_start_ns)
        self.bounds = live_bounds(spec)
        self.bus = bus
        self.trial = trial
        self.t0_ns = t0_ns
        self.checks: list[PeriodicCheck] = []
        if spec.http is not None:
            url = urls[spec.http.service] + spec.http.path
            self.checks.append(PeriodicCheck("http", spec.http.every, HttpAsk(spec.http, url)))
        if spec.command is not None:
            ask = CommandAsk(spec.command, cwd=workdir, run_id=run_id, urls=urls)
            self.checks.append(PeriodicCheck("command", spec.command.every, ask))

    def __enter__(self) -> AbortGuard:
        started: list[PeriodicCheck] = []
        try:
            for check in self.checks:
                started.append(check.__enter__())
        except BaseException:
            for check in reversed(started):
                check.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for check in reversed(self.checks):
            check.close()

    def rel(self, ns: int) -> float:
        return round((ns - self.t0_ns) / 1e9, 6)

    def check(self, now: int | None = None) -> None:
        now = now_ns() if now is None else now
        for st in self.windows.advance(now) if self.bounds else []:
            for bound in self.bounds:
                value = bound.feed(st)
                if value is not None:
                    assert bound.since_ns is not None
                    what = f"{value:.2f} failing" if bound.name == "error_rate" else f"{value:.3g}s"
                    self._abort(
                        RunAborted(
                            trial=self.trial,
                            bound=bound.name,
                            reason=(
                                f"{bound.text}: measured {what} over the {st.requests} request(s) of"
                                f" the window ending t={self.rel(st.end_ns):.2f}s"
                            ),
                            measured=value,
                            crossed_ns=st.end_ns,
                            above=bound.above,
                            since_ns=bound.since_ns,
                            requests=st.requests,
                            window=self.window,
                            step=self.step,
                        )
                    )
        for check in self.checks:
            if check.said is not None:
                self._abort(
                    RunAborted(
                        trial=self.trial,
                        bound=check.name,
                        reason=f"the {check.name} check said stop: {check.said.answer}",
                        measured=check.said.answer,
                        crossed_ns=check.said.t_ns,
                    )
                )

    def _abort(self, event: RunAborted) -> None:
        self.bus.publish(event)
        raise Aborted(event.reason)
