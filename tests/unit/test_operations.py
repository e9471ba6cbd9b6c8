"""The operations view of a trial from what a run wrote (audit work items, journal alerts), and its
verdicts: synthetic inputs whose right answer is known exactly; the scenario checks of `monitoring:`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.events import RunEvent
from harness.measure.operations import measure_operations
from harness.monitoring.events import AlertReceived, MonitoringStarted, MonitoringStopped
from harness.results import FaultResult, Resolution
from harness.scenario.loader import load_scenario
from harness.scenario.models import Scenario
from tests.conftest import REPO

T0 = 1_000_000_000_000
NS = 1_000_000_000


def ns(t: float) -> int:
    return T0 + round(t * NS)


def scenario(expect: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "ops",
            "target": "orders",
            "slo": {"hold": "3s"},
            "faults": [{"kind": "down", "link": "worker->payments", "at": "10s", "duration": "8s"}],
            "expect": expect,
        }
    )


def audit(drains: bool) -> dict[str, Any]:
    """8 orders/s from 0 to 30 s, each done in 0.25 s; the 64 accepted in [10, 18) are held and
    finish one every 1/16 s from 18 s (so the backlog is back at <= 2 at exactly 22 s) or never."""
    effects = []
    held = 0
    for i in range(240):
        a = i * 0.125
        if 10.0 <= a < 18.0:
            held += 1
            f: float | None = 18.0 + held / 16 if drains else None
        else:
            f = a + 0.25
        effects.append(
            {
                "kind": "order",
                "key": f"k{i}",
                "value": "1",
                "status": "confirmed" if f is not None else "pending",
                "id": str(i),
                "accepted_ns": ns(a),
                "finished_ns": None if f is None else ns(f),
                "attempts": 1,
            }
        )
    return {"api": {"effects": effects, "pending": 0}}


def alert(t: float, status: str, name: str, symptom: bool, runbook: str | None) -> AlertReceived:
    return AlertReceived(
        t_ns=ns(t),
        trial=1,
        status=status,
        alertname=name,
        fingerprint=name,
        labels={"alertname": name, "symptom": "true" if symptom else "false"},
        annotations={"runbook_url": runbook} if runbook else {},
    )


def journal(alerts: list[AlertReceived], root: Path) -> list[RunEvent]:
    return [
        MonitoringStarted(
            t_ns=ns(-5),
            trial=1,
            prometheus="http://127.0.0.1:1",
            alertmanager="http://127.0.0.1:2",
            runbook_root=str(root),
            escalate_after=180.0,
        ),
        *alerts,
        MonitoringStopped(t_ns=ns(45), trial=1),
    ]


FAULT = FaultResult(
    index=0,
    kind="down",
    target="worker->payments",
    label="down@worker->payments",
    injected_at=10.0,
    cleared_at=18.0,
    time_to_impact=None,
    impact_at=None,  # HTTP never impacted: the API kept answering
    recovered_at=18.0,
    recovery_time=0.0,
    recovered=True,
    outage=0.0,
    resolution=Resolution(time_to_impact=0.2, recovered_at=0.2, recovery_time=0.2, outage=0.4),
    error_rate_during_fault=0.0,
    requests_during_fault=600,
)
EXPECT = {
    "backlog_recovery_time": "<= 5s",
    "cycle_time_p95": "<= 10s",
    "time_to_detect": "<= 5s",
    "alerts": {"symptom": True, "runbook": True, "resolved": True},
}


@pytest.fixture
def target_dir(tmp_path: Path) -> Path:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "stuck.md").write_text("# do this\n")
    return tmp_path


def run(drains: bool, alerts: list[AlertReceived], root: Path, monitored: bool = True) -> Any:
    ops = measure_operations(
        scenario(EXPECT),
        1,
        t0_ns=T0,
        faults=[FAULT],
        load_start=0.0,
        load_stop=30.0,
        audit_docs=audit(drains),
        audit_at=40.0,
        events=journal(alerts, root) if monitored else [],
    )
    (fault,) = ops.faults
    return fault, {v.expectation: v for v in ops.verdicts}


def test_resilient_http_and_business_recovery_are_two_numbers_and_detection_is_measured(
    target_dir: Path,
) -> None:
    fault, verdicts = run(
        True,
        [
            alert(13.0, "firing", "OrdersNotConfirmed", True, "runbooks/stuck.md"),
            alert(24.0, "resolved", "OrdersNotConfirmed", True, "runbooks/stuck.md"),
        ],
        target_dir,
    )
    b, d = fault.business, fault.detection
    assert b.backlog_recovery_time == 4.0  # HTTP: 0 (never impacted); the work: 4 s
    assert b.left_range_at == 10.25
    assert d.impact_at == 10.25  # the business impact: HTTP never saw one
    assert d.time_to_detect == 13.0 - 10.25
    assert d.recovered_at == 22.0  # the later of HTTP (18) and the backlog (22)
    assert d.time_to_resolve == 2.0
    assert d.resolution.time_to_resolve == 0.0625  # that of the backlog's recovery instant
    assert all(v.passed for v in verdicts.values()), verdicts
    assert verdicts["backlog_recovery_time"].measured == 4.0


def test_fragile_fails_backlog_and_detection_each_for_its_reason(target_dir: Path) -> None:
    _, verdicts = run(
        False,
        [
            alert(10.5, "firing", "PaymentsDown", False, None),
            alert(20.0, "resolved", "PaymentsDown", False, None),
        ],
        target_dir,
    )
    assert not verdicts["backlog_recovery_time"].passed
    assert verdicts["backlog_recovery_time"].measured_text.startswith("not recovered (64 unfinished")
    assert not verdicts["alerts.symptom"].passed
    assert verdicts["alerts.symptom"].measured_text == "no: only causes fired: PaymentsDown (cause)"
    assert not verdicts["alerts.runbook"].passed
    assert "PaymentsDown: no runbook_url annotation" in verdicts["alerts.runbook"].measured_text
    assert verdicts["time_to_detect"].passed  # a cause alert did fire fast: detection, not paging
    assert verdicts["alerts.resolved"].passed


def test_nothing_fired_fails_detection(target_dir: Path) -> None:
    _, verdicts = run(True, [], target_dir)
    assert not verdicts["time_to_detect"].passed
    assert verdicts["time_to_detect"].measured_text == "not detected (nothing fired)"
    assert not verdicts["alerts.symptom"].passed and not verdicts["alerts.resolved"].passed


def test_without_monitoring_detection_expectations_fail_as_unverified(target_dir: Path) -> None:
    _, verdicts = run(True, [], target_dir, monitored=False)
    assert verdicts["backlog_recovery_time"].passed
    for name in ("time_to_detect", "alerts.symptom", "alerts.runbook", "alerts.resolved"):
        assert not verdicts[name].passed and verdicts[name].measured_text == "no monitoring ran"


def test_without_work_items_business_expectations_fail_as_unverified(target_dir: Path) -> None:
    ops = measure_operations(
        scenario(EXPECT),
        1,
        t0_ns=T0,
        faults=[FAULT],
        load_start=0.0,
        audit_docs={"api": {"effects": [{"kind": "order", "key": "k"}], "pending": 0}},
        audit_at=40.0,
        events=[],
    )
    assert ops.faults[0].business is None and ops.faults[0].detection is None
    v = {v.expectation: v for v in ops.verdicts}
    assert not v["backlog_recovery_time"].passed
    assert v["backlog_recovery_time"].measured_text == "no work items in the audit"


# -- the scenario's monitoring block is checked before anything starts ---------------------------


def write_scenario(tmp_path: Path, text: str) -> Path:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copytree(REPO / "targets" / "orders", tmp_path / "targets" / "orders")
    path = scenarios / "s.yaml"
    path.write_text(text)
    return path


BASE = """name: s
target: orders
load: {duration: 20s}
faults:
  - {kind: down, link: worker->payments, at: 4s, duration: 4s}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(write_scenario(tmp_path, text))
    return [str(p) for p in err.value.problems]


