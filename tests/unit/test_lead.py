"""The lead line (verdict with numbers) and the precision of every printed figure (issue 14)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from harness.cli import error_line
from harness.errors import Interrupted
from harness.report.console import verdict_table
from harness.report.junit import render_junit
from harness.report.lead import lead
from harness.report.markdown import render_summary
from harness.report.words import figure_text, margin_text, resolution_text
from harness.results import Results, Verdict
from tests.unit.test_reports import interrupted, synthetic_run, typed


def _with_consistency(results: dict, **damage: int) -> Results:
    out = copy.deepcopy(results)
    out["trials"][0]["consistency"] = {"writes": 3000, "acknowledged": 2400, **damage}
    return typed(out)


def test_lead_carries_verdict_recovery_outage_requests_and_data() -> None:
    passing, _ = synthetic_run()
    line = lead(_with_consistency(passing))
    assert line.startswith("PASSED — recovered 2.0 s (±0.1 s) after db came back (down@api->db)")
    assert "users saw errors for 6.0 s (±0.3 s)" in line
    assert "600 of 3,000 requests failed" in line
    assert line.endswith("no data lost")
    damaged = lead(_with_consistency(passing, corrupted=182, lost=3))
    assert damaged.startswith("PASSED — 3 acknowledged writes lost, 182 corrupted writes; recovered 2.0 s")


def test_lead_of_several_trials_gives_the_mttr_distribution() -> None:
    failing, _ = synthetic_run({"recovery_time": "<= 1s"}, trials=3, delays=(1.0, 2.0, 3.0))
    line = lead(typed(failing))
    assert line.startswith("FAILED — MTTR median 2.0 s (±0.1 s), max 3.0 s over 3 trials")
    assert "users saw errors for up to" in line


def test_lead_says_service_restored_data_not_after_a_dirty_rollback() -> None:
    passing, _ = synthetic_run()
    out = copy.deepcopy(passing)
    out["trials"][0]["rollback"] = {
        "triggered_at": 12.0,
        "reason": "manual at 12s",
        "action": "redeploy",
        "action_ok": True,
        "action_duration": 1.0,
        "confirmed_at": 13.0,
        "recovered_at": 15.0,
        "rollback_duration": 3.0,
        "detection_to_rollback": 2.0,
        "impact_at": 10.0,
        "resolution": 0.2,
        "budget": 300.0,
        "escalated": False,
        "note": "",
        "data_after_rollback": {"lost": 0, "duplicated": 0, "corrupted": 182, "clean": False},
    }
    line = lead(typed(out))
    assert "SERVICE RESTORED, DATA NOT: 182 corrupted writes remain" in line
    assert "rolled back in 3.0 s (±0.2 s)" in line


def test_interrupted_and_errored_runs_say_so_first() -> None:
    passing, _ = synthetic_run()
    assert lead(typed(interrupted(passing))).startswith("INTERRUPTED — partial figures: recovered")
    errored = dict(
        passing, error="toxiproxy died\nmore", complete=False, passed=False, trials=[], verdicts=[]
    )
    assert lead(typed(errored)) == "ERROR — the rehearsal could not complete: toxiproxy died"


def test_every_report_opens_with_the_lead() -> None:
    passing, _ = synthetic_run()
    results = typed(passing)
    line = lead(results)
    summary = render_summary(results).splitlines()
    assert summary[2] == f"**{line}**"
    suite = ET.fromstring(render_junit(results)).find("testsuite")
    assert suite is not None
    out = suite.find("system-out")
    assert out is not None and (out.text or "").splitlines()[0] == line


def test_no_figure_is_printed_more_precisely_than_its_resolution() -> None:
    # before: "0.5 s ±0.44 s" (and the console printed 0.49s next to ±0.44s)
    assert figure_text(0.49, 0.44) == "0.5 s ±0.4 s"
    assert resolution_text(0.044) == "±0.04 s"
    passing, _ = synthetic_run()
    table = verdict_table(typed(passing))
    assert "2.0 s" in table and "2.00s" not in table


def test_margins_are_never_in_e_notation() -> None:
    v = Verdict(
        expectation="lost_writes",
        trial=1,
        fault="data",
        target="<= 0",
        measured=1180,
        measured_text="1180",
        passed=False,
        margin=-1180.0,
    )
    assert margin_text(v) == "−1,180"
    passing, _ = synthetic_run()
    out = copy.deepcopy(passing)
    out["verdicts"] = [v.model_dump()]
    assert "e+03" not in verdict_table(typed(out))


def test_every_duration_margin_carries_its_unit() -> None:
    """backlog_recovery_time's margin printed as ``+9.34`` beside ``+5.0 s`` for recovery_time."""
    for name in ("backlog_recovery_time", "cycle_time_p95", "time_to_detect", "recovery_time"):
        v = Verdict(
            expectation=name,
            trial=1,
            fault="down@api->db",
            target="<= 10s",
            measured=0.66,
            measured_text="0.66 s",
            passed=True,
            margin=9.34,
            resolution=0.05,
        )
        assert margin_text(v).endswith(" s"), (name, margin_text(v))


def test_console_does_not_say_no_expectations_stated_when_an_error_stopped_the_run() -> None:
    passing, _ = synthetic_run()
    errored = dict(passing, error="InfrastructureError: toxiproxy died", complete=False, passed=False)
    errored["verdicts"] = []
    table = verdict_table(typed(errored))
    assert "no expectations stated" not in table.lower()
    assert "stopped on an error (InfrastructureError: toxiproxy died)" in table


def test_an_interrupt_is_not_printed_as_none() -> None:
    assert error_line(Interrupted("interrupted by SIGINT"), None) == "Interrupted: interrupted by SIGINT"


def test_lead_names_the_mode_and_every_override() -> None:
    passing, _ = synthetic_run()
    doc = copy.deepcopy(passing)
    doc["as_run"] = {
        "mode": "fragile",
        "trials": 1,
        "seed": 9,
        "backend": "docker",
        "overrides": {"mode": "fragile", "seed": 9, "backend": "docker"},
    }
    assert lead(typed(doc)).endswith(
        "; data not checked (the target states no consistency contract)"
        " [mode fragile; --seed 9; --backend docker]"
    )


def test_every_long_phase_says_what_it_does() -> None:
    from harness.events import PhaseStarted
    from harness.progress import describe

    assert describe(PhaseStarted(trial=2, what="draining the target's queued work (up to 10 s)")) == (
        "trial 2: draining the target's queued work (up to 10 s)"
    )
    assert describe(PhaseStarted(what="analysing the journal and the ledgers")) == (
        "analysing the journal and the ledgers"
    )


def test_a_service_with_no_port_says_so_not_none() -> None:
    """A worker that serves nothing came up as ``service worker up (None)`` (a newcomer's run)."""
    from harness.events import ServiceUp
    from harness.progress import describe

    assert describe(ServiceUp(service="worker", address=None)) == "service worker up (no port)"
    assert describe(ServiceUp(service="api", address="127.0.0.1:8000")) == "service api up (127.0.0.1:8000)"


def test_an_outage_of_slowness_alone_is_not_called_errors() -> None:
    """A latency fault broke the p95 bound and no request failed: the lead said "users saw errors
    for 5 s; 0 of 424 requests failed" (a newcomer's first run)."""
    passing, _ = synthetic_run()
    slow = copy.deepcopy(passing)
    for t in slow["trials"]:
        t["load"]["fail"] = t["load"]["indeterminate"] = 0
    line = lead(typed(slow))
    assert "users saw slow answers for 6.0 s" in line and "users saw errors" not in line
    assert "users saw errors for 6.0 s" in lead(typed(passing))
