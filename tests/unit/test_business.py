"""Business recovery maths on synthetic work logs whose right answer is known exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.business import (
    WorkItem,
    WorkLog,
    backlog_recovered_at,
    cycle_stats,
    measure_business,
)


def steady(start: float, end: float, every: float, takes: float) -> list[WorkItem]:
    """One item accepted every ``every`` s, each finished ``takes`` s later."""
    n = round((end - start) / every)
    return [WorkItem(f"k{start}-{i}", start + i * every, start + i * every + takes) for i in range(n)]


def test_backlog_is_accepted_minus_finished_at_each_instant() -> None:
    log = WorkLog(
        [WorkItem("a", 1.0, 3.0), WorkItem("b", 2.0, 2.5), WorkItem("c", 2.0, None), WorkItem("d", 4.0, 5.0)]
    )
    got = log.backlog(np.array([0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 9.0]))
    # finished at t counts as done at t; accepted at t counts as accepted at t
    assert got.tolist() == [0, 1, 3, 2, 1, 2, 1, 1]
    assert log.max_backlog(0.0, 10.0) == 3
    assert log.unfinished_at(9.0) == 1


def test_cycle_time_percentiles_of_items_finished_in_the_window() -> None:
    items = [WorkItem(str(i), 0.0, float(i)) for i in range(1, 21)]  # cycle times 1..20
    log = WorkLog(items)
    s = cycle_stats(log, 0.0, 21.0)
    assert (s.finished, s.p50, s.p95) == (20, 10.0, 19.0)
    s = cycle_stats(log, 5.0, 10.0)  # finished in [5, 10): 5, 6, 7, 8, 9
    assert (s.finished, s.p50, s.p95) == (5, 7.0, 9.0)
    assert cycle_stats(log, 30.0, 40.0).p95 is None


def payments_down(drain_per_s: int, drains: bool = True) -> list[WorkItem]:
    """Baseline: 8 items/s, each done in 0.25 s (exactly 2 in flight at any instant). Fault
    [10, 18): the 64 items accepted then are held; after 18 s they finish one every
    ``1/drain_per_s`` s (or never), while new work goes on as before. Binary fractions: exact."""
    out: list[WorkItem] = []
    held = 0
    for item in steady(0.0, 30.0, 0.125, 0.25):
        if 10.0 <= item.accepted_at < 18.0:
            held += 1
            finish = 18.0 + held / drain_per_s if drains else None
            out.append(WorkItem(item.key, item.accepted_at, finish, attempts=3))
        else:
            out.append(item)
    assert held == 64
    return out


def test_backlog_recovery_is_measured_from_the_clear_until_back_in_range_for_hold() -> None:
    log = WorkLog(payments_down(drain_per_s=16))
    m = measure_business(log, baseline_from=0.0, injected_at=10.0, cleared_at=18.0, hold=3.0, observe_to=31.0)
    assert m.baseline_backlog == 2
    assert m.left_range_at == 10.25  # 3 held items, the normal ones before them all done
    assert m.backlog_at_clear == 64 + 1  # the item accepted at 18.0 is normal work
    assert m.max_backlog == 65
    # back within [0, 2] only when the last held item finishes: 18 + 64/16 = 22
    assert m.backlog_recovered_at == 22.0
    assert m.backlog_recovery_time == 4.0
    assert m.resolution == 0.0625  # the stamp before 22.0 is 18 + 63/16
    assert m.retries == 64 * 2
    assert m.stuck_ratio == 0.0
    assert m.cycle_before.p95 == 0.25
    assert m.cycle_during.finished == 2  # accepted before the fault, finished just after it began
    # after: 96 normal items (0.25 s) and the 64 held ones (8 + 1/16 - n/16 s); p95 is the 152nd
    assert m.cycle_after.finished == 160
    assert m.cycle_after.p95 == 8 + 1 / 16 - 8 / 16
    assert m.cycle_time_p95 == m.cycle_after.p95


def test_a_backlog_that_never_drains_is_not_recovered_and_counts_as_stuck() -> None:
    log = WorkLog(payments_down(drain_per_s=16, drains=False))
    m = measure_business(log, baseline_from=0.0, injected_at=10.0, cleared_at=18.0, hold=3.0, observe_to=31.0)
    assert not m.backlog_recovered
    assert m.backlog_recovery_time is None
    assert m.unfinished_at_end == 64
    assert m.stuck_ratio == 64 / 240
    assert m.max_backlog == 64 + 2


def test_a_fault_the_work_never_felt_recovers_at_the_clear() -> None:
    log = WorkLog(steady(0.0, 30.0, 0.1, 0.25))
    m = measure_business(log, baseline_from=0.0, injected_at=10.0, cleared_at=18.0, hold=3.0, observe_to=30.0)
    assert m.left_range_at is None
    assert m.backlog_recovery_time == 0.0
    assert m.max_backlog <= m.baseline_backlog


def test_a_later_surge_is_not_charged_to_a_fault_whose_backlog_held_after_its_clear() -> None:
    """A fault the work never felt (in range at its clear and for hold after it) recovers at the
    clear, even when a later fault (here: work held from 25 s on) pushes the backlog out of range
    before the end of the observation. Before the fix the search started at that later departure
    and charged this fault ~10 s."""
    normal = steady(0.0, 40.0, 0.125, 0.25)
    held = [i for i in normal if 25.0 <= i.accepted_at < 30.0]
    items = [i for i in normal if i not in held]
    items += [WorkItem(i.key, i.accepted_at, 30.0 + n / 16) for n, i in enumerate(held, 1)]
    log = WorkLog(items)
    m = measure_business(log, baseline_from=0.0, injected_at=10.0, cleared_at=18.0, hold=3.0, observe_to=40.0)
    assert m.backlog_recovery_time == 0.0
    assert m.backlog_recovered_at == 18.0
    assert m.left_range_at is None  # the surge at 25 s belongs to the later fault
    assert m.max_backlog <= m.baseline_backlog


def test_the_after_window_and_the_departure_end_at_the_next_fault() -> None:
    """A newcomer's `down` (cleared at 17 s) showed a p95 cycle time "after" of 2.1 s that came from
    the worker crash injected at 22 s: the after window ran to the end of the run. It ends at the
    next fault's injection, as the search for the backlog leaving its range does."""
    normal = steady(0.0, 40.0, 0.125, 0.25)
    held = [i for i in normal if 25.0 <= i.accepted_at < 30.0]  # the later fault's doing
    items = [i for i in normal if i not in held]
    items += [WorkItem(i.key, i.accepted_at, 30.0 + n / 16) for n, i in enumerate(held, 1)]
    log = WorkLog(items)
    args = {"baseline_from": 0.0, "injected_at": 10.0, "cleared_at": 18.0, "hold": 30.0, "observe_to": 40.0}
    alone = measure_business(log, **args)
    assert alone.cycle_after.p95 is not None and alone.cycle_after.p95 > 1.0  # the later stall in it
    bounded = measure_business(log, **args, next_injection=22.0)
    assert bounded.cycle_after.end == 22.0 and bounded.cycle_after.p95 == 0.25
    assert bounded.left_range_at is None  # left its range only after the next fault was injected


