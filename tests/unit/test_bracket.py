"""The transition bracket, on synthetic ledgers whose transition instant is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.bracket import Bracket, bracket_transition
from harness.measure.health import HealthPolicy, evaluate_health
from harness.measure.recovery import measure_fault
from harness.measure.samples import RequestSamples, judged


def monotone(
    starts: np.typing.NDArray[np.float64],
    broke: float,
    healed: float,
    fast: float = 0.005,
    slow_fail: float = 0.005,
) -> RequestSamples:
    """A request sent at each of ``starts``; those sent in ``[broke, healed)`` fail after ``slow_fail``."""
    failing = (starts >= broke) & (starts < healed)
    latency = np.where(failing, slow_fail, fast)
    return RequestSamples.from_arrays(starts, starts + latency, ~failing)


def dephased(rate: float, until: float, users: int = 10, seed: int = 0) -> np.typing.NDArray[np.float64]:
    """``users`` users each sending at ``rate / users`` per second from a random phase."""
    rng = np.random.default_rng(seed)
    period = users / rate
    out = [rng.uniform(0, period) + np.arange(0, until / period) * period for _ in range(users)]
    starts = np.concatenate(out)
    return np.sort(starts[starts < until])


def test_a_clean_recovery_is_bracketed_by_the_last_bad_start_and_the_first_good_end() -> None:
    starts = dephased(100.0, 40.0)
    samples = monotone(starts, 10.0, 20.0, slow_fail=1.0)
    b = bracket_transition(judged(samples), near=20.05, radius=1.0, kind="recovery")
    assert b is not None and b.contradicting == 0
    assert b.lower == starts[starts < 20.0].max()
    assert b.upper == pytest.approx(starts[starts >= 20.0].min() + 0.005)
    assert b.lower < 20.0 <= b.upper
    assert abs(b.at - 20.0) <= b.half_width < 0.05


def test_an_impact_is_bracketed_by_the_last_good_start_and_the_first_bad_end() -> None:
    starts = dephased(100.0, 40.0, seed=3)
    samples = monotone(starts, 10.0, 20.0)
    b = bracket_transition(judged(samples), near=9.9, radius=1.0, kind="impact")
    assert b is not None and b.kind == "impact" and b.contradicting == 0
    assert b.lower == starts[starts < 10.0].max()
    assert b.lower < 10.0 <= b.upper
    assert abs(b.at - 10.0) <= b.half_width


def test_a_stray_failure_after_the_recovery_is_counted_not_followed() -> None:
    starts = dephased(100.0, 40.0, seed=5)
    samples = monotone(starts, 10.0, 20.0)
    ok = samples.ok.copy()
    stray = np.flatnonzero(samples.start > 20.4)[0]
    ok[stray] = False
    noisy = RequestSamples.from_arrays(samples.start, samples.end, ok)
    b = bracket_transition(judged(noisy), near=20.0, radius=1.0, kind="recovery")
    assert b is not None and b.contradicting == 1
    assert b.lower < 20.0 <= b.upper


def test_nothing_to_bracket_when_every_request_nearby_agrees() -> None:
    starts = dephased(100.0, 40.0)
    samples = monotone(starts, 10.0, 20.0)
    assert bracket_transition(judged(samples), near=30.0, radius=1.0, kind="recovery") is None
    assert bracket_transition(judged(RequestSamples.empty()), 5.0, 1.0, "impact") is None
    with pytest.raises(ValueError, match="kind"):
        bracket_transition(judged(samples), 5.0, 1.0, "outage")


@settings(deadline=None, max_examples=150)
@given(
    rate=st.floats(20.0, 400.0),
    users=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    broke=st.floats(3.0, 10.0),
    length=st.floats(1.0, 10.0),
    slow_fail=st.sampled_from([0.002, 0.3, 1.0, 2.0]),
)
def test_a_monotone_transition_is_always_inside_its_bracket(
    rate: float, users: int, seed: int, broke: float, length: float, slow_fail: float
) -> None:
    """Whatever the rate, phases or failure latency: truth in (lower, upper], none contradicting."""
    healed = broke + length
    samples = monotone(dephased(rate, healed + 10.0, users, seed), broke, healed, slow_fail=slow_fail)
    placed = judged(samples)
    radius = min(1.0, length / 2)  # wider, and the other edge's requests would contradict
    for kind, truth in (("impact", broke), ("recovery", healed)):
        b = bracket_transition(placed, near=truth, radius=radius, kind=kind)
        if b is None:
            continue  # no request on one side within a window (very sparse load)
        assert b.contradicting == 0
        assert b.lower < truth <= b.upper
        assert abs(b.at - truth) <= b.half_width + 1e-12


def test_measure_fault_reports_both_brackets_and_a_bracketed_mttr() -> None:
    starts = dephased(100.0, 40.0, seed=11)
    samples = monotone(starts, 10.0, 20.0, slow_fail=1.0)
    timeline = evaluate_health(samples, HealthPolicy(step=0.05), 0.0, 40.0)
    m = measure_fault(timeline, samples, injected_at=10.0, cleared_at=17.0)
    assert isinstance(m.impact_bracket, Bracket) and isinstance(m.recovery_bracket, Bracket)
    assert m.recovery_time_bracketed is not None
    assert abs(m.recovery_time_bracketed - 3.0) <= m.recovery_bracket.half_width
    # finer than the window figure's resolution at the same load
    assert m.recovery_bracket.half_width < m.resolution["recovery_time"]
    data = m.to_dict()
    assert data["recovery_bracket"]["kind"] == "recovery"  # type: ignore[index]
    assert data["recovery_time_bracketed"] == pytest.approx(m.recovery_time_bracketed)


def test_never_impacted_has_no_brackets() -> None:
    samples = monotone(dephased(100.0, 40.0), 100.0, 100.0)
    timeline = evaluate_health(samples, HealthPolicy(), 0.0, 40.0)
    m = measure_fault(timeline, samples, injected_at=10.0, cleared_at=17.0)
    assert m.impact_bracket is None and m.recovery_bracket is None
    assert m.to_dict()["recovery_time_bracketed"] is None
