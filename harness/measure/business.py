"""Business recovery: when the *work* recovered, not the HTTP endpoint (DESIGN.md, binding).

An API can answer 201 at once while the orders behind it pile up unprocessed: "dashboard green,
operations stuck". These figures are read off the work items the target reports in its audit
(``accepted_ns``, ``finished_ns``, ``attempts`` on the run clock), never off the ledger.

* ``backlog(t)`` = work accepted at or before ``t`` and not finished at ``t``: a step function
  that changes only at the items' own stamps, so it is known exactly between them.
* **cycle time** of an item = ``finished - accepted``; ``cycle_time_p50``/``p95`` of a window are
  taken over the items *finished* in that window (work still open has no cycle time yet, which is
  why ``max_backlog`` and the stuck ratio stand beside it).
* The **baseline range** is ``[0, highest backlog]`` over the baseline (load start to the first
  injection): a busy system always has some work in flight, so "recovered" means "no more than
  it had in flight when all was well", not "empty".
* ``backlog_recovery_time`` = from ``cleared_at`` to the earliest ``t >= cleared_at`` such that
  ``backlog`` stays within the baseline range for all of ``[t, t + hold]`` (``t + hold`` observed);
  0 if the backlog never left the range after the clear; None ("not recovered") if no such ``t``.
* **Drained for good.** When the load has stopped and every item accepted is finished at the end of
  the observation, no new work can arrive: the backlog stays at 0. A return into range that lasts
  to the end of the observation then counts even if less than ``hold`` of it was observed (hold
  rejects a passing dip; the end of all work is not one).
* ``max_backlog`` = the highest backlog in ``[injected_at, business recovery]`` (to the end of the
  observation if not recovered); ``retries`` = attempts beyond the first of the items that were
  in the backlog during that span; ``stuck_ratio`` = share of the work accepted by the end of the
  observation that is still unfinished then.
* **Resolution.** The backlog only changes at stamps, and a stamp is taken within one database
  write of the change it records. The recovery instant is a stamp; its uncertainty is the gap back
  to the previous stamp (the backlog may have reached its new value anywhere in between, as seen
  from outside), with ``stamp_slack`` as the floor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _seconds(ns: npt.NDArray[np.int64], t0_ns: int) -> npt.NDArray[np.float64]:
    """Run-clock ns as seconds from ``t0_ns``: the difference first, in integers (absolute stamps
    would lose precision as floats), in place on ``ns`` (the caller's own copy)."""
    ns -= np.int64(t0_ns)
    return ns / 1e9


IntArray = npt.NDArray[np.int64]
STAMP_SLACK = 0.01  # seconds: a stamp is taken within one short database write of the change


@dataclass(frozen=True)
class WorkItem:
    """One unit of work as the target's audit reports it; seconds on the run clock."""

    key: str
    accepted_at: float
    finished_at: float | None
    attempts: int = 1

    @classmethod
    def from_effect(cls, doc: Mapping[str, Any], t0_ns: int) -> WorkItem | None:
        """A work item from an audit effect carrying ``accepted_ns`` (run clock, CLOCK_MONOTONIC
        ns); None for an effect that carries no work-item stamps."""
        accepted = doc.get("accepted_ns")
        if accepted is None:
            return None
        finished = doc.get("finished_ns")
        return cls(
            key=str(doc.get("key", "")),
            accepted_at=(int(accepted) - t0_ns) / 1e9,
            finished_at=None if finished is None else (int(finished) - t0_ns) / 1e9,
            attempts=int(doc.get("attempts") or 1),
        )


class WorkLog:
    """Work items as sorted arrays for fast backlog and cycle-time questions (no object per item:
    an audit can hold millions)."""

    def __init__(self, items: Iterable[WorkItem]) -> None:
        listed = list(items)
        self._init(
            np.array([i.accepted_at for i in listed], dtype=np.float64),
            np.array([np.nan if i.finished_at is None else i.finished_at for i in listed], dtype=np.float64),
            np.array([i.attempts for i in listed], dtype=np.int64),
        )

    @classmethod
    def from_arrays(cls, accepted: FloatArray, finished: FloatArray, attempts: IntArray) -> WorkLog:
        """A log from one array per field, item by item: seconds on the run clock, ``finished``
        NaN for work not finished yet."""
        log = cls.__new__(cls)
        log._init(
            np.asarray(accepted, dtype=np.float64),
            np.asarray(finished, dtype=np.float64),
            np.asarray(attempts),
        )
        return log

    @classmethod
    def from_ns(
        cls,
        accepted_ns: IntArray,
        finished_ns: IntArray,
        finished: npt.NDArray[np.bool_],
        attempts: IntArray,
        t0_ns: int,
    ) -> WorkLog:
        """A log from the audit's stamps as they come (run-clock ns, item by item; ``finished``
        False for work not finished), each array converted and sorted once, without a second copy
        of the whole log: what :meth:`from_arrays` of their seconds gives."""
        log = cls.__new__(cls)
        order = np.argsort(accepted_ns, kind="stable")  # as the seconds would sort: ns convert monotonely
        accepted = _seconds(accepted_ns[order], t0_ns)
        counts = attempts[order]
        counts[counts == 0] = 1  # a missing or zero count: one attempt
        done_in_order = finished[order]
        done_at = _seconds(finished_ns[order[done_in_order]], t0_ns)
        del order
        log._settle(accepted, counts, done_in_order, done_at)
        return log

    def _init(self, accepted: FloatArray, finished: FloatArray, attempts: IntArray) -> None:
        order = np.argsort(accepted, kind="stable")
        finished_of = finished[order]  # per item, in accepted order; NaN: not finished
        done_in_order = ~np.isnan(finished_of)
        self._settle(accepted[order], attempts[order], done_in_order, finished_of[done_in_order])

    def _settle(
        self,
        accepted: FloatArray,
        attempts: IntArray,
        done_in_order: npt.NDArray[np.bool_],
        done_at: FloatArray,
    ) -> None:
        """Keep the items sorted by acceptance (``accepted``, ``attempts``) and the finishes sorted,
        each with its item's place; ``done_at`` holds the finished items' times in accepted order."""
        self.accepted = accepted
        # a count: half the bytes of an int64 (clipped: a hostile audit's huge count stays huge)
        self.attempts = np.clip(attempts, -(2**31), 2**31 - 1).astype(np.int32)
        by_finish = np.argsort(done_at, kind="stable")
        self.finished = done_at[by_finish]  # the finishes, sorted
        place = np.flatnonzero(done_in_order)  # the finished items' places in ``accepted``
        # each finish's item: cycle times and retries from it
        self._finish_item: npt.NDArray[Any] = place.astype(np.int64 if place.size >= 2**31 else np.int32)[
            by_finish
        ]

    @property
    def stamps(self) -> FloatArray:
        """Every instant the backlog changes (an acceptance or a finish), sorted, once each; made
        on demand, not kept (two stamps an item: the largest array of the log)."""
        return np.unique(np.concatenate((self.accepted, self.finished)))

    @property
    def last_stamp(self) -> float | None:
        ends = [float(a[-1]) for a in (self.accepted, self.finished) if a.size]
        return max(ends) if ends else None

    def __len__(self) -> int:
        return int(self.accepted.size)

    def retries_in(self, start: float, end: float) -> int:
        """Attempts beyond the first of the items in the backlog at some point of ``[start, end]``:
        accepted by ``end`` and not finished before ``start``."""
        extra = np.maximum(self.attempts.astype(np.int64) - 1, 0)
        by_end = int(np.searchsorted(self.accepted, end, side="right"))
        early = self._finish_item[: int(np.searchsorted(self.finished, start, side="left"))]
        return int(extra[:by_end].sum() - extra[early[early < by_end]].sum())

    def backlog(self, t: float | FloatArray) -> FloatArray:
        """Work accepted at or before ``t`` and not finished by ``t`` (finished at ``t`` is done)."""
        at = np.atleast_1d(np.asarray(t, dtype=np.float64))
        accepted = np.searchsorted(self.accepted, at, side="right")
        finished = np.searchsorted(self.finished, at, side="right")
        return (accepted - finished).astype(np.float64)

    def max_backlog(self, start: float, end: float) -> int:
        """The highest backlog over ``[start, end]``: the value at ``start`` or at an acceptance
        (only an acceptance raises it, and the backlog holds its value from a stamp on)."""
        inside = self.accepted[(self.accepted >= start) & (self.accepted <= end)]
        points = np.concatenate(([start], inside))
        return int(self.backlog(points).max())

    def cycle_times(self, start: float, end: float) -> FloatArray:
        """Cycle times of the items finished in ``[start, end)``."""
        lo = int(np.searchsorted(self.finished, start, side="left"))
        hi = int(np.searchsorted(self.finished, end, side="left"))
        cycles: FloatArray = self.finished[lo:hi] - self.accepted[self._finish_item[lo:hi]]
        return cycles

    def unfinished_at(self, t: float) -> int:
        return int(self.backlog(t)[0])

    def accepted_by(self, t: float) -> int:
        return int(np.searchsorted(self.accepted, t, side="right"))


@dataclass(frozen=True)
class CycleStats:
    """Cycle time of the work finished in one window."""

    start: float
    end: float
    finished: int
    p50: float | None
    p95: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "finished": self.finished,
            "p50": self.p50,
            "p95": self.p95,
        }


