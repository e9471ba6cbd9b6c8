"""Detection maths on synthetic notifications whose right answer is known exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.measure.detection import AlertNotice, measure_detection, runbook_resolves


@pytest.fixture
def target_dir(tmp_path: Path) -> Path:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "backlog.md").write_text("# what to do\n")
    return tmp_path


def notice(
    t: float, status: str, name: str, symptom: bool = False, runbook: str | None = None
) -> AlertNotice:
    labels = {"alertname": name, "severity": "page" if symptom else "ticket"}
    if symptom:
        labels["symptom"] = "true"
    return AlertNotice(t, status, name, name, labels, {"runbook_url": runbook} if runbook else {})


def test_symptom_first_alerting_with_runbooks(target_dir: Path) -> None:
    m = measure_detection(
        [
            notice(5.0, "firing", "Old", symptom=True, runbook="runbooks/backlog.md"),  # before the fault
            notice(14.0, "firing", "OrdersNotConfirmed", symptom=True, runbook="runbooks/backlog.md"),
            notice(15.0, "firing", "PaymentsFailing", runbook="runbooks/backlog.md#payments"),
            notice(27.0, "resolved", "PaymentsFailing"),
            notice(29.5, "resolved", "OrdersNotConfirmed"),
        ],
        injected_at=10.0,
        until=40.0,
        impact_at=10.5,
        recovered_at=25.0,
        observe_to=40.0,
        escalate_after=180.0,
        runbook_root=target_dir,
    )
    assert m.detected_at == 14.0
    assert m.time_to_detect == 3.5
    assert [a.name for a in m.alerts] == ["OrdersNotConfirmed", "PaymentsFailing"]
    assert m.symptom and m.runbook and m.resolved
    assert m.resolved_at == 29.5
    assert m.time_to_resolve == 4.5
    assert m.noise == 0 and m.escalate == []
    assert m.time_to_detect_symptom == 3.5  # the symptom page came first here


def test_cause_only_alerts_without_runbooks_are_noise_and_not_symptoms(target_dir: Path) -> None:
    m = measure_detection(
        [notice(12.0, "firing", "PaymentsDown"), notice(45.0, "resolved", "PaymentsDown")],
        injected_at=10.0,
        until=40.0,
        impact_at=10.5,
        recovered_at=None,
        observe_to=40.0,
        escalate_after=180.0,
        runbook_root=target_dir,
    )
    assert m.detected and m.time_to_detect == 1.5
    assert not m.symptom
    assert not m.runbook and m.noise == 1
    assert not m.resolved  # the resolution came after the observation ended
    assert m.time_to_resolve is None
    assert m.alerts[0].runbook_note == "no runbook_url annotation"


def test_nothing_fired_is_not_detected(target_dir: Path) -> None:
    m = measure_detection(
        [],
        injected_at=10.0,
        until=40.0,
        impact_at=10.5,
        recovered_at=25.0,
        observe_to=40.0,
        escalate_after=180.0,
        runbook_root=target_dir,
    )
    assert not m.detected and m.time_to_detect is None
    assert not m.symptom and not m.runbook and not m.resolved


def test_an_alert_firing_longer_than_escalate_after_escalates(target_dir: Path) -> None:
    m = measure_detection(
        [notice(12.0, "firing", "Stuck", symptom=True, runbook="runbooks/backlog.md")],
        injected_at=10.0,
        until=300.0,
        impact_at=11.0,
        recovered_at=None,
        observe_to=200.0,
        escalate_after=180.0,
        runbook_root=target_dir,
    )
    assert m.escalate == ["Stuck"]
    m = measure_detection(
        [notice(12.0, "firing", "Stuck", symptom=True, runbook="runbooks/backlog.md")],
        injected_at=10.0,
        until=300.0,
        impact_at=11.0,
        recovered_at=None,
        observe_to=191.0,
        escalate_after=180.0,
        runbook_root=target_dir,
    )
    assert m.escalate == []


def test_a_cause_alert_may_fire_before_the_impact(target_dir: Path) -> None:
    m = measure_detection(
        [notice(10.2, "firing", "PaymentsDown", runbook="runbooks/backlog.md")],
        injected_at=10.0,
        until=40.0,
        impact_at=11.0,
        recovered_at=25.0,
        observe_to=40.0,
        escalate_after=180.0,
        runbook_root=target_dir,
    )
    assert m.time_to_detect == pytest.approx(-0.8)


def test_runbook_urls_resolve_only_to_files_the_target_ships(target_dir: Path) -> None:
    assert runbook_resolves("runbooks/backlog.md", target_dir) == (True, "runbooks/backlog.md")
    assert runbook_resolves("runbooks/backlog.md#step-2", target_dir)[0]
    assert runbook_resolves(f"file://{target_dir}/runbooks/backlog.md", target_dir)[0]
    assert not runbook_resolves("runbooks/missing.md", target_dir)[0]
    assert not runbook_resolves("../../etc/passwd", target_dir)[0]
    assert not runbook_resolves("runbooks", target_dir)[0]  # a directory is not a runbook
    ok, why = runbook_resolves("https://wiki.example/runbook", target_dir)
    assert not ok and "web address" in why
    assert runbook_resolves(None, target_dir) == (False, "no runbook_url annotation")


def test_notices_read_back_from_the_journal() -> None:
    t0 = 5_000_000_000
    entry = {
        "t_ns": t0 + 1_500_000_000,
        "event": "alert",
        "status": "firing",
        "alertname": "OrdersNotConfirmed",
        "fingerprint": "abc",
        "labels": {"alertname": "OrdersNotConfirmed", "symptom": "true"},
        "annotations": {"runbook_url": "runbooks/x.md"},
    }
    n = AlertNotice.from_journal(entry, t0)
    assert (n.received_at, n.status, n.name, n.fingerprint, n.symptom) == (
        1.5,
        "firing",
        "OrdersNotConfirmed",
        "abc",
        True,
    )
