"""The operations view end to end: `aftershock run scenarios/payments-down.yaml` on the real orders
target with its real Prometheus and Alertmanager.

Resilient: HTTP never falters while the work piles up and drains, so HTTP recovery and backlog
recovery are two measured, different numbers with resolutions, and time_to_detect comes from a
real Alertmanager notification. Fragile: the backlog never drains and only cause alerts without
runbooks fire, so exactly those expectations fail, each saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.journal import read_journal
from tests.conftest import aftershock, latest_run, leftovers, results_of
from tests.integration.test_orders_consistency import check_verdict_by_mode

pytestmark = pytest.mark.integration


def run(tmp_path: Path, *extra: str) -> tuple[Any, dict[str, Any], Path]:
    proc = aftershock("run", "scenarios/payments-down.yaml", "--out", str(tmp_path), "--quiet", *extra)
    run_dir = latest_run(tmp_path)
    return proc, results_of(run_dir), run_dir


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["expectation"]: v for v in results["verdicts"]}


def test_resilient_recovers_twice_and_its_alerting_pages_on_the_symptom(tmp_path: Path) -> None:
    proc, results, run_dir = run(tmp_path)
    check_verdict_by_mode("payments-down", "resilient", proc, results)  # one rehearsal, both views
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (fault,) = results["trials"][0]["faults"]
    business, detection = fault["business"], fault["detection"]

    # HTTP: the API kept answering; the work: it piled up and drained after the clear
    assert fault["recovered"] and fault["recovery_time"] is not None
    assert business["backlog_recovered"] and business["max_backlog"] > business["baseline_backlog"]
    assert business["backlog_recovery_time"] > fault["recovery_time"] + fault["resolution"]["recovery_time"]
    assert business["resolution"]["backlog_recovery_time"] > 0
    assert business["stuck_ratio"] == 0

    # detection: a real notification, stamped when our webhook received it
    journal = read_journal(run_dir / "journal.jsonl")
    firing = [e for e in journal if e["event"] == "alert" and e["status"] == "firing"]
    assert firing and detection["detected_at"] == pytest.approx((firing[0]["t_ns"] - results["t0_ns"]) / 1e9)
    assert detection["time_to_detect"] is not None
    assert detection["symptom"] and detection["runbook"] and detection["resolved"]
    assert any(a["name"] == "OrdersNotConfirmed" and a["symptom"] for a in detection["alerts"])
    assert "backlog recovery" in proc.stdout and "HTTP recovery" in proc.stdout
    assert leftovers(results["run_id"]) == []


def test_fragile_fails_the_backlog_and_the_detection_for_the_right_reasons(tmp_path: Path) -> None:
    proc, results, _ = run(tmp_path, "--mode", "fragile")
    check_verdict_by_mode("payments-down", "fragile", proc, results)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    v = verdicts(results)
    # the backlog: jobs were dropped, the work never finished
    assert not v["backlog_recovery_time"]["passed"]
    assert v["backlog_recovery_time"]["measured_text"].startswith("not recovered (")
    (fault,) = results["trials"][0]["faults"]
    assert fault["business"]["unfinished_at_end"] > 0
    # detection: something fired (a cause), but no symptom and no runbook
    assert fault["detection"]["detected"]
    assert not v["alerts.symptom"]["passed"]
    assert v["alerts.symptom"]["measured_text"].startswith("no: only causes fired: ")
    assert not v["alerts.runbook"]["passed"]
    assert "no runbook_url annotation" in v["alerts.runbook"]["measured_text"]
    assert leftovers(results["run_id"]) == []
