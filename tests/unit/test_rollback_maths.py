"""Rollback figures on synthetic ledgers whose right answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure.health import HealthPolicy, evaluate_health
from harness.measure.rollback import measure_rollback
from harness.measure.samples import RequestSamples


def ledger(bad: tuple[float, float], until: float = 60.0, rate: int = 100) -> RequestSamples:
    end = np.arange(1, int(until * rate) + 1) / rate
    ok = ~((end >= bad[0]) & (end < bad[1]))
    return RequestSamples.from_arrays(end - 0.005, end, ok)


POLICY = HealthPolicy(window=1.0, step=0.1, success_rate=0.99, hold=5.0)


def measure(samples: RequestSamples, **kw: object):  # type: ignore[no-untyped-def]
    timeline = evaluate_health(samples, POLICY, 0.0, 60.0)
    args: dict[str, object] = dict(
        reason="test",
        action="redeploy",
        action_ok=True,
        action_done_at=None,
        confirmed_at=None,
        impact_at=10.0,
    )
    args.update(kw)
    return measure_rollback(timeline, samples, **args)  # type: ignore[arg-type]


def test_duration_runs_from_trigger_to_recovery_when_confirmed_earlier() -> None:
    # bad deploy at 10 s, rollback triggered at 14 s, healthy again from 17 s, confirmed at 16 s
    m = measure(ledger((10.0, 17.0)), triggered_at=14.0, action_done_at=15.5, confirmed_at=16.0)
    assert m.rollback_duration == pytest.approx(3.0, abs=m.resolution)
    assert m.detection_to_rollback == pytest.approx(4.0)
    assert m.action_duration == pytest.approx(1.5)
    assert not m.escalated


def test_a_late_confirmation_extends_the_duration() -> None:
    m = measure(ledger((10.0, 17.0)), triggered_at=14.0, confirmed_at=25.0)
    assert m.rollback_duration == pytest.approx(11.0)


def test_failed_action_or_missing_confirmation_is_no_rollback_and_escalates() -> None:
    failed = measure(ledger((10.0, 17.0)), triggered_at=14.0, action_ok=False, confirmed_at=16.0)
    assert failed.rollback_duration is None and failed.escalated and "failed" in failed.note
    unconfirmed = measure(ledger((10.0, 17.0)), triggered_at=14.0, confirmed_at=None)
    assert unconfirmed.rollback_duration is None and "confirmed" in unconfirmed.note


def test_never_recovering_after_rollback() -> None:
    m = measure(ledger((10.0, 60.0)), triggered_at=14.0, confirmed_at=15.0)
    assert m.rollback_duration is None and m.recovered_at is None and m.escalated


def test_escalation_budget() -> None:
    m = measure(ledger((10.0, 17.0)), triggered_at=14.0, confirmed_at=16.0, budget=2.0)
    assert m.escalated and m.rollback_duration is not None and m.rollback_duration > 2.0
