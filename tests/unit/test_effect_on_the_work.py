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
