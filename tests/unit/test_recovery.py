"""Impact, recovery, outage and their resolutions, on synthetic ledgers with known answers.

The default SLO is used unless a test says otherwise: 1 s windows every 100 ms, 99 % success,
5 s hold. Traffic is a request completing every 10 ms unless stated.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.measure.health import HealthPolicy, HealthTimeline, evaluate_health
from harness.measure.recovery import (
    RESOLUTION_KEYS,
    FaultMeasurement,
    boundary_resolution,
    error_rate,
    measure_fault,
    recovered_at,
)
from harness.measure.samples import RequestSamples

POLICY = HealthPolicy()


def steady(
    until: float,
    rate: float = 100.0,
    bad: tuple[tuple[float, float], ...] = (),
    silent: tuple[tuple[float, float], ...] = (),
    slow: tuple[tuple[float, float], ...] = (),
    phase: float = 0.0,
    jitter: float = 0.0,
    seed: int = 0,
) -> RequestSamples:
    """A request completing every 1/rate s (each moved by up to ``jitter`` periods) up to ``until``.

    Requests fail in ``bad`` stretches, none complete in ``silent`` ones, and those started in
    ``slow`` ones took 300 ms instead of 5 ms (by their start, as a fault slows what is sent while
    it acts: a request whose slow answer ends in the stretch but began 300 ms before it was not
    slowed by it, and the analysis places a slow request at its start).
    """
    end = phase + np.arange(math.floor(until * rate) + 1) / rate
    if jitter:
        end = end + np.random.default_rng(seed).uniform(0.0, jitter / rate, end.size)
    end = end[(end > 0) & (end <= until)]

    def within(
        stretches: tuple[tuple[float, float], ...], at: np.typing.NDArray[np.float64] = end
    ) -> np.typing.NDArray[np.bool_]:
        mask = np.zeros(end.size, dtype=bool)
        for a, b in stretches:
            mask |= (at >= a) & (at < b)
        return mask

    ok = ~within(bad)
    latency = np.where(within(slow, at=end - 0.3), 0.3, 0.005)
    keep = ~within(silent)
    return RequestSamples.from_arrays((end - latency)[keep], end[keep], ok[keep])


def measure(
    samples: RequestSamples,
    injected_at: float,
    cleared_at: float,
    until: float,
    policy: HealthPolicy = POLICY,
    impact_until: float | None = None,
) -> FaultMeasurement:
    timeline = evaluate_health(samples, policy, 0.0, until)
    return measure_fault(timeline, samples, injected_at, cleared_at, impact_until=impact_until)


def within_resolution(m: FaultMeasurement, key: str, measured: float | None, truth: float) -> bool:
    assert measured is not None, f"{key} was not measured"
    return abs(measured - truth) <= m.resolution[key]


# --- the definitions, one by one --------------------------------------------------------------


def test_never_impacted() -> None:
    m = measure(steady(60), injected_at=10.0, cleared_at=20.0, until=60.0)
    assert m.time_to_impact is None and m.impact_at is None
    assert m.recovered and m.recovered_at == 20.0 and m.recovery_time == 0.0
    assert m.outage == 0.0
    assert m.error_rate_during_fault == 0.0
    assert m.requests_during_fault == 1001  # completions at 10.00, 10.01, ..., 20.00
    assert set(m.resolution) == set(RESOLUTION_KEYS)


def test_impact_delayed_by_a_known_amount() -> None:
    m = measure(steady(60, bad=((13.37, 25.0),)), injected_at=10.0, cleared_at=20.0, until=60.0)
    assert within_resolution(m, "time_to_impact", m.time_to_impact, 3.37)
    assert m.impact_at is not None and m.time_to_impact == pytest.approx(m.impact_at - 10.0)
    # dense traffic: step + slack (1 % of a window) + one 10 ms gap + the 5 ms a failure placed
    # at its start may be early by (it was in flight when the fault struck)
    assert m.resolution["time_to_impact"] == pytest.approx(POLICY.step + 0.01 + 0.01 + 0.005)


def test_impact_at_injection_when_already_unhealthy() -> None:
    m = measure(steady(60, bad=((8.0, 25.0),)), injected_at=10.0, cleared_at=20.0, until=60.0)
    assert m.time_to_impact == 0.0 and m.impact_at == 10.0


def test_recovery_delayed_by_a_known_amount() -> None:
    d = 2.46
    m = measure(steady(60, bad=((12.0, 20.0 + d),)), injected_at=11.0, cleared_at=20.0, until=60.0)
    assert m.recovered
    assert within_resolution(m, "recovery_time", m.recovery_time, d)
    assert m.recovered_at == pytest.approx(20.0 + (m.recovery_time or 0.0))
    assert within_resolution(m, "outage", m.outage, 20.0 + d - 12.0)
    assert m.resolution["recovery_time"] == m.resolution["recovered_at"]
    assert m.resolution["outage"] == pytest.approx(
        m.resolution["time_to_impact"] + m.resolution["recovered_at"]
    )


def test_recovery_before_the_fault_clears_counts_from_the_clear() -> None:
    # failures stop at 15 s but the fault is only cleared (journal) at 20 s
    m = measure(steady(60, bad=((12.0, 15.0),)), injected_at=11.0, cleared_at=20.0, until=60.0)
    assert m.recovered_at == 20.0 and m.recovery_time == 0.0
    assert within_resolution(m, "outage", m.outage, 3.0)


def test_never_recovered() -> None:
    m = measure(steady(60, bad=((15.0, 60.0),)), injected_at=10.0, cleared_at=20.0, until=60.0)
    assert within_resolution(m, "time_to_impact", m.time_to_impact, 5.0)
    assert not m.recovered
    assert m.recovered_at is None and m.recovery_time is None
    # outage runs to the end of what was judged
    assert m.outage == pytest.approx(60.0 - (m.impact_at or 0.0))


def test_not_recovered_when_the_run_ends_inside_the_hold() -> None:
    # healthy again from 25 s, but the 5 s hold would need observation until 30 s
    m = measure(steady(60, bad=((15.0, 25.0),)), injected_at=10.0, cleared_at=20.0, until=28.0)
    assert not m.recovered
    m = measure(steady(60, bad=((15.0, 25.0),)), injected_at=10.0, cleared_at=20.0, until=30.5)
    assert m.recovered


def test_silence_is_an_outage() -> None:
    # no request completes at all from 15 s to 25 s (a black hole with hanging clients)
    m = measure(steady(60, silent=((15.0, 25.0),)), injected_at=15.0, cleared_at=20.0, until=60.0)
    assert m.time_to_impact is not None
    assert within_resolution(m, "time_to_impact", m.time_to_impact, 0.0)
    assert within_resolution(m, "recovery_time", m.recovery_time, 5.0)
    assert within_resolution(m, "outage", m.outage, 10.0)
    # the silence itself widens the resolution: edges are only known to within the gap
    assert m.resolution["time_to_impact"] > 1.0
    assert m.requests_during_fault == 0 and m.error_rate_during_fault is None  # nothing to rate


def test_a_second_dip_inside_the_hold_pushes_recovery_past_it() -> None:
    dips = ((15.0, 25.0), (27.0, 28.0))  # healthy again at 25 s, a dip 2 s later, inside the 5 s hold
    m = measure(steady(60, bad=dips), injected_at=15.0, cleared_at=20.0, until=60.0)
    assert within_resolution(m, "recovered_at", m.recovered_at, 28.0)
    assert within_resolution(m, "outage", m.outage, 11.0)  # both dips, not the healthy 2 s between
    late = ((15.0, 25.0), (31.0, 32.0))  # a dip after the hold is a new incident, not this one
    m = measure(steady(60, bad=late), injected_at=15.0, cleared_at=20.0, until=60.0)
    assert within_resolution(m, "recovered_at", m.recovered_at, 25.0)


def test_latency_bound_violation_is_an_impact() -> None:
    policy = HealthPolicy(p95_latency=0.1)
    samples = steady(60, slow=((14.0, 25.0),))
    m = measure(samples, injected_at=13.0, cleared_at=22.0, until=60.0, policy=policy)
    assert within_resolution(m, "time_to_impact", m.time_to_impact, 1.0)
    assert within_resolution(m, "recovery_time", m.recovery_time, 3.0)
    assert m.error_rate_during_fault == 0.0  # slow is not failed
    relaxed = measure(samples, injected_at=13.0, cleared_at=22.0, until=60.0, policy=HealthPolicy())
    assert relaxed.time_to_impact is None


def test_impact_until_keeps_a_later_incident_off_this_fault() -> None:
    samples = steady(60, bad=((30.0, 35.0),))
    m = measure(samples, injected_at=10.0, cleared_at=20.0, until=60.0, impact_until=25.0)
    assert m.time_to_impact is None and m.recovery_time == 0.0 and m.outage == 0.0
    m = measure(samples, injected_at=10.0, cleared_at=20.0, until=60.0)
    assert within_resolution(m, "time_to_impact", m.time_to_impact, 20.0)


def test_hold_equal_to_window_needs_a_whole_window_inside_it() -> None:
    # cleared at 20.05, between window starts: [20.05, 21.05] holds no window, which must not
    # count as "every window in it is healthy"
    policy = HealthPolicy(hold=1.0)
    m = measure(
        steady(60, bad=((15.0, 30.0),)), injected_at=10.0, cleared_at=20.05, until=60.0, policy=policy
    )
    assert within_resolution(m, "recovered_at", m.recovered_at, 30.0)


def test_an_impact_that_waits_past_the_hold_is_still_recovered_from() -> None:
    # cleared at 12 s, but the effect shows only at 20 s (a cache expiring): read literally,
    # "earliest t >= cleared_at with a healthy hold" would be 12 s, before the impact
    m = measure(steady(60, bad=((20.0, 24.0),)), injected_at=10.0, cleared_at=12.0, until=60.0)
    assert within_resolution(m, "time_to_impact", m.time_to_impact, 10.0)
    assert within_resolution(m, "recovered_at", m.recovered_at, 24.0)
    assert within_resolution(m, "recovery_time", m.recovery_time, 12.0)
    assert within_resolution(m, "outage", m.outage, 4.0)


def test_recovered_at_candidates_are_the_clear_and_window_starts() -> None:
    tl = evaluate_health(steady(60, bad=((15.0, 25.0),)), POLICY, 0.0, 60.0)
    t = recovered_at(tl, 20.0)
    assert t is not None and t >= 20.0
    assert np.isclose(tl.starts, t).any()
    assert all(tl.healthy[(tl.starts >= t - 1e-9) & (tl.ends <= t + POLICY.hold + 1e-9)])
    assert not tl.is_healthy_at(t - 0.15)  # and it is the earliest: just before it was unhealthy


def test_error_rate() -> None:
    samples = steady(60, bad=((15.0, 20.0),))
    # completions at 10.00 .. 20.00 inclusive: 1001; failing 15.00 .. 19.99: 500
    assert error_rate(samples, 10.0, 20.0) == pytest.approx(500 / 1001)
    assert error_rate(samples, 15.0, 19.995) == 1.0
    assert error_rate(samples, 100.0, 200.0) is None
    assert error_rate(RequestSamples.empty(), 0.0, 10.0) is None
    m = measure(samples, injected_at=10.0, cleared_at=20.0, until=60.0)
    assert m.error_rate_during_fault == pytest.approx(500 / 1001)
    assert m.requests_during_fault == 1001


def test_boundary_resolution_counts_silence_around_the_boundary() -> None:
    samples = steady(60, silent=((30.0, 30.7),))
    # step 0.1 + slack 0.01 (1 % of a 1 s window may fail) + the largest gap
    assert boundary_resolution(samples, POLICY, 10.0) == pytest.approx(0.11 + 0.01)
    assert boundary_resolution(samples, POLICY, 30.2) == pytest.approx(0.11 + 0.71)
    assert boundary_resolution(RequestSamples.empty(), POLICY, 10.0) == pytest.approx(0.11 + 2.0)
    loose = HealthPolicy(success_rate=0.8)  # a window may be 20 % bad: edges move by up to 0.2 s
    assert boundary_resolution(samples, loose, 10.0) == pytest.approx(0.1 + 0.2 + 0.01)


def test_to_dict_is_plain_json() -> None:
    m = measure(steady(60, bad=((12.0, 22.0),)), injected_at=11.0, cleared_at=20.0, until=60.0)
    data = m.to_dict()
    assert json.loads(json.dumps(data)) == data
    resolution = data["resolution"]
    assert isinstance(resolution, dict) and set(resolution) == set(RESOLUTION_KEYS)
    assert data["recovered"] is True


@pytest.mark.parametrize(
    ("injected_at", "cleared_at", "until", "message"),
    [
        (20.0, 10.0, 60.0, "injected_at <= cleared_at"),
        (10.0, 70.0, 60.0, "cleared_at <= observe_to"),
        (0.5, 0.6, 0.9, "shorter than one window"),
    ],
)
def test_bad_fault_times_are_refused(
    injected_at: float, cleared_at: float, until: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        measure(steady(60), injected_at=injected_at, cleared_at=cleared_at, until=until)


# --- properties over random faults ------------------------------------------------------------


@st.composite
def sharp_faults(draw: st.DrawFn) -> tuple[RequestSamples, HealthTimeline, dict[str, float]]:
    """A fault injected at I and cleared at C; the system breaks at F >= I and heals at R >= C.

    Broken means failing, silent, or slow beyond the p95 (and maybe p99) bound, sharply.
    """
    kind = draw(st.sampled_from(["errors", "silence", "slow"]))
    window = draw(st.sampled_from([0.5, 1.0, 2.0]))
    policy = HealthPolicy(
        window=window,
        step=window * draw(st.sampled_from([0.05, 0.1, 0.25])),
        success_rate=draw(st.sampled_from([0.9, 0.99, 0.999])),
        p95_latency=0.1 if kind == "slow" else None,
        p99_latency=draw(st.sampled_from([None, 0.1])) if kind == "slow" else None,
        hold=max(window, draw(st.sampled_from([1.0, 5.0]))),
    )
    rate = draw(st.floats(50.0, 500.0))
    injected = draw(st.floats(3.0, 15.0))
    impact_delay = draw(st.floats(0.0, 3.0))
    fault_length = draw(st.floats(0.0, 15.0))
    recovery_delay = draw(st.floats(0.0, 8.0))
    phase = draw(st.floats(0.0, 1.0)) / rate
    jitter = draw(st.sampled_from([0.0, 0.5, 0.9]))
    seed = draw(st.integers(0, 2**32 - 1))
    broke, cleared = injected + impact_delay, injected + fault_length
    healed = cleared + recovery_delay
    # long enough to be seen: a silence shorter than two windows is bridged by healthy windows
    assume(healed - broke >= (3.0 if kind == "silence" else 0.5) * window)
    until = healed + policy.hold + 3.0
    stretch = {kind: ((broke, healed),)}
    samples = steady(
        until,
        rate,
        bad=stretch.get("errors", ()),
        silent=stretch.get("silence", ()),
        slow=stretch.get("slow", ()),
        phase=phase,
        jitter=jitter,
        seed=seed,
    )
    timeline = evaluate_health(samples, policy, 0.0, until)
    truth = {"injected": injected, "cleared": cleared, "broke": broke, "healed": healed}
    return samples, timeline, truth


@settings(deadline=None, max_examples=120)
@given(sharp_faults())
def test_measured_within_reported_resolution(
    fault: tuple[RequestSamples, HealthTimeline, dict[str, float]],
) -> None:
    samples, timeline, truth = fault
    m = measure_fault(timeline, samples, truth["injected"], truth["cleared"])
    assert m.recovered
    assert within_resolution(m, "time_to_impact", m.time_to_impact, truth["broke"] - truth["injected"])
    assert within_resolution(m, "recovery_time", m.recovery_time, truth["healed"] - truth["cleared"])
    assert within_resolution(m, "outage", m.outage, truth["healed"] - truth["broke"])
    assert m.recovery_time is not None and m.recovery_time >= 0.0
    assert m.recovered_at is not None
    assert 0.0 <= m.outage <= m.recovered_at - m.injected_at + 1e-9
    assert all(v > 0 for v in m.resolution.values())


@settings(deadline=None, max_examples=60)
@given(sharp_faults())
def test_recovered_at_is_the_earliest_candidate_that_holds(
    fault: tuple[RequestSamples, HealthTimeline, dict[str, float]],
) -> None:
    samples, timeline, truth = fault
    m = measure_fault(timeline, samples, truth["injected"], truth["cleared"])
    assert m.recovered_at is not None
    starts, ends, hold = timeline.starts, timeline.ends, timeline.policy.hold

    def holds(t: float) -> bool:
        """The definition, spelled out: every window inside [t, t + hold] is healthy."""
        inside = (starts >= t - 1e-9) & (ends <= t + hold + 1e-9)
        return bool(inside.any() and timeline.healthy[inside].all() and t + hold <= timeline.observe_to)

    assert holds(m.recovered_at)
    assert m.impact_at is not None  # the strategy always breaks the system
    # the search starts at the clear, or at the impact if that came later (a recovery cannot
    # precede the impact it recovers from)
    begin = max(m.cleared_at, m.impact_at)
    assert m.recovered_at >= begin
    earlier = [begin, *starts[(starts >= begin) & (starts < m.recovered_at - 1e-9)]]
    if m.recovered_at > begin:
        assert not any(holds(float(t)) for t in earlier)
