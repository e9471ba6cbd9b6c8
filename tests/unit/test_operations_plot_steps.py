"""The operations figure's backlog series: exact for small runs, bounded for large ones, and never
hiding a spike or a dip (the exact highest and lowest backlog of every bin is drawn)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.business import WorkItem, WorkLog
from harness.report.operations_plot import backlog_steps


def _exact_extremes(log: WorkLog, lo: float, hi: float) -> tuple[float, float]:
    """Highest and lowest backlog over ``[lo, hi)``: at ``lo`` and right at each stamp inside."""
    pts = np.concatenate(([lo], log.stamps[(log.stamps >= lo) & (log.stamps < hi)]))
    values = log.backlog(pts)
    return float(values.max()), float(values.min())


def test_small_run_is_drawn_step_by_step() -> None:
    log = WorkLog([WorkItem("a", 1.0, 3.0), WorkItem("b", 2.0, 2.5), WorkItem("c", 2.0, None)])
    xs, ys = backlog_steps(log, 0.0, 4.0)
    assert xs.tolist() == [0.0, 1.0, 2.0, 2.5, 3.0, 4.0]
    assert ys.tolist() == [0.0, 1.0, 3.0, 2.0, 1.0]


def test_a_one_item_spike_among_a_million_stamps_survives() -> None:
    """A steady backlog of 1 with one burst of 50 items lasting 1 ms: picking every n-th stamp
    drops the burst; the series keeps it in its bin."""
    n = 200_000
    accepted = np.arange(n, dtype=np.float64) * 1e-3
    finished = accepted + 0.5e-3
    burst = np.full(50, 100.0002)
    log = WorkLog.from_arrays(
        np.concatenate((accepted, burst)),
        np.concatenate((finished, burst + 0.0005)),
        np.ones(n + 50, dtype=np.int64),
    )
    xs, ys = backlog_steps(log, 0.0, 200.0, max_steps=2000)
    assert ys.size <= 2000 and xs.size == ys.size + 1
    assert ys.max() == log.max_backlog(0.0, 200.0) == 51
    naive = log.backlog(log.stamps[:: log.stamps.size // 2000])
    assert naive.max() < 51  # what a decimation would have drawn


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.one_of(st.none(), st.floats(0, 5))),
        min_size=1,
        max_size=300,
    ),
    st.integers(2, 40),
)
def test_every_bin_holds_its_exact_highest_and_lowest_backlog(
    pairs: list[tuple[float, float | None]], max_steps: int
) -> None:
    log = WorkLog([WorkItem(str(i), a, None if d is None else a + d) for i, (a, d) in enumerate(pairs)])
    xs, ys = backlog_steps(log, 0.0, 110.0, max_steps=max_steps)
    assert ys.size <= max(max_steps, log.stamps.size + 1)
    if log.stamps.size <= max_steps:
        return
    for b in range(ys.size // 2):
        lo, hi = xs[2 * b], xs[2 * b + 2]
        high, low = _exact_extremes(log, lo, hi)
        assert max(ys[2 * b], ys[2 * b + 1]) == high
        assert min(ys[2 * b], ys[2 * b + 1]) == low


def test_a_long_log_drawn_a_run_of_bins_at_a_time_gives_the_very_same_series() -> None:
    """The bins are worked out a few stamps at a time (memory); the series must not change."""
    import pytest

    from harness.report import operations_plot

    rng = np.random.default_rng(7)
    accepted = rng.uniform(0, 100, 5000)
    finished = np.where(rng.random(5000) < 0.9, accepted + rng.exponential(2.0, 5000), np.nan)
    log = WorkLog.from_arrays(accepted, finished, np.ones(5000, dtype=np.int64))
    whole = backlog_steps(log, 0.0, 110.0, max_steps=300)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(operations_plot, "STAMPS_AT_ONCE", 7)
        in_runs = backlog_steps(log, 0.0, 110.0, max_steps=300)
    assert whole[0].tolist() == in_runs[0].tolist()
    assert whole[1].tolist() == in_runs[1].tolist()
