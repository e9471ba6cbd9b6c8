"""MTTR over trials and distribution expectations, with known answers."""

from __future__ import annotations

from harness.measure.trials import mttr_over_trials, percentile
from harness.measure.verdicts import judge_distribution
from harness.results import FaultResult, Resolution, TrialResult
from harness.scenario.models import Expectations


def fault(recovery_time: float | None) -> FaultResult:
    return FaultResult(
        index=0,
        kind="down",
        target="a->b",
        label="down@a->b",
        injected_at=1.0,
        cleared_at=2.0,
        time_to_impact=0.1,
        impact_at=1.1,
        recovered_at=None if recovery_time is None else 2.0 + recovery_time,
        recovery_time=recovery_time,
        recovered=recovery_time is not None,
        outage=1.0,
        resolution=Resolution(recovery_time=0.1),
        error_rate_during_fault=1.0,
        requests_during_fault=10,
    )


def trials(*recovery: float | None) -> list[TrialResult]:
    return [TrialResult(trial=n + 1, faults=[fault(r)]) for n, r in enumerate(recovery)]


def test_median_p95_max_and_every_value() -> None:
    (m,) = mttr_over_trials(trials(1.0, 3.0, 2.0, 4.0, 5.0))
    assert (m.median, m.max, m.trials) == (3.0, 5.0, 5)
    assert m.p95 == percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == 4.8
    assert [v.recovery_time for v in m.values] == [1.0, 3.0, 2.0, 4.0, 5.0]
    assert m.all_recovered


def test_a_trial_that_never_recovered_is_infinite() -> None:
    (m,) = mttr_over_trials(trials(1.0, None))
    assert m.max is None and m.p95 is None and not m.all_recovered
    assert m.median is None  # linear interpolation towards infinity


def test_distribution_verdicts() -> None:
    expect = Expectations.model_validate({"recovery_time": {"median": "<= 3s", "max": "<= 4s"}})
    verdicts = {v.expectation: v for v in judge_distribution(expect, mttr_over_trials(trials(1.0, 3.0, 5.0)))}
    assert verdicts["recovery_time.median"].passed
    assert not verdicts["recovery_time.max"].passed and verdicts["recovery_time.max"].measured == 5.0
    assert "over 3 trials" in verdicts["recovery_time.max"].measured_text


def test_a_per_trial_bound_is_not_a_distribution() -> None:
    expect = Expectations.model_validate({"recovery_time": "<= 3s"})
    assert judge_distribution(expect, mttr_over_trials(trials(1.0))) == []
