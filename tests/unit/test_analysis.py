"""The analysis of hand-built run directories: the deploy window, and every kind of run's
results against the generated results schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.analysis import analyse_run
from harness.results import Results, schema_text
from tests.unit.rundirs import RunDir

BASE = """\
name: tiny
description: hand-made
target: groundtruth
load: {users: 1, rate_per_user: 100, duration: 20s}
slo: {window: 1s, step: 100ms, success_rate: 0.99, hold: 3s}
"""
DOWN = (
    BASE
    + """\
faults:
  - {kind: down, link: app->dep, at: 4s, duration: 4s}
expect: {recovery_time: "<= 4s", recovered: true}
"""
)
DEPLOY = (
    BASE
    + """\
faults:
  - {kind: deploy, service: app, version: v2, at: 4s}
rollback:
  trigger: manual
  at: 8s
  action: {redeploy: {service: app, version: v1}}
expect: {detection_to_rollback: "<= 10s"}
"""
)


def validate(results: Results) -> None:
    doc = json.loads(results.to_json())
    errors = [e.message for e in jsonschema.Draft202012Validator(json.loads(schema_text())).iter_errors(doc)]
    assert errors == []
    assert Results.model_validate(doc) == results  # and it reads back into the same model


def test_a_deploy_fault_counts_from_deploy_started(tmp_path: Path) -> None:
    """DESIGN "Deploy window": a stop-start deploy hurts from deploy_started (5 s here), not from
    when the new version answered (6.5 s); detection_to_rollback is measured from that impact."""
    run = RunDir(tmp_path / "20261121-120000-dep1", DEPLOY)
    run.trial(1, 1.0, 21.0, bad=[(5.0, 9.5)])
    run.event(5.0, "deploy_started", service="app", version="v2", previous="v1")
    run.fault(1, 0, "deploy", "app=v2", 6.5, 9.0, effect_ns=run_ns(5.0))
    run.event(8.0, "rollback_triggered", trial=1, reason="manual rollback at 8s", action="redeploy")
    run.event(9.0, "rollback_action_done", trial=1, ok=True, error="")
    run.event(9.0, "rollback_confirmed", trial=1, how="app runs v1")
    results, _ = analyse_run(run.write())
    (deploy,) = results.trials[0].faults
    assert deploy.injected_at == pytest.approx(5.0)
    assert deploy.impact_at is not None and 5.0 <= deploy.impact_at < 5.5
    rollback = results.trials[0].rollback
    assert rollback is not None and rollback.detection_to_rollback is not None
    assert rollback.detection_to_rollback > 2.5  # 8 s - ~5 s; from the call's return it was 1.5 s
    validate(results)


def run_ns(seconds: float) -> int:
    from tests.unit.rundirs import at

    return at(seconds)


def plain(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "20261121-120000-pln1", DOWN)
    run.trial(1, 1.0, 21.0, bad=[(5.0, 11.0)]).fault(1, 0, "down", "app->dep", 5.0, 9.0)
    return run


def test_plain_run(tmp_path: Path) -> None:
    results, _ = analyse_run(plain(tmp_path).write())
    assert results.passed and results.complete and results.exit_code() == 0
    (fault,) = results.trials[0].faults
    assert fault.scheduled_at == pytest.approx(4.999) and fault.injection_lag == pytest.approx(0.001)
    assert fault.clear_lag == pytest.approx(0.001)
    validate(results)


def test_multi_trial_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "20261121-120000-mul1", DOWN, trials=3)
    for n in (1, 2, 3):
        off = (n - 1) * 30.0
        run.trial(n, off + 1.0, off + 21.0, bad=[(off + 5.0, off + 9.0 + n)])
        run.fault(n, 0, "down", "app->dep", off + 5.0, off + 9.0)
    results, _ = analyse_run(run.write())
    assert [t.trial for t in results.trials] == [1, 2, 3]
    (mttr,) = results.mttr
    assert mttr.trials == 3 and mttr.all_recovered
    validate(results)


def test_interrupted_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "20261121-120000-int1", DOWN)
    run.trial(1, 1.0, None, bad=[(5.0, 21.0)]).fault(1, 0, "down", "app->dep", 5.0, None)
    run.event(21.0, "interrupted", reason="interrupted by SIGTERM")
    results, _ = analyse_run(run.write(finished=False))
    assert results.interrupted and not results.passed and results.exit_code() == 130
    (fault,) = results.trials[0].faults
    # stopped while the fault was active: its recovery was not observed, the user's stop said so
    stopped = "the rehearsal was stopped before a recovery could be observed"
    assert not fault.recovered and fault.note == stopped
    validate(results)


def test_infrastructure_error_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "20261121-120000-err1", DOWN)
    run.event(0.5, "trial_started", trial=1, target="groundtruth")
    run.event(1.0, "error", message="service 'dep' exited with code 1")
    results, _ = analyse_run(run.write())
    assert results.error and not results.complete and results.exit_code() == 3
    validate(results)


def test_a_harness_failure_voids_the_trial(tmp_path: Path) -> None:
    run = plain(tmp_path)
    run.event(12.0, "harness_failed", trial=1, component="toxiproxy", detail="exited", at_ns=run_ns(11.5))
    results, _ = analyse_run(run.write())
    failure = results.trials[0].harness_failure
    assert failure is not None and failure.at == pytest.approx(11.5)
    assert results.exit_code() == 3 and not results.passed
    assert results.verdicts == []  # no verdict about the target from a trial the harness failed
    assert results.error is not None and "the harness failed (toxiproxy)" in results.error
    validate(results)


def test_the_scenario_as_run_is_recorded(tmp_path: Path) -> None:
    run = plain(tmp_path)
    run.started.update(
        mode="fragile",
        load_workers=2,
        overrides={"mode": "fragile", "load_workers": 2},
        env={"app": {"GT_FRAGILE": "1"}},
    )
    results, _ = analyse_run(run.write())
    assert results.as_run is not None
    assert (results.as_run.mode, results.as_run.load_workers) == ("fragile", 2)
    assert results.as_run.overrides == {"mode": "fragile", "load_workers": 2}
    assert results.as_run.env == {"app": {"GT_FRAGILE": "1"}}
    validate(results)


def test_rollback_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "20261121-120000-rbk1", DEPLOY)
    run.trial(1, 1.0, 21.0, bad=[(5.0, 9.5)])
    run.fault(1, 0, "deploy", "app=v2", 5.0, 9.0)
    run.event(8.0, "rollback_triggered", trial=1, reason="manual rollback at 8s", action="redeploy")
    run.event(9.0, "rollback_action_done", trial=1, ok=True, error="")
    run.event(9.0, "rollback_confirmed", trial=1, how="app runs v1")
    results, _ = analyse_run(run.write())
    rollback = results.trials[0].rollback
    assert rollback is not None and rollback.rollback_duration is not None
    assert results.as_run is not None and results.as_run.rollback == "manual"
    validate(results)


def test_a_run_stopped_while_its_fault_was_active_says_stopped_not_not_recovered(tmp_path: Path) -> None:
    """A newcomer pressed Ctrl-C while a `down` was active; the harness cleared it as it stopped,
    after the load had. The headline said "NOT recovered after down@api->kv", the recovery column
    "not recovered" and results.json gave no reason but "the observation ended before the fault
    was cleared": the user stopped it, so its recovery was not observed, as the README says."""
    from harness.report.lead import lead
    from harness.report.markdown import render_summary
    from harness.results.abort import STOPPED_NOTE

    scenario = (
        BASE
        + "faults:\n  - {kind: down, link: app->dep, at: 4s, duration: 8s}\n"
        + 'expect: {recovery_time: "<= 4s", recovered: true}\n'
    )
    run = RunDir(tmp_path / "20261121-120000-int3", scenario)
    run.trial(1, 1.0, 8.0, bad=[(5.0, 8.0)]).fault(1, 0, "down", "app->dep", 5.0, 8.4)
    run.event(7.9, "interrupted", reason="interrupted by SIGINT")
    results, _ = analyse_run(run.write(finished=False))
    (fault,) = results.trials[0].faults
    assert not fault.recovered and fault.note == STOPPED_NOTE
    line = lead(results)
    assert "NOT recovered" not in line and "stopped before a recovery could be observed" in line
    summary = render_summary(results)
    assert "not recovered" not in summary and "| stopped |" in summary
    validate(results)


