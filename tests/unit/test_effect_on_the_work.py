"""A fault that no user request crosses but that stalls the work is not "no effect observed"."""

from __future__ import annotations

from harness.fault_result import effect_on_the_work
from harness.results import FaultResult, FidelityResult
from harness.results.operations import BusinessResult

NOTE = "no effect observed: median latency 9 -> 7 ms, failing 0.0% -> 0.0% of the entrypoint's requests"


def fault(left_range_at: float | None) -> FaultResult:
    fidelity = FidelityResult.model_construct(effect_observed=False, no_effect=True, note=NOTE)
    business = BusinessResult.model_construct(
        max_backlog=505, baseline_backlog=11, left_range_at=left_range_at
    )
    return FaultResult.model_construct(label="down@worker->payments", fidelity=fidelity, business=business)


def test_a_backlog_that_left_its_range_is_an_observed_effect() -> None:
    f = effect_on_the_work(fault(left_range_at=18.4))
    assert f.fidelity is not None and not f.fidelity.no_effect and f.fidelity.effect_observed
    assert f.fidelity.note.startswith(
        "effect observed on the work: backlog rose to 505 (baseline range 0..11)"
    )


def test_a_backlog_that_stayed_in_range_leaves_the_flag() -> None:
    f = effect_on_the_work(fault(left_range_at=None))
    assert f.fidelity is not None and f.fidelity.no_effect and f.fidelity.note == NOTE


def test_the_headline_says_the_work_moved_when_the_requests_did_not() -> None:
    """A newcomer's crash of a worker read "no impact from crash@worker" beside a backlog of 4 -> 49:
    the requests were fine, the work was not, and the headline must say which."""
    from harness.report.lead import _recovery_phrase
    from harness.results.operations import BusinessResolution

    def crash(left_range_at: float | None, recovered: bool) -> FaultResult:
        business = BusinessResult.model_construct(
            max_backlog=49,
            baseline_backlog=4,
            left_range_at=left_range_at,
            backlog_recovered=recovered,
            backlog_recovery_time=0.66 if recovered else None,
            resolution=BusinessResolution(backlog_recovery_time=0.05),
        )
        return FaultResult.model_construct(
            label="crash@worker", time_to_impact=None, recovered=True, business=business
        )

    assert _recovery_phrase(crash(None, True)) == "no impact from crash@worker"
    moved = _recovery_phrase(crash(12.0, True))
    assert moved.startswith("no impact on requests from crash@worker, but its backlog rose to 49")
    assert "(range 0..4)" in moved
    assert "back in range 0.66 s" in moved
    assert _recovery_phrase(crash(12.0, False)).endswith("NOT back in range")
