"""The harness watchdog: the run's own Toxiproxy and Locust, watched for the whole trial.

Why: a Toxiproxy that dies takes every link of the target with it (connections refused, toxics
gone), and one restarted by a fault's clear has lost every toxic and connection; a Locust that
dies stops the ledger. Either way what the trial then measures is the harness, not the target.
A death is journaled (``harness_failed``: component, when it was found, when it was last seen
alive, how it ended) and raised as :class:`~harness.errors.HarnessFailure`: the trial gets no
verdict about the target, and the run exits 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.clock import now_ns
from harness.errors import HarnessFailure
from harness.events import EventBus, HarnessFailed
from harness.load.runner import LoadProcess
from harness.targets.health import log_tail
from harness.toxiproxy.server import ToxiproxyServer


@dataclass(frozen=True)
class Death:
    """How a watched part ended; ``by_ns`` is an instant known to follow the death, if any."""

    detail: str
    by_ns: int | None = None


class Watched(Protocol):
    component: str  # the journal's name for it
    label: str  # the name a person reads

    def death(self) -> Death | None: ...


@dataclass
class ToxiproxyWatch:
    """The run's Toxiproxy (a process or a container). A restart counts as a death: it happens
    only when the server stopped answering, and it drops every toxic and connection."""

    server: ToxiproxyServer
    t0_ns: int
    component: str = "toxiproxy"
    label: str = "Toxiproxy"
    _seen: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._seen = len(self.server.restarts)

    def death(self) -> Death | None:
        if len(self.server.restarts) > self._seen:
            at_ns, why = self.server.restarts[self._seen]
            return Death(
                f"{why}; a fault's clear restarted it at t={(at_ns - self.t0_ns) / 1e9:.2f}s"
                " (every toxic and connection on every link was lost)",
                at_ns,
            )
        how = self.server.exited()
        return None if how is None else Death(how)


@dataclass
class LocustWatch:
    """The load process, until the harness stops it on purpose (:meth:`Watchdog.release`)."""

    load: LoadProcess
    component: str = "locust"
    label: str = "Locust"

    def death(self) -> Death | None:
        if self.load.running():
            return None
        return Death(
            f"the load process exited; last lines of {self.load.log_path}:\n{log_tail(self.load.log_path)}"
        )


@dataclass
class LoadWorkersWatch:
    """Locust's workers, local and remote (its master reports one that leaves before the stop):
    Locust would hand the lost worker's users to the others and go on, so the load would no longer
    be the scenario's, and a remote worker's last requests would be missing from the ledger."""

    load: LoadProcess
    t0_ns: int
    component: str = "load-worker"
    label: str = "a load worker"

    def death(self) -> Death | None:
        lost = self.load.lost_workers()
        if not lost:
            return None
        w = lost[0]
        at_ns = int(w.get("at_ns") or 0) or None
        when = "" if at_ns is None else f" (noticed at t={(at_ns - self.t0_ns) / 1e9:.2f}s)"
        return Death(
            f"load worker {w.get('worker')} on {w.get('host')} {w.get('why')}{when}: Locust would hand its"
            " users to the other workers, so the load is no longer the scenario's",
            at_ns,
        )


class Watchdog:
    """Looks at every watched part at most every ``interval`` (a container costs an API call)."""

    def __init__(
        self, watched: Sequence[Watched], bus: EventBus, *, trial: int, t0_ns: int, interval: float = 0.1
    ) -> None:
        self.watched = list(watched)
        self.bus = bus
        self.trial = trial
        self.t0_ns = t0_ns
        self.interval_ns = round(interval * 1e9)
        self.last_alive_ns = now_ns()
        self._next_ns = 0
        self.failure: HarnessFailure | None = None

    def check(self, now: int | None = None, *, force: bool = False) -> None:
        """Raise :class:`HarnessFailure` (journaled once) if a watched part has died."""
        if self.failure is not None:
            raise self.failure
        now = now_ns() if now is None else now
        if not force and now < self._next_ns:
            return
        self._next_ns = now + self.interval_ns
        for part in self.watched:
            death = part.death()
            if death is not None:
                raise self._fail(part, death, now)
        self.last_alive_ns = now

    def release(self, component: str) -> None:
        """Look once more, then stop watching ``component``: the harness is about to stop it."""
        self.check(force=True)
        self.watched = [w for w in self.watched if w.component != component]

    def _fail(self, part: Watched, death: Death, now: int) -> HarnessFailure:
        at_ns = None if death.by_ns is None else max(self.last_alive_ns, min(death.by_ns, now))
        self.bus.publish(
            HarnessFailed(
                t_ns=now,
                trial=self.trial,
                component=part.component,
                detail=death.detail,
                at_ns=at_ns,
                last_alive_ns=self.last_alive_ns,
            )
        )
        at = ((now if at_ns is None else at_ns) - self.t0_ns) / 1e9
        last = (self.last_alive_ns - self.t0_ns) / 1e9
        self.failure = HarnessFailure(
            part.component, part.label, at, f"{death.detail} (last seen alive at t={last:.2f}s)"
        )
        return self.failure
