"""The operations timeline of a trial: what the *work* did, beside what HTTP did.

One figure under the trial's HTTP timeline, on the same time axis: the backlog (work accepted and
not finished) with its baseline range, the fault windows, and the measured instants: HTTP
recovered, backlog recovered (with their resolution bands), the first alert, the first symptom
page and the last resolution. The gap between the two recoveries is the point of the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.measure.business import FloatArray, IntArray, WorkLog
from harness.report.plots import _BAND_HATCH, _INK, _margins, _new_figure, _suptitle, figure_png
from harness.results import FaultResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes


Mark = tuple[float | None, float, str, str | tuple[int, tuple[int, int]]]
"""An instant drawn as a vertical line: when (None: not reached), its resolution, label, style."""


def operations_png(log: WorkLog, faults: Sequence[FaultResult], t_from: float, t_to: float) -> bytes | None:
    """PNG bytes, or None when the trial has no work items or no fault with business figures."""
    measured = [f for f in faults if f.business is not None or f.detection is not None]
    if not len(log) or not measured:
        return None
    t_to = _plot_end(log, measured, t_to)
    span = t_to - t_from
    fig = _new_figure(12, 3.6)
    ax = fig.subplots(1, 1)
    xs, ys = backlog_steps(log, t_from, t_to)
    ax.stairs(ys, xs, baseline=None, color="#1f4e79", linewidth=1.4, label="backlog (accepted, not finished)")
    top = float(ys.max(initial=1.0)) * 1.15 + 1
    for f in measured:
        cleared = f.cleared_at if f.cleared_at is not None else t_to
        ax.axvspan(f.injected_at, cleared, facecolor="none", hatch="//", edgecolor="#e65100", linewidth=0)
        if f.business is not None:
            ax.axhspan(0, f.business.baseline_backlog, facecolor="#c8e6c9", alpha=0.5, linewidth=0)
        for n, mark in enumerate(_marks(f)):
            _draw_mark(ax, n, mark, left_from=t_from + 0.85 * span, y=top * (0.95 - 0.11 * n))
        if f.business is not None and not f.business.backlog_recovered:
            ax.text(t_to, top * 0.5, "backlog NOT recovered ▶", ha="right", fontsize=9, fontweight="bold")
    ax.set_xlim(t_from, t_to + span * 0.01)
    ax.set_ylim(0, top)
    ax.set_ylabel("work in the\nbacklog", fontsize=9)
    ax.set_xlabel("seconds since the run started", fontsize=9)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=8.5, frameon=False)
    _suptitle(
        fig,
        "What the work did: backlog over time (green band: its baseline range); HTTP and business"
        " recovery, detection and resolution marked",
    )
    _margins(fig, left=0.75, right=0.15, top=0.32, bottom=0.5)
    return figure_png(fig)


MAX_STEPS = 2000
"""At most this many steps are drawn: a figure is ~1,000 pixels wide, and a step per work item of a
million-item audit costs minutes and gigabytes in matplotlib for nothing the eye can see."""


def backlog_steps(
    log: WorkLog, t_from: float, t_to: float, max_steps: int = MAX_STEPS
) -> tuple[FloatArray, FloatArray]:
    """The backlog over ``[t_from, t_to]`` as step edges and values (``len(xs) == len(ys) + 1``).

    Exact, a step per stamp, when there are at most ``max_steps`` stamps. Beyond that, the span is
    cut into ``max_steps // 2`` equal bins (narrower than a pixel) and each bin drawn as two steps:
    the exact highest and lowest backlog inside it, in the order they occur, so no spike and no dip
    is hidden (picking every n-th stamp would drop them)."""
    points = _stamps_between(log, t_from, t_to, max_steps)
    if points.size <= max_steps:
        xs = np.concatenate(([t_from], points, [t_to]))
        return xs, log.backlog(xs[:-1])
    bins = max(1, max_steps // 2)
    edges = np.linspace(t_from, t_to, bins + 1)
    inner = points[points < t_to]
    del points
    ys = np.empty(2 * bins, dtype=np.float64)
    # a run of bins at a time, so a million-item log never needs all its stamps' arrays at once
    per_pass = max(1, bins * STAMPS_AT_ONCE // max(inner.size, 1))
    for b0 in range(0, bins, per_pass):
        b1 = min(bins, b0 + per_pass)
        lo, hi = np.searchsorted(inner, [edges[b0], edges[b1]], side="left")
        if b1 == bins:
            hi = inner.size
        ys[2 * b0 : 2 * b1] = _bin_extremes(log, edges[b0 : b1 + 1], inner[lo:hi])
    xs = np.empty(2 * bins + 1, dtype=np.float64)
    xs[0:-1:2] = edges[:-1]
    xs[1:-1:2] = (edges[:-1] + edges[1:]) / 2
    xs[-1] = t_to
    return xs, ys


def _stamps_between(log: WorkLog, t_from: float, t_to: float, max_steps: int) -> FloatArray:
    """The log's stamps in ``[t_from, t_to]``, sorted; once each if there are few enough to draw
    step by step (a long log's repeats change no bin's extremes, and are not worth a unique)."""
    parts = []
    for stamps in (log.accepted, log.finished):
        lo = int(np.searchsorted(stamps, t_from, side="left"))
        hi = int(np.searchsorted(stamps, t_to, side="right"))
        parts.append(stamps[lo:hi])
    points = np.concatenate(parts)
    del parts
    points.sort()
    if points.size > 1 and int(np.count_nonzero(points[1:] != points[:-1])) + 1 <= max_steps:
        return np.unique(points)
    return points


#: Stamps handled at once when drawing a long log's backlog (the temporary arrays are a few per stamp).
STAMPS_AT_ONCE = 200_000


def _bin_extremes(log: WorkLog, edges: FloatArray, points: FloatArray) -> FloatArray:
    """Per bin ``[edges[i], edges[i + 1])`` (``points`` all inside them): its highest and lowest
    backlog, in the order they occur, as two values per bin."""
    bins = edges.size - 1
    # the backlog changes only at stamps: its values in a bin are those at the bin's start and
    # right at each stamp inside it
    at = np.concatenate((edges[:-1], points))
    which = np.concatenate((np.arange(bins), np.searchsorted(edges, points, side="right") - 1))
    which = np.minimum(which, bins - 1)
    order = np.lexsort((at, which))  # by bin, then by time (a bin's start first)
    at, which = at[order], which[order]
    del order
    values = log.backlog(at)
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    high = np.maximum.reduceat(values, starts)
    low = np.minimum.reduceat(values, starts)
    # where in its bin each extreme first occurs, to draw them in the order they happened
    ends = np.r_[starts[1:], values.size]
    first_high = _first_index(values, high, starts, ends)
    first_low = _first_index(values, low, starts, ends)
    high_first = first_high <= first_low
    ys = np.empty(2 * bins, dtype=np.float64)
    ys[0::2] = np.where(high_first, high, low)
    ys[1::2] = np.where(high_first, low, high)
    return ys


def _first_index(values: FloatArray, target: FloatArray, starts: IntArray, ends: IntArray) -> IntArray:
    """Per segment ``[starts[i], ends[i])`` of ``values``, the first offset holding ``target[i]``."""
    seg = np.repeat(np.arange(starts.size), ends - starts)
    hit = np.flatnonzero(values == target[seg])  # in order, so a segment's first hit comes first
    segs, first = np.unique(seg[hit], return_index=True)
    out = np.full(starts.size, values.size, dtype=np.int64)
    out[segs] = hit[first]
    return out


def _plot_end(log: WorkLog, measured: Sequence[FaultResult], t_to: float) -> float:
    """The observation's end, stretched to the last work item, backlog recovery or alert resolution."""
    last = log.last_stamp
    ends = [] if last is None else [last]
    for f in measured:
        if f.business is not None and f.business.backlog_recovered_at is not None:
            ends.append(f.business.backlog_recovered_at)
        if f.detection is not None and f.detection.resolved_at is not None:
            ends.append(f.detection.resolved_at)
    return max(t_to, *ends)


