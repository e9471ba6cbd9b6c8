"""Run events: the orchestrator emits them; the journal, the progress display and reporters listen.

One frozen dataclass per event, each with its journal tag (``TAG``). The journal writes them as
JSON lines and :func:`event_from_json` reads a line back into the SAME class, so every consumer
matches on classes and fields, never on free strings. Listeners never reach into the
orchestrator, and the orchestrator does not know who listens.

Every event carries ``t_ns`` (the run clock, stamped by the bus when it is not given).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.clock import now_ns

#: journal tag -> event class; filled by :class:`RunEvent` subclasses as they are defined.
EVENTS: dict[str, type[RunEvent]] = {}
#: ``t_ns`` of an event not stamped yet (the bus stamps it with the run clock).
UNSTAMPED = -1


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    """Something that happened during a run, stamped on the run clock (``t_ns``)."""

    TAG: ClassVar[str] = ""
    t_ns: int = UNSTAMPED

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TAG:
            EVENTS[cls.TAG] = cls

    def fields(self) -> dict[str, Any]:
        """The event's own fields (without ``t_ns``), JSON-ready."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "t_ns"}


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunStarted(RunEvent):
    """The scenario as actually run: overrides, mode, trials, seed, backend, load workers, env."""

    TAG: ClassVar[str] = "run_started"
    run_id: str
    scenario: str
    backend: str
    trials: int
    seed: int
    t0_ns: int
    mode: str | None = None
    load_workers: int = 1
    #: the command-line overrides this run used (name -> value), e.g. {"mode": "fragile"}
    overrides: dict[str, Any] = field(default_factory=dict)
    #: the environment handed to each service on top of its own (target mode, then scenario)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    swept_leftovers: int = 0
    scenario_file: str | None = None
    target: str | None = None
    consistency: dict[str, Any] | None = None
    wallclock: str | None = None
    clock: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunFinished(RunEvent):
    TAG: ClassVar[str] = "run_finished"
    complete: bool
    trials_run: int


@dataclass(frozen=True, kw_only=True)
class RunInterrupted(RunEvent):
    """SIGINT/SIGTERM: faults are cleared and the target torn down; what was measured stays."""

    TAG: ClassVar[str] = "interrupted"
    reason: str


@dataclass(frozen=True, kw_only=True)
class RunError(RunEvent):
    """The run stopped on an error (infrastructure, a bug): no complete verdict."""

    TAG: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True, kw_only=True)
class HarnessFailed(RunEvent):
    """Toxiproxy, Locust or the harness itself failed during a trial: no verdict about the target.

    ``at_ns`` is when the failure happened, when known (it may precede its detection, ``t_ns``).
    """

    TAG: ClassVar[str] = "harness_failed"
    trial: int | None
    component: str
    detail: str
    at_ns: int | None = None
    #: the watchdog's last look at which the component was alive: it failed in (last_alive_ns, at]
    last_alive_ns: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunAborted(RunEvent):
    """A scenario's ``abort:`` bound was crossed: every fault is cleared at once, the load stops,
    no later trial runs (exit 4). ``t_ns`` is when the guard decided."""

    TAG: ClassVar[str] = "aborted"
    trial: int
    bound: str  # error_rate, p95_latency, p99_latency, http, command
    reason: str  # the bound and the measured value, in words
    measured: float | str  # a share, seconds, or a check's answer
    crossed_ns: int  # live bounds: the end of the judged window; checks: when the answer came
    above: float | None = None
    since_ns: int | None = None  # live bounds: the end of the first window of the unbroken run
    requests: int | None = None  # live bounds: requests completed in the deciding window
    window: float | None = None
    step: float | None = None


@dataclass(frozen=True, kw_only=True)
class ReportWriting(RunEvent):
    TAG: ClassVar[str] = "report"
    path: str


@dataclass(frozen=True, kw_only=True)
class PhaseStarted(RunEvent):
    """A phase that may take more than a couple of seconds began (for the progress display): what
    it does and its bound, so no stretch of a run is silent."""

    TAG: ClassVar[str] = "phase"
    what: str
    trial: int = 0


# -- a trial and its target ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrialStarted(RunEvent):
    TAG: ClassVar[str] = "trial_started"
    trial: int
    target: str


@dataclass(frozen=True, kw_only=True)
class ToxiproxyUp(RunEvent):
    TAG: ClassVar[str] = "toxiproxy_up"
    version: str
    url: str
    pid: int | None = None