def test_recovery_needs_the_whole_hold_inside_the_observation() -> None:
    log = WorkLog(payments_down(drain_per_s=16))
    # observation ends 1 s after the backlog is back in range: hold 3 s cannot be seen
    m = measure_business(log, baseline_from=0.0, injected_at=10.0, cleared_at=18.0, hold=3.0, observe_to=24.0)
    assert m.backlog_recovered_at is None


def test_a_relapse_inside_hold_restarts_the_search() -> None:
    # baseline: nothing in flight; back to 0 at 5, up again at 6 (within hold 2), 0 again at 7
    items = [WorkItem("a", 1.0, 5.0), WorkItem("b", 6.0, 7.0)]
    log = WorkLog(items)
    assert backlog_recovered_at(log, 2.0, upper=0, hold=2.0, observe_to=20.0) == 7.0
    assert backlog_recovered_at(log, 2.0, upper=1, hold=2.0, observe_to=20.0) == 2.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 50), st.one_of(st.none(), st.floats(0, 20))),
        min_size=1,
        max_size=40,
    ),
    st.floats(0, 60),
)
def test_backlog_matches_a_direct_count(pairs: list[tuple[float, float | None]], t: float) -> None:
    items = [WorkItem(str(n), a, None if d is None else a + d) for n, (a, d) in enumerate(pairs)]
    direct = sum(1 for i in items if i.accepted_at <= t and (i.finished_at is None or i.finished_at > t))
    assert int(WorkLog(items).backlog(t)[0]) == direct


