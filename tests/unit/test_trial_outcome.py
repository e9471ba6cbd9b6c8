"""Baseline and fidelity as the analysis reports them, from a hand-made run directory.

A trial whose target never met its SLO before the first fault is "unhealthy before any fault":
no recovery verdict (nothing to escalate), a failed baseline verdict, a warning. A fault whose
requests show nothing is flagged "no effect observed".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import analyse_run
from harness.errors import ExitCode
from harness.load.ledger import LedgerRecord, LedgerWriter
from harness.report.console import verdict_table
from harness.report.headline import headline

SCENARIO = """\
name: tiny
target: groundtruth
load: {users: 1, rate_per_user: 100, duration: 20s}
slo: {window: 1s, step: 100ms, success_rate: 0.99, hold: 3s}
faults:
  - {kind: down, link: app->dep, at: 6s, duration: 4s}
expect: {recovery_time: "<= 4s"}
"""
T0 = 5_000_000_000_000


def at(seconds: float) -> int:
    return T0 + round(seconds * 1e9)


def run_dir_with(tmp: Path, bad: list[tuple[float, float]], rate: float = 100.0) -> Path:
    """Load from 1 s to 21 s, fault 7 s - 11 s (run clock); requests sent in ``bad`` fail."""
    run_dir = tmp / "20261129-120000-abcd"
    run_dir.mkdir()
    fault = {"fault": 0, "trial": 1, "kind": "down", "target": "app->dep", "label": "down@app->dep"}
    events: list[tuple[float, str, dict[str, Any]]] = [
        (
            0.001,
            "run_started",
            {
                "run_id": run_dir.name,
                "scenario": "tiny",
                "backend": "process",
                "trials": 1,
                "t0_ns": T0,
                "seed": 1,
                "scenario_file": "tiny.yaml",
                "target": "groundtruth",
                "wallclock": "2026-11-29T12:00:00+00:00",
                "clock": "CLOCK_MONOTONIC",
                "environment": {},
            },
        ),
        (0.002, "trial_started", {"trial": 1, "target": "groundtruth"}),
        (1.0, "load_started", {"trial": 1, "users": 1, "duration": 20.0}),
        (7.0, "fault_injected", {**fault, "scheduled_ns": at(7.0)}),
        (11.0, "fault_cleared", {**fault, "scheduled_ns": at(11.0)}),
        (21.0, "load_stopped", {"trial": 1}),
        (21.5, "run_finished", {"complete": True, "trials_run": 1}),
    ]
    with (run_dir / "journal.jsonl").open("w") as fh:
        for t, kind, data in events:
            fh.write(json.dumps({"t_ns": at(t), "t": t, "event": kind, **data}) + "\n")
    (run_dir / "scenario.yaml").write_text(SCENARIO)
    (run_dir / "trial-1").mkdir()
    writer = LedgerWriter(run_dir / "trial-1" / "ledger-1.csv")
    n = int(20 * rate)
    for i in range(n):
        start = 1.0 + i / rate
        failing = any(a <= start < b for a, b in bad)
        writer.write(
            LedgerRecord(
                id=f"r{i}",
                op="work",
                key="",
                start_ns=at(start),
                end_ns=at(start + 0.004),
                outcome="indeterminate" if failing else "ok",
                status=503 if failing else 200,
                latency_ms=4.0,
                attempt=1,
                error="",
            )
        )
    writer.close()
    return run_dir


def test_a_healthy_baseline_and_a_visible_fault(tmp_path: Path) -> None:
    results, _ = analyse_run(run_dir_with(tmp_path, bad=[(7.0, 12.0)]))
    (trial,) = results.trials
    assert trial.baseline is not None and trial.baseline.outcome == "healthy"
    assert trial.baseline.rate_achieved == pytest.approx(100.0, rel=0.02)
    (fault,) = trial.faults
    assert fault.fidelity is not None and fault.fidelity.effect_observed is True
    assert results.passed and results.warnings == []
    assert results.exit_code() == ExitCode.OK


def test_unhealthy_before_any_fault_has_no_recovery_verdict(tmp_path: Path) -> None:
    results, _ = analyse_run(run_dir_with(tmp_path, bad=[(1.0, 15.0)]))
    (trial,) = results.trials
    assert trial.unhealthy_before_fault
    expectations = {v.expectation for v in results.verdicts}
    assert "recovery_time" not in expectations
    (verdict,) = [v for v in results.verdicts if v.expectation == "baseline"]
    assert verdict.passed is False and verdict.measured_text == "unhealthy before any fault"
    assert results.passed is False
    assert results.escalation is not None
    assert results.escalation.needs_human is False  # nothing to escalate: it never was healthy
    assert any("unhealthy before any fault" in w for w in results.warnings)
    assert results.exit_code() == ExitCode.UNHEALTHY_BEFORE_FAULT == 5
    assert headline(results).startswith("UNHEALTHY: the target did not meet its SLO for 3 s")
    assert "WARNING: trial 1: target unhealthy before any fault" in verdict_table(results)


def test_a_fault_with_no_effect_and_a_short_rate_are_warned_about(tmp_path: Path) -> None:
    results, _ = analyse_run(run_dir_with(tmp_path, bad=[], rate=50.0))  # 100 asked, 50 sent
    (trial,) = results.trials
    (fault,) = trial.faults
    assert fault.fidelity is not None and fault.fidelity.no_effect is True
    assert trial.baseline is not None and trial.baseline.rate_short is True
    warnings = results.warnings
    assert any("no effect observed" in w for w in warnings)
    assert any("req/s of the 100 asked" in w for w in warnings)


def test_not_recovered_escalates_even_without_a_rollback(tmp_path: Path) -> None:
    """The decision the README states: "not recovered" needs a human, rollback or not."""
    results, _ = analyse_run(run_dir_with(tmp_path, bad=[(7.0, 30.0)]))
    (fault,) = results.trials[0].faults
    assert fault.recovered is False
    assert results.escalation is not None and results.escalation.needs_human is True
    assert any("did not recover" in r for r in results.escalation.reasons)


def test_every_report_carries_the_warnings(tmp_path: Path) -> None:
    from harness.report.html import render_html
    from harness.report.junit import render_junit
    from harness.report.markdown import render_summary

    run_dir = run_dir_with(tmp_path, bad=[], rate=50.0)
    results, analyses = analyse_run(run_dir)
    assert "WARNING: trial 1: down@app-&gt;dep: no effect observed" in render_html(run_dir, results, analyses)
    flagged = "no effect observed"
    assert flagged in verdict_table(results)
    assert flagged in render_summary(results)
    assert flagged in render_junit(results).decode()
    assert "NO EFFECT OBSERVED" in render_summary(results)  # and in the recovery table