def test_a_run_stopped_soon_after_a_clear_says_so_not_escalate_nor_audit_failures(tmp_path: Path) -> None:
    """A newcomer pressed Ctrl-C 1 s after a fault cleared: the console said ``ESCALATE: needs a
    human ... did not recover`` and FAIL rows ``no audit``. The user stopped the rehearsal: what it
    cut short was not observed, and every report says so, as an abort does."""
    from harness.report.console import verdict_table
    from harness.report.html import render_html
    from harness.report.lead import lead
    from harness.report.markdown import render_summary
    from harness.results.abort import STOPPED_NOTE

    scenario = (
        BASE.replace("target: groundtruth", "target: orders")  # states a consistency contract
        + "faults:\n  - {kind: down, link: api->db, at: 4s, duration: 4s}\n"
        + 'expect: {recovery_time: "<= 4s", recovered: true, lost_writes: 0}\n'
    )
    run = RunDir(tmp_path / "20261121-120000-int2", scenario)
    run.started["consistency"] = {"write_ops": ["create_order"], "primary": "order"}
    run.trial(1, 1.0, 10.2, bad=[(5.0, 9.2)]).fault(1, 0, "down", "api->db", 5.0, 9.0)
    run.event(10.0, "interrupted", reason="interrupted by SIGINT")
    run_dir = run.write(finished=False)
    results, analyses = analyse_run(run_dir)
    assert results.interrupted and results.exit_code() == 130
    (fault,) = results.trials[0].faults
    assert not fault.recovered and fault.note == STOPPED_NOTE
    assert results.escalation is not None and not results.escalation.needs_human
    missed = [v for v in results.verdicts if not v.passed]
    assert {v.expectation for v in missed} == {"recovery_time", "recovered", "lost_writes"}
    assert {v.measured_text for v in missed} == {"not observed (stopped)"}
    table = verdict_table(results)
    assert "ESCALATE" not in table and "no audit" not in table and "FAIL " not in table
    assert "STOPPED  lost_writes" in table and " stopped " in table
    line = lead(results)
    assert "down@api->db: the rehearsal was stopped before a recovery could be observed" in line
    assert "NOT recovered" not in line and "no consistency contract" not in line
    assert "stopped before the audit was read" in line
    summary = render_summary(results)
    assert "not recovered" not in summary and "needs a human" not in summary
    assert "**FAIL**" not in summary and "⏹ stopped" in summary
    page = render_html(run_dir, results, analyses)
    assert "✘ FAIL" not in page and "■ STOPPED" in page and "yes: not recovered" not in page
    assert all(not v.observed for v in missed) and all(v.observed for v in results.verdicts if v.passed)
    from harness.report.junit import render_junit  # JUnit: skipped, not failed

    junit = render_junit(results).decode()
    assert 'failures="0"' in junit and 'skipped="3"' in junit and "<failure" not in junit
    assert "<skipped" in junit and "the run was stopped before it was measured" in junit
    validate(results)