@dataclass(frozen=True, kw_only=True)
class ImageReady(RunEvent):
    TAG: ClassVar[str] = "image_ready"
    service: str
    image: str
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class NetworkCreated(RunEvent):
    TAG: ClassVar[str] = "network_created"
    network: str


@dataclass(frozen=True, kw_only=True)
class ServiceStarting(RunEvent):
    TAG: ClassVar[str] = "service_starting"
    service: str
    pid: int | None = None
    container: str | None = None
    image: str | None = None
    project: str | None = None  # the Compose project the service belongs to


@dataclass(frozen=True, kw_only=True)
class ServiceUp(RunEvent):
    TAG: ClassVar[str] = "service_up"
    service: str
    address: str | None = ""
    pid: int | None = None
    container: str | None = None
    project: str | None = None  # the Compose project the service belongs to


@dataclass(frozen=True, kw_only=True)
class ServicePortBusy(RunEvent):
    """Another process held the service's port when it tried to bind: it is started again once the
    port is free (the free-port-then-bind race on a shared host)."""

    TAG: ClassVar[str] = "service_port_busy"
    service: str
    port: int
    attempt: int


@dataclass(frozen=True, kw_only=True)
class ServiceKilled(RunEvent):
    """A crash's signal was sent (for KILL: its victims are gone). ``processes``: how many got it."""

    TAG: ClassVar[str] = "service_killed"
    service: str
    signal: str = "KILL"
    scope: str = "group"
    processes: int | None = None


@dataclass(frozen=True, kw_only=True)
class ServiceOomKilled(RunEvent):
    """The kernel's OOM killer killed a process of the service's container (its cgroup counted an
    ``oom_kill``), seen by an ``oom`` fault or, for a limit the service outgrew, at teardown."""

    TAG: ClassVar[str] = "service_oom_killed"
    service: str
    oom_killed: bool  # Docker's State.OOMKilled: the container ended by an OOM kill
    exit_code: int | None  # 137 = 128 + SIGKILL once the container has exited
    status: str  # the container's status when seen (exited, running: a child process was killed)
    memory_limit: int | None = None  # bytes, when seen
    seen_by: str = "fault"  # "fault" or "teardown"


@dataclass(frozen=True, kw_only=True)
class ServiceLimitsChanged(RunEvent):
    """A running container's cgroup limits were changed by a fault (``oom``, ``cpu_starve``) or restored."""

    TAG: ClassVar[str] = "service_limits_changed"
    service: str
    memory: int | None = None  # bytes
    cpus: float | None = None
    why: str = ""


@dataclass(frozen=True, kw_only=True)
class ServiceStopped(RunEvent):
    TAG: ClassVar[str] = "service_stopped"
    service: str


@dataclass(frozen=True, kw_only=True)
class DeployStarted(RunEvent):
    """A new version is being put in place (DESIGN "Deploy window": a deploy fault starts here)."""

    TAG: ClassVar[str] = "deploy_started"
    service: str
    version: str
    previous: str | None = None


@dataclass(frozen=True, kw_only=True)
class TeardownDone(RunEvent):
    TAG: ClassVar[str] = "teardown_done"
    trial: int


# -- load -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadStarted(RunEvent):
    TAG: ClassVar[str] = "load_started"
    trial: int
    users: int
    duration: float


@dataclass(frozen=True, kw_only=True)
class LoadProgress(RunEvent):
    TAG: ClassVar[str] = "load_progress"
    trial: int
    elapsed: float
    total: float
    rps: float
    error_rate: float
    faults: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class LoadStopped(RunEvent):
    """No request starts after this instant (``t_ns``)."""

    TAG: ClassVar[str] = "load_stopped"
    trial: int


@dataclass(frozen=True, kw_only=True)
class LoadClockOffset(RunEvent):
    """A remote load worker's clock minus the harness's, from round trips over Locust's messages.

    Journaled once the load runs (``final`` False: the estimate so far) and after the stop
    (``final`` True: the estimate its ledger shard was shifted by). The truth is within
    ``uncertainty_ns`` of ``offset_ns``; that uncertainty is added to every resolution of the
    trial. ``consistent`` False: the offset moved during the run (drift, a clock step).
    """

    TAG: ClassVar[str] = "load_clock_offset"
    trial: int
    worker: str
    host: str
    offset_ns: int
    uncertainty_ns: int
    best_rtt_ns: int
    samples: int
    consistent: bool
    final: bool