def _marks(f: FaultResult) -> list[Mark]:
    """A fault's instants: HTTP and backlog recovery (with resolution), then detection's."""
    marks: list[Mark] = [(f.recovered_at, f.resolution.recovered_at or 0.0, "HTTP recovered", "-")]
    if f.business is not None:
        b = f.business
        marks.append((b.backlog_recovered_at, b.resolution.backlog_recovery_time, "backlog recovered", "--"))
    if f.detection is not None:
        d = f.detection
        symptom = next((a.fired_at for a in d.alerts if a.symptom), None)
        marks += [
            (d.impact_at, 0.0, "first impact", (0, (1, 1))),
            (d.detected_at, 0.0, "first alert", "-."),
            (symptom, 0.0, "symptom page", (0, (5, 1))),
            (d.resolved_at, 0.0, "alerts resolved", (0, (3, 3))),
        ]
    return marks


def _draw_mark(ax: Axes, n: int, mark: Mark, *, left_from: float, y: float) -> None:
    """The ``n``-th mark of a fault: its resolution band, its line, its label at height ``y``
    (on the line's left from ``left_from`` on, near the right edge)."""
    at, res, label, style = mark
    if at is None:
        return
    if res > 0:
        ax.axvspan(at - res, at + res, facecolor="none", hatch=_BAND_HATCH, edgecolor="#555555", lw=0)
    ax.axvline(at, color=_INK, linestyle=style, linewidth=1.2)
    left = at > left_from
    ax.annotate(
        label,
        (at, y),
        xytext=(-4 if left else 4, 0),
        textcoords="offset points",
        ha="right" if left else "left",
        fontsize=8.5,
        va="center",
        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
    )