def cycle_stats(log: WorkLog, start: float, end: float) -> CycleStats:
    values = log.cycle_times(start, end)
    if values.size == 0:
        return CycleStats(start, end, 0, None, None)
    return CycleStats(
        start,
        end,
        int(values.size),
        float(np.percentile(values, 50, method="inverted_cdf")),
        float(np.percentile(values, 95, method="inverted_cdf")),
    )


def cycle_series(log: WorkLog, start: float, end: float, window: float) -> list[CycleStats]:
    """Cycle time p50/p95 per consecutive ``window`` from ``start`` to ``end`` (for the timeline)."""
    out: list[CycleStats] = []
    t = start
    while t < end:
        out.append(cycle_stats(log, t, min(t + window, end)))
        t += window
    return out


def baseline_range(log: WorkLog, start: float, end: float) -> int:
    """The top of the baseline range: the highest backlog over ``[start, end]``."""
    if end <= start:
        return 0
    return log.max_backlog(start, end)


def backlog_recovered_at(
    log: WorkLog, cleared_at: float, upper: int, hold: float, observe_to: float, final: bool = False
) -> float | None:
    """The earliest ``t >= cleared_at`` with ``backlog <= upper`` over all of ``[t, t + hold]``.

    The backlog is a step function, right-continuous, raised only at acceptances and lowered only
    at finishes. So the candidates are ``cleared_at`` and every finish after it (from any other
    instant that qualifies, an earlier one qualifies too, down to the last finish or the clear),
    and a span's highest value is at its start or at an acceptance inside it. ``final``: the work
    is drained for good at ``observe_to`` (see the module docstring), so a candidate whose hold
    reaches past ``observe_to`` counts if the backlog stays in range up to it.
    """
    finishes = log.finished
    later = finishes[(finishes > cleared_at) & (finishes <= observe_to)]
    candidates = np.concatenate(([cleared_at], later))
    if not final:
        candidates = candidates[candidates + hold <= observe_to]
    if candidates.size == 0:
        return None
    over = log.backlog(candidates) > upper
    # acceptances that push the backlog over ``upper``, counted to find any inside (t, t + hold]
    raises = log.accepted
    bad = np.concatenate(([0], np.cumsum(log.backlog(raises) > upper, dtype=np.int64)))
    first = np.searchsorted(raises, candidates, side="right")  # acceptances after t
    last = np.searchsorted(raises, candidates + hold, side="right")  # acceptances up to t + hold
    ok = ~over & (bad[last] == bad[first])
    hits = np.flatnonzero(ok)
    return float(candidates[hits[0]]) if hits.size else None


