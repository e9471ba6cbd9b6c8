"""The remote worker's clock offset estimator, on synthetic round trips whose truth is known."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.clock_sync import (
    OffsetEstimator,
    RoundTrip,
    WorkerClock,
    clock_uncertainty,
    read_clocks,
    shift_row,
    widen_resolution,
)


def trip(t0: int, theta: int, d1: int, d2: int, turn: int = 50_000) -> RoundTrip:
    """A ping sent at harness instant ``t0`` to a worker whose clock is ``theta`` ahead, with
    one-way delays ``d1`` out and ``d2`` back and ``turn`` ns spent in the worker."""
    t1 = t0 + theta + d1
    t2 = t1 + turn
    t3 = t2 - theta + d2
    return RoundTrip(t0, t1, t2, t3)


def test_one_round_trip_is_ntp_arithmetic() -> None:
    s = trip(1_000, theta=5_000_000, d1=300, d2=100)
    assert s.rtt == 400
    assert s.offset == 5_000_000 + (300 - 100) / 2
    assert s.radius == 200


def test_symmetric_delays_give_the_exact_offset() -> None:
    est = OffsetEstimator()
    est.add(trip(0, theta=-123_456_789, d1=1_000, d2=1_000))
    got = est.estimate()
    assert got is not None
    assert got.offset_ns == -123_456_789
    assert got.uncertainty_ns == 1_001  # half the round trip, plus the rounding to whole ns
    assert got.consistent


def test_nothing_before_the_first_round_trip() -> None:
    assert OffsetEstimator().estimate() is None


def test_a_round_trip_with_clocks_going_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="backwards"):
        OffsetEstimator().add(RoundTrip(t0=100, t1=50, t2=60, t3=90))


def test_the_best_samples_are_kept_and_bound_no_wider_than_the_best() -> None:
    rng = random.Random(7)
    theta = 7_000_000_000
    est = OffsetEstimator(keep=4)
    rtts = []
    for i in range(200):
        d1, d2 = rng.randint(50_000, 20_000_000), rng.randint(50_000, 20_000_000)
        est.add(trip(i * 200_000_000, theta, d1, d2))
        rtts.append(d1 + d2)
    got = est.estimate()
    assert got is not None
    assert [s.rtt for s in est.best] == sorted(rtts)[:4]
    assert got.best_rtt_ns == min(rtts)
    assert abs(got.offset_ns - theta) <= got.uncertainty_ns <= min(rtts) // 2 + 1
    assert got.samples == 200


@settings(max_examples=300, deadline=None)
@given(
    theta=st.integers(-(10**12), 10**12),
    delays=st.lists(st.tuples(st.integers(0, 10**8), st.integers(0, 10**8)), min_size=1, max_size=30),
)
def test_the_truth_is_always_within_the_stated_uncertainty(theta: int, delays: list[tuple[int, int]]) -> None:
    """Whatever the (asymmetric) delays, a constant offset is never outside the bound."""
    est = OffsetEstimator()
    for i, (d1, d2) in enumerate(delays):
        est.add(trip(i * 10**9, theta, d1, d2))
    got = est.estimate()
    assert got is not None and got.consistent
    assert abs(got.offset_ns - theta) <= got.uncertainty_ns
    assert got.uncertainty_ns <= min(d1 + d2 for d1, d2 in delays) // 2 + 1


def test_a_drifting_clock_is_flagged_and_the_bound_covers_the_whole_drift() -> None:
    """The worker's clock gains 2 ms over the run: the intervals stop intersecting, the estimate
    says so and its bound still holds every true offset the best samples saw."""
    est = OffsetEstimator(keep=8)
    truths = []
    for i in range(40):
        theta = 1_000_000 + i * 50_000  # +50 us per sample
        truths.append(theta)
        est.add(trip(i * 10**9, theta, 20_000, 20_000))
    got = est.estimate()
    assert got is not None and not got.consistent
    kept = {s.t0 // 10**9 for s in est.best}
    assert all(abs(got.offset_ns - truths[i]) <= got.uncertainty_ns for i in kept)


def test_shift_row_moves_both_stamps_and_names_the_worker() -> None:
    est = OffsetEstimator()
    est.add(trip(0, theta=5_000, d1=10, d2=10))
    got = est.estimate()
    assert got is not None
    row = ["9-1", "write", "k1", "105000", "106000", "ok", "200", "1.000", "1", "", ""]
    assert shift_row(row, got, "rhost-9") == [
        "rhost-9:9-1",
        "write",
        "k1",
        "100000",
        "101000",
        *row[5:],
    ]


def test_the_trial_states_its_largest_clock_uncertainty(tmp_path: Path) -> None:
    assert clock_uncertainty(tmp_path) == 0.0  # no remote worker: the one clock
    for name, u in (("ra-1", 200_000), ("rb-2", 3_000_000)):
        WorkerClock(name, "h", 7, u, 2 * u, 10, True, True).write(tmp_path)
    (tmp_path / "clock-broken.json").write_text("{")  # being replaced: skipped
    assert [c.worker for c in read_clocks(tmp_path)] == ["ra-1", "rb-2"]
    assert clock_uncertainty(tmp_path) == pytest.approx(0.003)


def test_the_clock_uncertainty_widens_every_resolution() -> None:
    res = {"time_to_impact": 0.1, "recovered_at": 0.2, "recovery_time": 0.2, "outage": 0.3}
    assert widen_resolution(res, 0.01) == pytest.approx(
        {"time_to_impact": 0.11, "recovered_at": 0.21, "recovery_time": 0.21, "outage": 0.32}
    )
    assert widen_resolution(res, 0.0) == res