@dataclass(frozen=True, kw_only=True)
class Drained(RunEvent):
    TAG: ClassVar[str] = "drained"
    trial: int
    waited: float
    pending: int


@dataclass(frozen=True, kw_only=True)
class Audited(RunEvent):
    TAG: ClassVar[str] = "audit"
    trial: int
    summary: str = ""


# -- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FaultEvent(RunEvent):
    """What the timeline did to fault ``fault`` (its index in the scenario) of trial ``trial``.

    ``scheduled_ns``: the instant the timeline meant to act; ``t_ns``: when the call returned;
    ``call_ns``: how long the call took.
    """

    trial: int
    fault: int
    kind: str
    target: str
    label: str
    scheduled_ns: int
    call_ns: int = 0

    @property
    def lag_ns(self) -> int:
        """DESIGN "Fault fidelity": call returned − scheduled."""
        return self.t_ns - self.scheduled_ns


@dataclass(frozen=True, kw_only=True)
class FaultInjected(FaultEvent):
    """``effect_ns``: when the fault's effect began, if before the call returned (a deploy's
    stop-start begins at ``deploy_started``, seconds before the new version answers)."""

    TAG: ClassVar[str] = "fault_injected"
    effect_ns: int | None = None

    @property
    def injected_ns(self) -> int:
        """``injected_at`` on the run clock (DESIGN: the call returned; a deploy: deploy_started)."""
        return self.t_ns if self.effect_ns is None else self.effect_ns


@dataclass(frozen=True, kw_only=True)
class FaultCleared(FaultEvent):
    TAG: ClassVar[str] = "fault_cleared"
    forced: bool = False


# -- rollback -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RollbackTriggered(RunEvent):
    TAG: ClassVar[str] = "rollback_triggered"
    trial: int
    reason: str
    action: str
    scheduled_ns: int | None = None


@dataclass(frozen=True, kw_only=True)
class RollbackActionDone(RunEvent):
    TAG: ClassVar[str] = "rollback_action_done"
    trial: int
    ok: bool
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class RollbackConfirmed(RunEvent):
    TAG: ClassVar[str] = "rollback_confirmed"
    trial: int
    how: str


@dataclass(frozen=True, kw_only=True)
class RollbackUnconfirmed(RunEvent):
    TAG: ClassVar[str] = "rollback_unconfirmed"
    trial: int
    why: str


# -- reading and writing --------------------------------------------------------------------------


def event_to_json(event: RunEvent, t0_ns: int) -> dict[str, Any]:
    """A journal line: ``t_ns``, ``t`` (seconds since the run's start), ``event`` and the fields."""
    line: dict[str, Any] = {"t_ns": event.t_ns, "t": round((event.t_ns - t0_ns) / 1e9, 6), "event": event.TAG}
    line.update(event.fields())
    return line


def event_from_json(line: Mapping[str, Any]) -> RunEvent | None:
    """The event a journal line records, or None for a line of an unknown kind or shape.

    Unknown fields are ignored (a newer harness may add some); a line missing a required field
    is not an event this harness can use.
    """
    cls = EVENTS.get(str(line.get("event")))
    t_ns = line.get("t_ns")
    if cls is None or not isinstance(t_ns, int):
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in line.items() if k in names})
    except TypeError:
        return None


def make_event(kind: str, t_ns: int, data: Mapping[str, Any]) -> RunEvent:
    """The typed event for a tag and its fields; an unknown tag or field is a bug (TypeError)."""
    cls = EVENTS.get(kind)
    if cls is None:
        raise TypeError(f"unknown run event {kind!r}; known: {sorted(EVENTS)}")
    return cls(t_ns=t_ns, **data)


Listener = Callable[[RunEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: RunEvent) -> RunEvent:
        """Stamp ``event`` (if it has no ``t_ns``) and tell every listener.

        A failing listener (a closed terminal, a full disk) is reported once and dropped: it must
        never stop the run's teardown.
        """
        if event.t_ns == UNSTAMPED:
            event = dataclasses.replace(event, t_ns=now_ns())
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

    def emit(self, kind: str, /, t_ns: int | None = None, **data: Any) -> RunEvent:
        """For producers that do not import the event classes (the backends): the tag and fields
        of a known event. The event is built as its class, so listeners still see a typed event."""
        return self.publish(make_event(kind, now_ns() if t_ns is None else t_ns, data))
