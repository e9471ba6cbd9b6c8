"""Run events: typed on the bus, written by the journal, read back into the same classes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.events import (
    EVENTS,
    UNSTAMPED,
    DeployStarted,
    EventBus,
    FaultCleared,
    FaultInjected,
    HarnessFailed,
    LoadProgress,
    RollbackTriggered,
    RunEvent,
    RunFinished,
    RunStarted,
    ServiceUp,
    event_from_json,
)
from harness.journal import Journal, read_events
from harness.progress import Progress, describe

T0 = 1_000_000_000


def samples() -> list[RunEvent]:
    fault = {"trial": 1, "fault": 0, "kind": "deploy", "target": "api=v2", "label": "deploy@api=v2"}
    return [
        RunStarted(
            t_ns=T0 + 1,
            run_id="r",
            scenario="s",
            backend="process",
            trials=2,
            seed=7,
            t0_ns=T0,
            mode="fragile",
            load_workers=2,
            overrides={"mode": "fragile", "trials": 2},
            env={"api": {"FRAGILE": "1"}},
            consistency={"write_ops": ["create"], "primary": "order"},
            environment={"python": "3.11", "pid": 4},
        ),
        ServiceUp(t_ns=T0 + 2, service="db", address="127.0.0.1:1", pid=9),
        DeployStarted(t_ns=T0 + 3, service="api", version="v2", previous="v1"),
        FaultInjected(t_ns=T0 + 5, **fault, scheduled_ns=T0 + 2, call_ns=3, effect_ns=T0 + 3),
        LoadProgress(t_ns=T0 + 6, trial=1, elapsed=1.0, total=30.0, rps=9.5, error_rate=0.1, faults=["x"]),
        RollbackTriggered(t_ns=T0 + 7, trial=1, reason="manual", action="redeploy", scheduled_ns=T0 + 6),
        FaultCleared(t_ns=T0 + 8, **fault, scheduled_ns=T0 + 7, call_ns=1, forced=True),
        HarnessFailed(t_ns=T0 + 9, trial=1, component="toxiproxy", detail="died", at_ns=T0 + 8),
        RunFinished(t_ns=T0 + 10, complete=False, trials_run=1),
    ]


def test_every_event_reads_back_as_the_class_that_wrote_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl", T0)
    for event in samples():
        journal(event)
    journal.close()
    assert read_events(tmp_path / "journal.jsonl") == samples()


def test_every_event_class_has_its_own_tag() -> None:
    tags = [cls.TAG for cls in EVENTS.values()]
    assert len(tags) == len(set(tags)) and all(tags)
    assert {type(e) for e in samples()} <= set(EVENTS.values())


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, T0)
    for event in samples()[:3]:
        journal(event)
    journal.close()
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"t_ns": 5, "event": "fault_inj')  # the harness died mid-write
    assert read_events(path) == samples()[:3]


def test_unknown_kinds_and_fields_are_tolerated_missing_fields_are_not() -> None:
    assert event_from_json({"t_ns": 1, "event": "from_the_future", "x": 1}) is None
    newer = event_from_json({"t_ns": 1, "event": "service_up", "service": "db", "added_later": 3})
    assert newer == ServiceUp(t_ns=1, service="db")
    assert event_from_json({"t_ns": 1, "event": "fault_cleared", "trial": 1}) is None
    assert event_from_json({"event": "service_up", "service": "db"}) is None  # no stamp


def test_injection_lag_and_the_deploy_window() -> None:
    injected = samples()[3]
    assert isinstance(injected, FaultInjected)
    assert injected.lag_ns == 3 and injected.injected_ns == T0 + 3  # from deploy_started
    plain = FaultInjected(t_ns=10, trial=1, fault=0, kind="down", target="a->b", label="l", scheduled_ns=8)
    assert plain.injected_ns == 10 and plain.lag_ns == 2


def test_the_bus_stamps_types_and_drops_a_failing_listener(capsys: pytest.CaptureFixture[str]) -> None:
    bus = EventBus()
    seen: list[RunEvent] = []

    def broken(event: RunEvent) -> None:
        raise OSError("terminal closed")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    first = bus.publish(ServiceUp(service="db"))
    second = bus.emit("service_stopped", service="db", t_ns=42)
    assert first.t_ns != UNSTAMPED and second.t_ns == 42
    assert [type(e).__name__ for e in seen] == ["ServiceUp", "ServiceStopped"]
    assert capsys.readouterr().err.count("listener failed and was dropped") == 1
    with pytest.raises(TypeError, match="unknown run event"):
        bus.emit("servce_up", service="db")


def test_progress_shows_the_scenario_as_run() -> None:
    line = describe(samples()[0])
    assert line == "run r: scenario s (on process, mode fragile, 2 trial(s), 2 load workers)"
    stream = io.StringIO()
    Progress(T0, stream)(samples()[1])
    assert stream.getvalue() == "[   0.00s] service db up (127.0.0.1:1)\n"