@dataclass(frozen=True)
class BusinessMeasurement:
    """What one fault did to the work. Seconds relative to the run's start."""

    baseline_backlog: int
    backlog_at_clear: int
    max_backlog: int
    left_range_at: float | None
    backlog_recovered_at: float | None
    backlog_recovery_time: float | None
    backlog_recovered: bool
    cycle_before: CycleStats
    cycle_during: CycleStats
    cycle_after: CycleStats
    retries: int
    stuck_ratio: float | None
    unfinished_at_end: int
    resolution: float
    items: int

    @property
    def cycle_time_p95(self) -> float | None:
        """The worse p95 of "during" and "after": the figure an expectation is judged on."""
        values = [v for v in (self.cycle_during.p95, self.cycle_after.p95) if v is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_backlog": self.baseline_backlog,
            "backlog_at_clear": self.backlog_at_clear,
            "max_backlog": self.max_backlog,
            "left_range_at": self.left_range_at,
            "backlog_recovered_at": self.backlog_recovered_at,
            "backlog_recovery_time": self.backlog_recovery_time,
            "backlog_recovered": self.backlog_recovered,
            "cycle_time_p95": self.cycle_time_p95,
            "cycle_time": {
                "before": self.cycle_before.to_dict(),
                "during": self.cycle_during.to_dict(),
                "after": self.cycle_after.to_dict(),
            },
            "retries": self.retries,
            "stuck_ratio": self.stuck_ratio,
            "unfinished_at_end": self.unfinished_at_end,
            "resolution": {"backlog_recovery_time": self.resolution},
            "work_items": self.items,
        }


