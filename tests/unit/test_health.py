"""Health windows and instant health, against synthetic ledgers whose answer is known exactly."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.health import HealthPolicy, HealthTimeline, evaluate_health
from harness.measure.samples import RequestSamples


def steady(
    until: float,
    rate: float,
    bad: tuple[tuple[float, float], ...] = (),
    silent: tuple[tuple[float, float], ...] = (),
    latency: float = 0.005,
    phase: float = 0.0,
) -> RequestSamples:
    """A request completing every 1/rate s (shifted by ``phase``) up to ``until``.

    Requests fail in the ``bad`` stretches and none complete in the ``silent`` ones.
    """
    end = phase + np.arange(math.floor(until * rate + 1e-9) + 1) / rate
    end = end[(end > 0) & (end <= until)]
    ok = np.ones(end.size, dtype=bool)
    for a, b in bad:
        ok &= ~((end >= a) & (end < b))
    keep = np.ones(end.size, dtype=bool)
    for a, b in silent:
        keep &= ~((end >= a) & (end < b))
    return RequestSamples.from_arrays(end[keep] - latency, end[keep], ok[keep])


# --- policy -----------------------------------------------------------------------------------


def test_policy_defaults_follow_the_design() -> None:
    p = HealthPolicy()
    assert (p.window, p.step, p.success_rate, p.p95_latency, p.p99_latency, p.hold) == (
        1.0,
        0.1,
        0.99,
        None,
        None,
        5.0,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hold": 0.5}, "hold must be at least one window"),
        ({"step": 2.0}, "step must not exceed window"),
        ({"window": 0.0, "hold": 1.0}, "window must be a positive"),
        ({"step": -0.1}, "step must be a positive"),
        ({"success_rate": 1.5}, "success_rate"),
        ({"p95_latency": 0.0}, "p95_latency"),
        ({"p99_latency": float("nan")}, "p99_latency"),
    ],
)
def test_policy_rejects_bad_values_and_says_which(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HealthPolicy(**kwargs)


def test_edge_slack_is_the_largest_share_a_passing_window_may_hold_bad() -> None:
    assert HealthPolicy(success_rate=0.9).edge_slack == pytest.approx(0.1)
    assert HealthPolicy(window=2.0, hold=5.0, p95_latency=0.2).edge_slack == pytest.approx(0.1)
    assert HealthPolicy(success_rate=1.0, p99_latency=0.2).edge_slack == pytest.approx(0.01)


# --- grid and window statistics ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("observe_to", "expected"),
    [(3.0, [1.0, 1.5, 2.0, 2.5, 3.0]), (3.2, [1.0, 1.5, 2.0, 2.5, 3.0]), (1.0, [1.0]), (0.99, [])],
)
def test_grid_ends_every_step_from_one_window_in(observe_to: float, expected: list[float]) -> None:
    tl = evaluate_health(steady(5, 10), HealthPolicy(step=0.5), 0.0, observe_to)
    np.testing.assert_allclose(tl.ends, expected)


def test_fine_grid_reaches_observe_to_despite_float_steps() -> None:
    tl = evaluate_health(steady(20, 10), HealthPolicy(), 2.0, 12.0)
    assert tl.ends.size == 91
    assert tl.ends[0] == pytest.approx(3.0) and tl.ends[-1] == pytest.approx(12.0)


def test_window_holds_requests_completed_in_its_half_open_span() -> None:
    s = RequestSamples.from_arrays(start=[0.0, 0.0, 0.0], end=[1.0, 1.5, 2.0], ok=[True, True, True])
    tl = evaluate_health(s, HealthPolicy(step=1.0), 0.0, 3.0)  # windows (0,1], (1,2], (2,3]
    np.testing.assert_array_equal(tl.count, [1, 2, 0])


def test_window_statistics_use_linear_percentiles_of_all_completed_requests() -> None:
    latencies = np.array([0.01, 0.02, 0.03, 0.04, 0.5, 0.06, 0.07, 0.08, 0.09, 0.1])
    end = 0.05 + np.arange(10) * 0.1  # all inside (0, 1]
    ok = np.array([True] * 8 + [False, True])
    s = RequestSamples.from_arrays(end - latencies, end, ok)
    tl = evaluate_health(s, HealthPolicy(step=1.0, success_rate=0.5), 0.0, 2.0)
    assert tl.count.tolist() == [10, 0]
    assert tl.success_rate[0] == pytest.approx(0.9)
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        values = getattr(tl, name)
        assert values[0] == pytest.approx(np.percentile(latencies, q, method="linear"))
        assert math.isnan(values[1])
    assert math.isnan(tl.success_rate[1])
    assert tl.healthy.tolist() == [True, False]


def test_success_share_exactly_at_the_bound_passes_and_just_below_fails() -> None:
    # phase 5 ms keeps every completion 5 ms from any window edge: exactly 100 per window
    # (failures count at their start: 2 ms latency keeps them off the window edges too)
    at_bound = steady(3, 100, bad=((1.5, 1.51),), phase=0.005, latency=0.002)  # one failure among 100
    tl = evaluate_health(at_bound, HealthPolicy(), 0.0, 3.0)
    assert set(tl.count.tolist()) == {100}
    assert tl.healthy.all()
    below = steady(3, 100, bad=((1.5, 1.52),), phase=0.005, latency=0.002)  # two failures among 100
    tl = evaluate_health(below, HealthPolicy(), 0.0, 3.0)
    assert not tl.healthy.all()


def test_silence_is_unhealthy() -> None:
    tl = evaluate_health(steady(20, 100, silent=((8.0, 12.0),)), HealthPolicy(), 0.0, 20.0)
    quiet = tl.count == 0
    assert quiet.any()
    assert not tl.healthy[quiet].any()
    assert tl.healthy[~quiet].all()  # every window with an ok request in it passes


def test_no_requests_at_all_is_one_long_outage() -> None:
    tl = evaluate_health(RequestSamples.empty(), HealthPolicy(), 0.0, 10.0)
    assert not tl.healthy.any()
    ((a, b),) = tl.unhealthy_intervals()
    assert a == 0.0 and b == pytest.approx(10.0)
    assert not tl.is_healthy_at(5.0)


@pytest.mark.parametrize("bound", ["p95_latency", "p99_latency"])
def test_latency_bound_violations_make_windows_unhealthy(bound: str) -> None:
    # every request ok; from 10 s to 14 s every request takes 300 ms
    end = np.arange(1, 2001) / 100
    latency = np.where((end >= 10.0) & (end < 14.0), 0.3, 0.01)
    s = RequestSamples.from_arrays(end - latency, end, np.ones(end.size, dtype=bool))
    tl = evaluate_health(s, HealthPolicy(**{bound: 0.1}), 0.0, 20.0)
    (interval,) = tl.unhealthy_intervals()
    slack = HealthPolicy(**{bound: 0.1}).edge_slack
    # a request slower than the bound counts where it was sent, 300 ms before it completed
    assert interval[0] == pytest.approx(10.0 - 0.3, abs=0.1 + slack)
    assert interval[1] == pytest.approx(14.0 - 0.3, abs=0.1 + slack)
    relaxed = evaluate_health(s, HealthPolicy(**{bound: 0.5}), 0.0, 20.0)
    assert relaxed.unhealthy_intervals() == []


# --- instant health ---------------------------------------------------------------------------


def test_sharp_failure_stretch_is_located_within_a_step() -> None:
    tl = evaluate_health(steady(40, 200, bad=((12.34, 21.07),)), HealthPolicy(), 0.0, 40.0)
    (interval,) = tl.unhealthy_intervals()
    assert interval[0] == pytest.approx(12.34, abs=0.1)
    assert interval[1] == pytest.approx(21.07, abs=0.1)
    assert tl.is_healthy_at(12.0) and not tl.is_healthy_at(12.5)
    assert not tl.is_healthy_at(20.9) and tl.is_healthy_at(21.3)
    assert tl.unhealthy_time(0.0, 40.0) == pytest.approx(21.07 - 12.34, abs=0.2)
    assert tl.unhealthy_time(15.0, 16.0) == pytest.approx(1.0)


def test_first_unhealthy_instant() -> None:
    tl = evaluate_health(steady(40, 100, bad=((10.0, 12.0), (20.0, 22.0))), HealthPolicy(), 0.0, 40.0)
    first = tl.first_unhealthy(5.0, 40.0)
    assert first == pytest.approx(10.0, abs=0.1)
    assert tl.first_unhealthy(11.0, 40.0) == 11.0  # already under way
    assert tl.first_unhealthy(13.0, 40.0) == pytest.approx(20.0, abs=0.1)
    assert tl.first_unhealthy(13.0, 19.0) is None
    assert tl.first_unhealthy(30.0, 40.0) is None


def test_sliver_after_the_last_window_end_is_not_judged() -> None:
    tl = evaluate_health(steady(20, 100), HealthPolicy(step=0.3), 0.0, 9.95)
    assert tl.judged_to == pytest.approx(9.7)
    assert tl.unhealthy_intervals() == []  # (9.7, 9.95] is covered by no window: no evidence either way
    assert tl.is_healthy_at(9.7) and not tl.is_healthy_at(9.9)


def test_observe_from_itself_is_healthy_when_the_first_window_is() -> None:
    tl = evaluate_health(steady(20, 100), HealthPolicy(), 0.0, 20.0)
    assert tl.is_healthy_at(0.0)
    assert tl.unhealthy_intervals() == []


def test_observe_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="before observe_from"):
        evaluate_health(RequestSamples.empty(), HealthPolicy(), 5.0, 1.0)


@st.composite
def random_ledger(draw: st.DrawFn) -> tuple[RequestSamples, HealthPolicy]:
    n = draw(st.integers(0, 300))
    ends = draw(st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=n, max_size=n))
    oks = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    window = draw(st.sampled_from([0.5, 1.0, 2.0]))
    step = draw(st.sampled_from([0.05, 0.1, 0.25])) * window
    success_rate = draw(st.sampled_from([0.5, 0.9, 1.0]))
    policy = HealthPolicy(window=window, step=step, success_rate=success_rate, hold=window * 2)
    return RequestSamples.from_arrays(np.array(ends) - 0.01, ends, oks), policy


def covered_by_healthy_window(tl: HealthTimeline, x: float) -> bool:
    """The definition, spelled out window by window: covered by a healthy window's span and not
    inside the span of an empty one (silence overrides coverage)."""
    w = tl.policy.window
    covered = any(s - w - 1e-9 <= x <= s + 1e-9 for s in tl.ends[tl.healthy])
    silent = any(s - w + 1e-9 < x < s - 1e-9 for s in tl.ends[tl.count == 0])
    return covered and not silent


@settings(deadline=None, max_examples=150)
@given(random_ledger(), st.lists(st.floats(0.0, 20.0), min_size=1, max_size=20))
def test_instant_health_is_coverage_by_a_healthy_window(
    ledger: tuple[RequestSamples, HealthPolicy], xs: list[float]
) -> None:
    samples, policy = ledger
    tl = evaluate_health(samples, policy, 0.0, 20.0)
    intervals = tl.unhealthy_intervals()
    for (a, b), (c, _) in itertools.pairwise(intervals):
        assert a < b < c  # sorted, disjoint, merged
    assert all(0.0 <= a < b <= tl.judged_to for a, b in intervals)
    for x in xs:
        if x > tl.judged_to:
            assert not tl.is_healthy_at(x)
            continue
        if any(abs(x - e) < 1e-6 for a, b in [*intervals, *tl.silent_spans] for e in (a, b)):
            continue  # exactly on an edge: which side owns it is a matter of open/closed ends
        healthy = covered_by_healthy_window(tl, x)
        assert tl.is_healthy_at(x) == healthy
        inside = any(a < x < b for a, b in intervals)
        assert inside == (not healthy)
    covered = sum(b - a for a, b in tl.healthy_spans())
    assert covered + tl.unhealthy_time(0.0, 20.0) == pytest.approx(tl.judged_to, abs=1e-6)


@settings(deadline=None, max_examples=100)
@given(random_ledger())
def test_windows_agree_with_a_direct_count(ledger: tuple[RequestSamples, HealthPolicy]) -> None:
    samples, policy = ledger
    tl = evaluate_health(samples, policy, 0.0, 20.0)
    # a failure counts where it was sent, a success where it ended (health's placement)
    at = np.where(samples.ok, samples.end, samples.start)
    for k, s in enumerate(tl.ends):
        inside = (at > s - policy.window) & (at <= s)
        assert tl.count[k] == inside.sum()
        if inside.any():
            rate = samples.ok[inside].mean()
            assert tl.success_rate[k] == pytest.approx(rate)
            assert tl.healthy[k] == (rate >= policy.success_rate - 1e-12)
        else:
            assert not tl.healthy[k]


def test_silence_longer_than_a_window_is_unhealthy_over_its_whole_length() -> None:
    # ok traffic on both sides of a 1.5 s silence: healthy windows either side would bridge it
    tl = evaluate_health(steady(20, 100, silent=((8.0, 9.5),)), HealthPolicy(), 0.0, 20.0)
    ((a, b),) = tl.unhealthy_intervals()
    assert a == pytest.approx(8.0, abs=0.1 + 0.01)
    assert b == pytest.approx(9.5, abs=0.1 + 0.01)


def test_silence_shorter_than_a_window_is_tolerated() -> None:
    tl = evaluate_health(steady(20, 100, silent=((8.0, 8.6),)), HealthPolicy(), 0.0, 20.0)
    assert tl.unhealthy_intervals() == []
