"""The live guards' logic on synthetic ledgers whose answer is known exactly: when an abort bound
is crossed (to the evaluation step, however late the guard is asked), and the watchdog's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import Aborted, ExitCode, HarnessFailure, ScenarioError
from harness.events import EventBus, HarnessFailed, RunAborted, RunEvent
from harness.guards.abort import AbortGuard
from harness.guards.watchdog import Death, Watchdog
from harness.load.ledger import COLUMNS
from harness.scenario.abort import Abort
from harness.scenario.loader import load_scenario

S = 1_000_000_000
T0 = 1_000 * S  # the run's start on the run clock
LOAD = T0 + 2 * S  # load started 2 s into the run


def write_ledger(directory: Path, rows: list[tuple[float, float, bool]]) -> None:
    """One shard; each row (start, end, ok) in seconds after the load started."""
    lines = [",".join(COLUMNS)]
    for n, (start, end, ok) in enumerate(rows):
        s, e = LOAD + round(start * S), LOAD + round(end * S)
        outcome = "ok" if ok else "fail"
        lines.append(f"r{n},GET /work,,{s},{e},{outcome},{200 if ok else 503},{(e - s) / 1e6:.3f},1,,")
    (directory / "ledger-1.csv").write_text("\n".join(lines) + "\n")


def traffic(
    until: float, *, fail_from: float | None = None, silent: tuple[float, float] | None = None
) -> list[tuple[float, float, bool]]:
    """100 requests a second of 20 ms each (counted in whole centiseconds, so every boundary is
    exact), failing once they end after ``fail_from``, none started during ``silent``."""
    rows = []
    for k in range(round(until * 100)):
        if silent and round(silent[0] * 100) <= k < round(silent[1] * 100):
            continue
        ok = fail_from is None or k + 2 <= round(fail_from * 100)
        rows.append((k / 100, (k + 2) / 100, ok))
    return rows


def guard(tmp_path: Path, spec: dict[str, Any], bus: EventBus | None = None) -> AbortGuard:
    return AbortGuard(
        Abort.model_validate(spec),
        window=1.0,
        step=0.1,
        trial_dir=tmp_path,
        load_start_ns=LOAD,
        bus=bus or EventBus(),
        trial=1,
        t0_ns=T0,
        urls={},
        workdir=tmp_path,
        run_id="test",
    )


def aborted_event(tmp_path: Path, spec: dict[str, Any], asks: list[float]) -> dict[str, Any]:
    """Ask the guard at each instant (s after load start) until it aborts; the journaled event."""
    events: list[RunEvent] = []
    bus = EventBus()
    bus.subscribe(events.append)
    g = guard(tmp_path, spec, bus)
    with pytest.raises(Aborted):
        for t in asks:
            g.check(LOAD + round(t * S))
    (event,) = [e for e in events if isinstance(e, RunAborted)]
    assert event.since_ns is not None
    return {
        "bound": event.bound,
        "reason": event.reason,
        "measured": event.measured,
        "requests": event.requests,
        "since": (event.since_ns - T0) / 1e9,
        "crossed_at": (event.crossed_ns - T0) / 1e9,
        "sustained": (event.crossed_ns - event.since_ns) / 1e9,
    }


def test_error_rate_abort_decides_at_the_grid_step_that_crossed_whenever_it_is_asked(tmp_path: Path) -> None:
    write_ledger(tmp_path, traffic(20, fail_from=5.0))
    spec = {"error_rate": {"above": 0.5, "for": "2s"}}
    often = aborted_event(tmp_path, spec, [k * 0.01 for k in range(2000)])
    once = aborted_event(tmp_path, spec, [19.0])  # a stalled harness, asked once, long after
    # The window ending at 5.5 s holds 50 ok and 50 failing: not above 0.5; 5.6 s is the first
    # above, so the bound has held for 2 s at 7.6 s (times since the run's start: +2 s).
    assert often["since"] == pytest.approx(7.6)
    assert often["crossed_at"] == pytest.approx(9.6)
    assert often["sustained"] == pytest.approx(2.0)
    assert once == often
    assert often["measured"] == 1.0 and often["requests"] == 100


def test_a_bound_crossed_for_less_than_its_duration_does_not_abort(tmp_path: Path) -> None:
    rows = [(s, e, not (5.0 <= s < 6.5)) for s, e, _ in traffic(20)]  # 1.5 s of failures
    write_ledger(tmp_path, rows)
    g = guard(tmp_path, {"error_rate": {"above": 0.5, "for": "2s"}})
    g.check(LOAD + 19 * S)  # no abort: the run of crossing windows is broken before it spans 2 s


def test_silence_while_load_runs_counts_as_failing(tmp_path: Path) -> None:
    write_ledger(tmp_path, traffic(20, silent=(5.0, 12.0)))
    event = aborted_event(tmp_path, {"error_rate": {"above": 0.9, "for": "1s"}}, [19.0])
    assert event["requests"] == 0 and event["measured"] == 1.0
    assert event["since"] == pytest.approx(2 + 6.1)  # the first window with nothing completed
    assert event["sustained"] == pytest.approx(1.0)


def test_latency_abort_uses_the_windows_percentile(tmp_path: Path) -> None:
    rows = [(s, e + (0.48 if s >= 4.0 else 0.0), True) for s, e, _ in traffic(20)]  # 500 ms from 4 s
    write_ledger(tmp_path, rows)
    event = aborted_event(tmp_path, {"p95_latency": {"above": "300ms", "for": "1s"}}, [19.0])
    assert event["bound"] == "p95_latency" and event["measured"] == pytest.approx(0.5)
    assert (
        "p95_latency above 0.3s for 1s"
        in aborted_event(tmp_path, {"p95_latency": {"above": 0.3, "for": 1}}, [19.0])["reason"]
    )
    g = guard(tmp_path, {"p99_latency": {"above": "1s", "for": "1s"}})
    g.check(LOAD + 19 * S)  # 500 ms never crosses a 1 s bound


def test_windows_before_the_load_filled_one_are_not_judged(tmp_path: Path) -> None:
    write_ledger(tmp_path, [])
    g = guard(tmp_path, {"error_rate": {"above": 0.5}})
    g.check(LOAD + round(1.3 * S))  # 1.3 s - 0.4 s lag < the first window's end: nothing judged
    with pytest.raises(Aborted):
        g.check(LOAD + round(1.5 * S))


class Part:
    def __init__(self, component: str) -> None:
        self.component = component
        self.label = component.title()
        self.dead: Death | None = None

    def death(self) -> Death | None:
        return self.dead


def test_watchdog_journals_a_death_once_with_its_bracket_and_keeps_failing() -> None:
    events: list[RunEvent] = []
    bus = EventBus()
    bus.subscribe(events.append)
    proxy, load = Part("toxiproxy"), Part("locust")
    dog = Watchdog([proxy, load], bus, trial=2, t0_ns=T0)
    dog.check(T0 + 5 * S, force=True)
    dog.check(T0 + round(5.05 * S))  # within the interval: not looked at
    proxy.dead = Death("killed by SIGKILL (exit status -9)", by_ns=T0 + round(5.5 * S))
    with pytest.raises(HarnessFailure, match=r"Toxiproxy died at t=5\.50s: killed by SIGKILL") as raised:
        dog.check(T0 + 6 * S)
    assert raised.value.exit_code == ExitCode.INFRASTRUCTURE
    with pytest.raises(HarnessFailure):
        dog.check(T0 + 7 * S)  # the trial stays failed
    (event,) = [e for e in events if isinstance(e, HarnessFailed)]
    assert event.at_ns == T0 + round(5.5 * S) and event.t_ns == T0 + 6 * S  # died by 5.5, seen at 6
    assert event.last_alive_ns == T0 + 5 * S
    assert event.component == "toxiproxy" and event.trial == 2


def test_watchdog_release_looks_once_more_then_lets_the_harness_stop_the_part() -> None:
    load = Part("locust")
    dog = Watchdog([load], EventBus(), trial=1, t0_ns=T0)
    dog.release("locust")
    load.dead = Death("the load process exited")
    dog.check(force=True)  # stopped on purpose: not a failure
    early = Part("locust")
    early.dead = Death("the load process exited")
    with pytest.raises(HarnessFailure, match="Locust died"):
        Watchdog([early], EventBus(), trial=1, t0_ns=T0).release("locust")


SCENARIO = {
    "name": "abort-validation",
    "target": "groundtruth",
    "load": {"duration": "20s"},
    "faults": [{"kind": "down", "link": "app->dep", "at": "3s", "duration": "3s"}],
}


def load_with(tmp_path: Path, abort: Any) -> Any:
    root = Path(__file__).resolve().parents[2]
    doc = {**SCENARIO, "target": {"name": str(root / "targets" / "groundtruth")}, "abort": abort}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_scenario(path)


def test_abort_block_parses_durations_and_the_for_keyword(tmp_path: Path) -> None:
    loaded = load_with(
        tmp_path,
        {
            "error_rate": {"above": 0.2, "for": "1500ms"},
            "p99_latency": {"above": "2s"},
            "http": {"service": "app", "path": "/health", "every": "500ms"},
            "step": "200ms",
        },
    )
    abort = loaded.scenario.abort
    assert abort.error_rate.for_ == 1.5 and abort.p99_latency.above == 2.0 and abort.p99_latency.for_ == 0
    assert abort.http.every == 0.5 and abort.step == 0.2


@pytest.mark.parametrize(
    ("abort", "field", "says"),
    [
        ({}, "abort", "give at least one of"),
        ({"error_rate": {"above": 1.5}}, "abort.error_rate.above", "less than 1"),
        ({"error_rate": {"above": 0.5, "for": "-1s"}}, "abort.error_rate.for", "negative"),
        ({"http": {"service": "nope"}}, "abort.http.service", "no such service"),
        ({"http": {"service": "dep"}}, "abort.http.service", "not an HTTP service"),
        ({"command": {"run": []}}, "abort.command.run", "at least 1"),
        ({"p95_latency": {"above": 0.5, "forr": "1s"}}, "abort.p95_latency.forr", "did you mean 'for'?"),
    ],
)
def test_a_wrong_abort_block_is_a_scenario_error_naming_the_field(
    tmp_path: Path, abort: Any, field: str, says: str
) -> None:
    with pytest.raises(ScenarioError) as raised:
        load_with(tmp_path, abort)
    text = str(raised.value)
    assert raised.value.exit_code == ExitCode.USAGE
    assert field in text and says in text, text
    assert "s.yaml:" in text  # file:line


# -- what the analysis makes of a guard's events (hand-built run directories) -------------------


def _rewrite_journal(run_dir: Path, edit: Any) -> None:
    """Apply ``edit(lines) -> lines`` to the journal of a hand-built run dir (dicts, in order)."""
    import json

    path = run_dir / "journal.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(x) + "\n" for x in edit(lines)))


def test_a_harness_failure_leaves_no_verdict_escalation_or_fault_figure(tmp_path: Path) -> None:
    from harness.analysis import analyse_run
    from tests.unit.test_reports import make_run_dir

    run_dir = tmp_path / "20261121-120000-hf01"
    make_run_dir(run_dir)
    t0 = 5_000_000_000_000

    def edit(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [x for x in lines if x["event"] not in ("fault_cleared", "run_finished")]
        died = {"trial": 1, "component": "toxiproxy", "detail": "killed by SIGKILL (exit status -9)"}
        out.insert(-1, {"t_ns": t0 + 6 * S, "event": "harness_failed", **died, "last_alive_ns": t0 + 5 * S})
        out.append({"t_ns": t0 + 7 * S, "event": "error", "message": "Toxiproxy died at t=6.00s"})
        out.append({"t_ns": t0 + 7 * S, "event": "run_finished", "complete": False, "trials_run": 1})
        return out

    _rewrite_journal(run_dir, edit)
    results, _ = analyse_run(run_dir)
    (trial,) = results.trials
    assert trial.harness_failure is not None and trial.harness_failure.component == "toxiproxy"
    assert trial.harness_failure.at == 6.0 and trial.harness_failure.last_alive == 5.0
    assert trial.faults == [] and results.verdicts == [] and not results.passed
    assert results.escalation is not None and not results.escalation.needs_human  # no ESCALATE
    assert results.exit_code() == ExitCode.INFRASTRUCTURE


def test_an_abort_is_in_the_results_with_exit_4_and_no_escalation(tmp_path: Path) -> None:
    from harness.analysis import analyse_run
    from harness.report.console import verdict_table
    from harness.report.headline import headline
    from tests.unit.test_reports import make_run_dir

    run_dir = tmp_path / "20261121-120000-ab01"
    make_run_dir(run_dir)
    t0 = 5_000_000_000_000

    def edit(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for x in lines:
            if x["event"] == "fault_cleared":
                aborted = {
                    "trial": 1,
                    "bound": "error_rate",
                    "reason": "error_rate above 0.5 for 1s: measured 1.00 failing",
                    "measured": 1.0,
                    "above": 0.5,
                    "crossed_ns": t0 + round(6.6 * S),
                    "since_ns": t0 + round(5.6 * S),
                }
                out.append({"t_ns": t0 + 7 * S, "event": "aborted", **aborted})
                out.append({**x, "t_ns": t0 + round(7.01 * S), "forced": True})
            elif x["event"] == "load_stopped":
                out.append({**x, "t_ns": t0 + round(7.02 * S)})
            elif x["event"] == "run_finished":
                out.append({**x, "complete": False})
            else:
                out.append(x)
        return out

    _rewrite_journal(run_dir, edit)
    results, _ = analyse_run(run_dir)
    assert results.aborted is not None
    assert results.aborted.bound == "error_rate" and results.aborted.measured == 1.0
    assert results.aborted.crossed_at == pytest.approx(6.6) and results.aborted.since == pytest.approx(5.6)
    assert results.exit_code() == ExitCode.ABORTED and results.error is None and not results.passed
    (fault,) = results.trials[0].faults
    assert not fault.recovered and fault.note is not None and "aborted" in fault.note
    assert fault.time_to_impact is not None  # what was measured before the abort is kept
    assert results.escalation is not None and not results.escalation.needs_human
    assert headline(results).startswith("ABORTED at t=7.00s")
    assert "not observed (aborted)" in verdict_table(results)


def test_an_error_inside_the_guards_is_named_for_the_part_that_died() -> None:
    """A fault's call refused because Toxiproxy is dead must read as Toxiproxy's death (exit 3,
    journaled), not as the refused call; with every part alive the error stays as it was."""
    from harness.errors import InfrastructureError, Interrupted
    from harness.guards.trial import TrialGuards

    proxy = Part("toxiproxy")
    events: list[RunEvent] = []
    bus = EventBus()
    bus.subscribe(events.append)

    def guards() -> TrialGuards:
        return TrialGuards(Watchdog([proxy], bus, trial=1, t0_ns=T0))

    with pytest.raises(InfrastructureError, match="did not answer"), guards():
        raise InfrastructureError("Toxiproxy did not answer POST /proxies/x/toxics")
    proxy.dead = Death("killed by SIGKILL (exit status -9)")
    with pytest.raises(HarnessFailure, match="Toxiproxy died") as raised, guards():
        raise InfrastructureError("Toxiproxy did not answer POST /proxies/x/toxics")
    assert isinstance(raised.value.__context__, InfrastructureError)
    assert [e.component for e in events if isinstance(e, HarnessFailed)] == ["toxiproxy"]
    with pytest.raises(Interrupted), guards():  # an interrupt stays an interrupt (exit 130)
        raise Interrupted("interrupted by SIGINT")