def _every_stamp_oracle(
    log: WorkLog, cleared_at: float, upper: int, hold: float, observe_to: float, final: bool
) -> float | None:
    """backlog_recovered_at as first written: every stamp a candidate, every stamp checked."""
    stamps = np.unique(np.concatenate((log.accepted, log.finished)))
    later = stamps[(stamps > cleared_at) & (stamps <= observe_to)]
    for t in [cleared_at, *later.tolist()]:
        if not final and t + hold > observe_to:
            continue
        inside = stamps[(stamps > t) & (stamps <= t + hold)]
        if int(log.backlog(np.concatenate(([t], inside))).max()) <= upper:
            return float(t)
    return None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40).map(lambda x: x / 4),  # on a grid: acceptances and finishes coincide
            st.one_of(st.none(), st.integers(0, 24).map(lambda x: x / 4)),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 40).map(lambda x: x / 4),
    st.integers(0, 4),
    st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    st.booleans(),
)
def test_recovery_and_peak_read_only_the_stamps_that_can_decide_them(
    pairs: list[tuple[float, float | None]], cleared: float, upper: int, hold: float, final: bool
) -> None:
    """Candidates only at the clear and at finishes, peaks only at acceptances: the same answers as
    trying every stamp (the version that held every stamp of the log for it)."""
    items = [WorkItem(str(n), a, None if d is None else a + d) for n, (a, d) in enumerate(pairs)]
    log = WorkLog(items)
    observe_to = 12.0
    got = backlog_recovered_at(log, cleared, upper, hold, observe_to, final=final)
    assert got == _every_stamp_oracle(log, cleared, upper, hold, observe_to, final)
    stamps = np.unique(np.concatenate(([cleared], log.accepted, log.finished)))
    inside = stamps[(stamps >= cleared) & (stamps <= observe_to)]
    assert log.max_backlog(cleared, observe_to) == int(log.backlog(inside).max())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40).map(lambda x: x / 4),
            st.one_of(st.none(), st.integers(0, 24).map(lambda x: x / 4)),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 40).map(lambda x: x / 4),
    st.integers(0, 4),
)
def test_left_range_and_resolution_read_the_two_stamp_arrays_as_their_union(
    pairs: list[tuple[float, float | None]], injected: float, upper: int
) -> None:
    """When the backlog left its range and the resolution: the first stamp of each kind, never an
    array of every stamp - the same answers as the union of stamps gave."""
    from harness.measure.business import _left_and_recovered, _resolution

    items = [WorkItem(str(n), a, None if d is None else a + d) for n, (a, d) in enumerate(pairs)]
    log = WorkLog(items)
    left, recovered = _left_and_recovered(log, upper, injected, injected + 1.0, 1.0, 12.0, None)
    stamps = np.unique(np.concatenate((log.accepted, log.finished)))
    end = 12.0 if recovered is None else recovered
    after = stamps[(stamps >= injected) & (stamps <= end)]
    over = after[log.backlog(after) > upper] if after.size else after
    assert left == (float(over[0]) if over.size else None)
    before = stamps[stamps < injected]
    assert _resolution(log, injected, 0.1) == max(0.1, float(injected - before[-1]) if before.size else 0.0)


def test_work_items_come_from_audit_effects_on_the_run_clock() -> None:
    t0 = 1_000_000_000_000
    doc = {"key": "k", "accepted_ns": t0 + 2_500_000_000, "finished_ns": t0 + 4_000_000_000, "attempts": 2}
    item = WorkItem.from_effect(doc, t0)
    assert item == WorkItem("k", 2.5, 4.0, 2)
    assert WorkItem.from_effect({"key": "k"}, t0) is None
    assert WorkItem.from_effect({"key": "k", "accepted_ns": t0}, t0) == WorkItem("k", 0.0, None, 1)


def test_a_backlog_drained_for_good_after_the_load_stopped_needs_no_hold_past_the_end() -> None:
    # new work stops at 20 s (in flight: none after 20.125 s); the held work finishes one every
    # 1/16 s until 22 s; the audit is read at 22.5 s. Back within [0, 2] when 2 held items are left.
    items = [i for i in payments_down(drain_per_s=16) if i.accepted_at < 20.0]
    log = WorkLog(items)
    kw = dict(baseline_from=0.0, injected_at=10.0, cleared_at=18.0, hold=3.0, observe_to=22.5)
    assert measure_business(log, **kw).backlog_recovered_at is None  # type: ignore[arg-type]
    drained = measure_business(log, load_stopped_at=20.0, **kw)  # type: ignore[arg-type]
    assert drained.backlog_recovered_at == 18.0 + 62 / 16
    # not drained (work still unfinished at the end): the hold is required as before
    stuck = WorkLog([*items, WorkItem("late", 19.0, None)])
    assert measure_business(stuck, load_stopped_at=20.0, **kw).backlog_recovered_at is None  # type: ignore[arg-type]
