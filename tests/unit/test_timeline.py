"""The fault timeline with a fake clock: order, clear before inject, newest first on exit, lags."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, cast

import pytest

from harness.events import EventBus, FaultCleared, FaultInjected, RunEvent
from harness.faults.timeline import FaultTimeline, Step
from harness.measure.health import HealthPolicy
from harness.measure.live import LiveHealth
from harness.rollback import RollbackController
from harness.scenario.models import CrashFault, DeployFault, DownFault, Fault, LatencyFault, Rollback
from harness.targets.backend import Backend

S = 1_000_000_000


class FakeClock:
    """Time moves only when the timeline sleeps (plus a fixed cost per fault call)."""

    def __init__(self, start: int = 100 * S) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)


class Handle:
    def __init__(self, name: str, log: list[str], clock: FakeClock, cost: int, **attrs: Any) -> None:
        self.name, self.log, self.clock, self.cost = name, log, clock, cost
        self.__dict__.update(attrs)

    def __enter__(self) -> Handle:
        self.clock.now += self.cost
        self.log.append(f"inject {self.name}")
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clock.now += self.cost
        self.log.append(f"clear {self.name}")


def down(link: str, at: float, duration: float) -> DownFault:
    return DownFault(kind="down", link=link, at=at, duration=duration)


def play(
    faults: list[Fault], *, cost: int = 0, attrs: dict[str, Any] | None = None
) -> tuple[FaultTimeline, FakeClock, list[str], list[RunEvent]]:
    clock, log, events = FakeClock(), [], []
    bus = EventBus()
    bus.subscribe(events.append)

    def make(fault: Fault, fault_id: str) -> Handle:
        return Handle(fault.label, log, clock, cost, **(attrs or {}))

    timeline = FaultTimeline(faults, make, bus, trial=3, clock=clock, sleep=clock.sleep)
    return timeline, clock, log, events


def test_actions_are_ordered_and_a_clear_comes_before_an_inject_at_the_same_instant() -> None:
    timeline, clock, _, _ = play([down("a->b", 5, 5), down("b->c", 10, 2), down("c->d", 1, 1)])
    timeline.at(10, lambda ns: None)
    acts = [(a.at_ns - clock.now, a.step, a.index) for a in timeline.actions(clock.now)]
    assert acts == [
        (1 * S, Step.INJECT, 2),
        (2 * S, Step.CLEAR, 2),
        (5 * S, Step.INJECT, 0),
        (10 * S, Step.CLEAR, 0),
        (10 * S, Step.INJECT, 1),
        (10 * S, Step.CALL, 0),
        (12 * S, Step.CLEAR, 1),
    ]


def test_run_plays_every_action_at_its_instant_and_journals_the_lag() -> None:
    timeline, clock, log, events = play([down("a->b", 1, 2), down("b->c", 3, 1)], cost=2_000_000)
    start = clock.now
    called: list[int] = []
    timeline.at(3.5, called.append)  # e.g. a manual rollback: on the same scheduler
    with timeline:
        timeline.run(start, start + 10 * S)
    assert log == ["inject down@a->b", "clear down@a->b", "inject down@b->c", "clear down@b->c"]
    assert called == [start + 3_500_000_000]
    assert clock.now >= start + 10 * S
    faults = [e for e in events if isinstance(e, FaultInjected | FaultCleared)]
    assert [(type(e).__name__, e.fault, e.trial) for e in faults] == [
        ("FaultInjected", 0, 3),
        ("FaultCleared", 0, 3),
        ("FaultInjected", 1, 3),
        ("FaultCleared", 1, 3),
    ]
    first = faults[0]
    assert first.scheduled_ns == start + 1 * S
    assert first.call_ns == 2_000_000 and first.lag_ns >= 2_000_000  # the call's own time is lag


def test_exit_clears_every_active_fault_newest_first() -> None:
    timeline, clock, log, events = play([down("z->y", 1, 100), down("a->b", 2, 100)])
    start = clock.now

    def abort() -> None:
        if clock.now >= start + 3 * S:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), timeline:
        timeline.run(start, start + 50 * S, abort)
    assert log == ["inject down@z->y", "inject down@a->b", "clear down@a->b", "clear down@z->y"]
    cleared = [e for e in events if isinstance(e, FaultCleared)]
    assert all(e.forced for e in cleared) and timeline.active() == []


def test_every_failure_to_clear_is_reported_together() -> None:
    timeline, clock, _, _ = play([down("a->b", 0, 9), down("b->c", 0, 9)])

    def make(fault: Fault, fault_id: str) -> Any:
        class Stuck:
            def __enter__(self) -> Stuck:
                return self

            def __exit__(self, *exc: object) -> None:
                raise RuntimeError(f"cannot clear {fault.label}")

        return Stuck()

    timeline.make = make
    timeline._inject(0, clock.now)
    timeline._inject(1, clock.now)
    with pytest.raises(ExceptionGroup) as info:
        timeline.__exit__(None, None, None)
    assert [str(e) for e in info.value.exceptions] == ["cannot clear down@b->c", "cannot clear down@a->b"]


def test_a_fault_that_clears_itself_is_cleared_at_its_injection() -> None:
    crash = CrashFault(kind="crash", service="worker", at=1, restart=False)
    timeline, clock, log, events = play([crash], attrs={"clears_itself": True})
    timeline.run(clock.now, clock.now + 2 * S)
    injected, cleared = (e for e in events if isinstance(e, FaultInjected | FaultCleared))
    assert cleared.t_ns == injected.t_ns and timeline.active() == []
    assert log == ["inject crash@worker", "clear crash@worker"]


def test_a_deploy_is_injected_when_its_deploy_started() -> None:
    """DESIGN "Deploy window": the fault starts at deploy_started, not when the new version answers."""
    deploy = DeployFault(kind="deploy", service="api", version="v2", at=1)
    timeline, clock, _, events = play([deploy], cost=3 * S, attrs={"effect_started_ns": 101 * S + 1})
    timeline.run(clock.now, clock.now + 5 * S)
    (injected,) = (e for e in events if isinstance(e, FaultInjected))
    assert injected.effect_ns == 101 * S + 1 and injected.injected_ns == 101 * S + 1
    assert injected.t_ns >= 104 * S  # the call returned three seconds later
    assert timeline.active() == [0]  # open-ended: a rollback clears it


def test_latency_fault_labels_reach_the_events() -> None:
    slow = LatencyFault(kind="latency", link="api->db", at=0, duration=1, latency=0.3)
    timeline, clock, _, events = play([slow])
    timeline.run(clock.now, clock.now + 2 * S)
    assert {(e.kind, e.target, e.label) for e in events if isinstance(e, FaultInjected)} == {
        ("latency", "api->db", "latency@api->db")
    }


def test_a_manual_rollback_is_scheduled_on_the_timeline(tmp_path: Path) -> None:
    """One scheduler: the manual rollback's instant is an action of the timeline, not a poll."""
    deploy = DeployFault(kind="deploy", service="api", version="v2", at=1)
    timeline, clock, _, _ = play([deploy])
    spec = Rollback.model_validate(
        {"trigger": "manual", "at": "4s", "action": {"redeploy": {"service": "api", "version": "v1"}}}
    )
    rollback = RollbackController(
        spec,
        backend=cast(Backend, object()),
        bus=timeline.bus,
        live=LiveHealth(tmp_path, HealthPolicy()),
        timeline=timeline,
        workdir=tmp_path,
        run_id="r",
        trial=3,
        services=["api"],
    )
    rollback.schedule(timeline)
    calls = [a for a in timeline.actions(clock.now) if a.step is Step.CALL]
    assert [a.at_ns - clock.now for a in calls] == [4 * S]
    rollback.tick()  # the live guard leaves a manual rollback to the schedule
    assert not rollback.done