def test_shipped_payments_down_validates() -> None:
    loaded = load_scenario(REPO / "scenarios" / "payments-down.yaml")
    assert loaded.scenario.monitoring is not None
    assert loaded.scenario.monitoring.prometheus.rules_for("fragile") == ["alerts-fragile.yml"]


def test_unknown_service_and_missing_rules_are_reported_with_their_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        BASE
        + """monitoring:
  prometheus:
    scrape: [api, nope]
    rules: [alerts.yml, missing.yml]
    mode_rules: {chaotic: alerts-fragile.yml}
""",
    )
    text = "\n".join(found)
    assert "monitoring.prometheus.scrape[1]" in text and "nope" in text and "s.yaml:8" in text
    assert "monitoring.prometheus.rules[1]" in text and "missing.yml" in text
    assert "mode_rules.chaotic" in text and "no such mode" in text
    assert len(found) == 3


def test_rules_prometheus_cannot_load_are_a_scenario_error(tmp_path: Path) -> None:
    assert shutil.which("promtool"), "promtool comes with Debian's prometheus: run `make monitoring`"
    path = write_scenario(tmp_path, BASE + "monitoring: {prometheus: {scrape: [api], rules: bad.yml}}\n")
    (tmp_path / "targets" / "orders" / "bad.yml").write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "Prometheus cannot load these rules" in str(err.value.problems[0])


def test_detection_expected_without_monitoring_is_a_scenario_error(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE + "expect: {time_to_detect: <= 60s}\n")
    assert len(found) == 1 and "monitoring" in found[0]