def _resolution(log: WorkLog, at: float, floor: float) -> float:
    """The gap from the last stamp before ``at`` (an acceptance or a finish) to ``at``."""
    last = []
    for stamps in (log.accepted, log.finished):
        i = int(np.searchsorted(stamps, at, side="left"))
        if i:
            last.append(float(stamps[i - 1]))
    gap = at - max(last) if last else 0.0
    return max(floor, gap)


def measure_business(
    log: WorkLog,
    *,
    baseline_from: float,
    injected_at: float,
    cleared_at: float,
    hold: float,
    observe_to: float,
    baseline_to: float | None = None,
    load_stopped_at: float | None = None,
    next_injection: float | None = None,
    stamp_slack: float = STAMP_SLACK,
) -> BusinessMeasurement:
    """Measure one fault's effect on the work; see the module docstring for every definition.

    ``baseline_from`` is the start of load; the baseline is ``[baseline_from, baseline_to]``
    (default ``injected_at``; pass the first fault's injection for the later faults of a trial).
    ``observe_to`` is when the work was last observed (the audit after the drain);
    ``load_stopped_at`` lets a backlog drained for good after the load count as recovered.
    ``next_injection`` (the trial's next fault) ends this fault's "after" window and its search for
    the backlog leaving its range: what the next fault does is not charged to this one.
    """
    if not baseline_from <= injected_at <= cleared_at <= observe_to:
        raise ValueError(
            "need baseline_from <= injected_at <= cleared_at <= observe_to, got "
            f"{baseline_from} <= {injected_at} <= {cleared_at} <= {observe_to}"
        )
    upper = baseline_range(log, baseline_from, injected_at if baseline_to is None else baseline_to)
    left, recovered = _left_and_recovered(
        log, upper, injected_at, cleared_at, hold, observe_to, load_stopped_at
    )
    span_end = observe_to if recovered is None else recovered
    own_end = observe_to if next_injection is None else max(cleared_at, min(observe_to, next_injection))
    if left is not None and left > own_end:
        left = None  # the backlog left its range only once the next fault was in
    accepted = log.accepted_by(observe_to)
    unfinished = log.unfinished_at(observe_to)
    return BusinessMeasurement(
        baseline_backlog=upper,
        backlog_at_clear=log.unfinished_at(cleared_at),
        max_backlog=log.max_backlog(injected_at, span_end),
        left_range_at=left,
        backlog_recovered_at=recovered,
        backlog_recovery_time=None if recovered is None else recovered - cleared_at,
        backlog_recovered=recovered is not None,
        cycle_before=cycle_stats(log, baseline_from, injected_at),
        cycle_during=cycle_stats(log, injected_at, cleared_at),
        cycle_after=cycle_stats(log, cleared_at, own_end + (1e-9 if own_end == observe_to else 0.0)),
        retries=log.retries_in(injected_at, span_end),
        stuck_ratio=None if accepted == 0 else unfinished / accepted,
        unfinished_at_end=unfinished,
        resolution=stamp_slack if recovered is None else _resolution(log, recovered, stamp_slack),
        items=len(log),
    )


def _left_and_recovered(
    log: WorkLog,
    upper: int,
    injected_at: float,
    cleared_at: float,
    hold: float,
    observe_to: float,
    load_stopped_at: float | None,
) -> tuple[float | None, float | None]:
    """When the backlog first left the baseline range within this fault's own span (None: it
    never did), and when it was back for good (None: not within the observation).

    The recovery is searched from the clear itself, as defined: a backlog that is in range at the
    clear and holds there for ``hold`` is recovered at the clear, whatever a later fault does to
    it. The fault's span ends at that recovery (or the end of the observation), so a later
    excursion is neither this fault's departure from the range nor its recovery time."""
    final = (
        load_stopped_at is not None
        and load_stopped_at <= observe_to
        and log.unfinished_at(observe_to) == 0
        and log.accepted_by(observe_to) == len(log)
    )
    recovered = backlog_recovered_at(log, cleared_at, upper, hold, observe_to, final)
    span_end = observe_to if recovered is None else recovered
    # the first stamp in [injected_at, span_end] with the backlog over its range: the first of
    # each kind's (acceptances, finishes), the earlier of the two (no array of all the stamps)
    firsts = []
    for stamps in (log.accepted, log.finished):
        lo = int(np.searchsorted(stamps, injected_at, side="left"))
        hi = int(np.searchsorted(stamps, span_end, side="right"))
        over = np.flatnonzero(log.backlog(stamps[lo:hi]) > upper)
        if over.size:
            firsts.append(float(stamps[lo + over[0]]))
    left = min(firsts) if firsts else None
    return left, recovered
