"""Properties of the recovery maths (DESIGN.md, binding definitions), over generated ledgers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.health import HealthPolicy, evaluate_health
from harness.measure.recovery import FaultMeasurement, measure_fault
from harness.measure.samples import RequestSamples

POLICY = HealthPolicy(window=1.0, step=0.1, success_rate=0.99, hold=2.0)
START, STOP = 0.5, 30.5


def measure(
    gap: float, bad: list[tuple[float, float]], injected: float, cleared: float, shift: float = 0.0
) -> FaultMeasurement:
    """Requests every ``gap`` s over [START, STOP], failing inside ``bad``; all shifted by ``shift``."""
    end = START + np.arange(1, int((STOP - START) / gap) + 1) * gap
    ok = np.ones(end.size, dtype=bool)
    for lo, hi in bad:
        ok &= ~((end >= lo) & (end < hi))
    samples = RequestSamples.from_arrays(end - 0.004 + shift, end + shift, ok)
    timeline = evaluate_health(samples, POLICY, START + shift, STOP + shift)
    return measure_fault(timeline, samples, injected + shift, cleared + shift)


gaps = st.sampled_from([0.01, 0.02, 0.05])
instants = st.tuples(st.floats(2.0, 12.0), st.floats(0.0, 8.0)).map(lambda t: (t[0], t[0] + t[1]))
failures = st.lists(st.tuples(st.floats(1.0, 28.0), st.floats(0.0, 6.0)), max_size=3).map(
    lambda xs: [(lo, lo + length) for lo, length in xs]
)


@settings(max_examples=80, deadline=None)
@given(gap=gaps, fault=instants, bad=failures)
def test_recovery_time_is_never_negative_and_outage_fits_in_the_fault(
    gap: float, fault: tuple[float, float], bad: list[tuple[float, float]]
) -> None:
    injected, cleared = fault
    m = measure(gap, bad, injected, cleared)
    assert m.recovery_time is None or m.recovery_time >= 0
    assert m.outage >= 0
    if m.recovered_at is not None:
        assert m.recovered_at >= cleared
        assert m.outage <= m.recovered_at - injected + 1e-9
    if m.time_to_impact is not None:
        assert m.time_to_impact >= 0
    else:
        assert m.recovery_time == 0 and m.outage == 0


@settings(max_examples=60, deadline=None)
@given(
    gap=gaps,
    fault=instants,
    tail=st.floats(0.0, 4.0),
    more=st.floats(0.0, 4.0),
)
def test_failing_longer_never_recovers_sooner(
    gap: float, fault: tuple[float, float], tail: float, more: float
) -> None:
    """Requests fail from the injection until ``tail`` s after the clear; failing ``more`` s longer
    (a later shift of the ledger's recovery) can only delay the recovery."""
    injected, cleared = fault
    sooner = measure(gap, [(injected, cleared + tail)], injected, cleared)
    later = measure(gap, [(injected, cleared + tail + more)], injected, cleared)
    if later.recovery_time is not None:
        assert sooner.recovery_time is not None
        assert later.recovery_time >= sooner.recovery_time - 1e-9
        assert later.outage >= sooner.outage - 1e-9


@settings(max_examples=40, deadline=None)
@given(gap=gaps, fault=instants, bad=failures, shift=st.integers(1, 50).map(lambda k: k * 10.0))
def test_shifting_the_whole_ledger_shifts_the_instants_not_the_durations(
    gap: float, fault: tuple[float, float], bad: list[tuple[float, float]], shift: float
) -> None:
    """Within one evaluation step: a request ending exactly on a grid edge may fall on either side
    of it once shifted (floating point), which is what the step's share of the resolution covers."""
    injected, cleared = fault
    a = measure(gap, bad, injected, cleared)
    b = measure(gap, bad, injected, cleared, shift)
    tolerance = POLICY.step + 1e-6 * shift
    assert (a.recovery_time is None) == (b.recovery_time is None)
    if a.recovery_time is not None and b.recovery_time is not None:
        assert abs(a.recovery_time - b.recovery_time) <= tolerance
    if a.recovered_at is not None and b.recovered_at is not None:
        assert abs(b.recovered_at - shift - a.recovered_at) <= tolerance
    assert abs(a.outage - b.outage) <= 2 * tolerance  # both of its edges
