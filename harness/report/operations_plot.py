"""The operations timeline of a trial: what the *work* did, beside what HTTP did.

One figure under the trial's HTTP timeline, on the same time axis: the backlog (work accepted and
not finished) with its baseline range, the fault windows, and the measured instants: HTTP
recovered, backlog recovered (with their resolution bands), the first alert, the first symptom
page and the last resolution. The gap between the two recoveries is the point of the figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.measure.business import WorkLog
from harness.report.plots import _BAND_HATCH, _INK, _new_figure, figure_png
from harness.results import FaultResult


def operations_png(log: WorkLog, faults: Sequence[FaultResult], t_from: float, t_to: float) -> bytes | None:
    """PNG bytes, or None when the trial has no work items or no fault with business figures."""
    measured = [f for f in faults if f.business is not None or f.detection is not None]
    if not len(log) or not measured:
        return None
    ends = [float(x) for x in log.stamps[-1:]]
    for f in measured:
        if f.business is not None and f.business.backlog_recovered_at is not None:
            ends.append(f.business.backlog_recovered_at)
        if f.detection is not None and f.detection.resolved_at is not None:
            ends.append(f.detection.resolved_at)
    t_to = max(t_to, *ends)
    span = t_to - t_from
    fig = _new_figure(12, 3.6)
    ax = fig.subplots(1, 1)
    points = log.stamps[(log.stamps >= t_from) & (log.stamps <= t_to)]
    xs = np.concatenate(([t_from], points, [t_to]))
    ys = log.backlog(xs[:-1])
    ax.stairs(ys, xs, baseline=None, color="#1f4e79", linewidth=1.4, label="backlog (accepted, not finished)")
    top = float(ys.max(initial=1.0)) * 1.15 + 1
    for f in measured:
        cleared = f.cleared_at if f.cleared_at is not None else t_to
        ax.axvspan(f.injected_at, cleared, facecolor="none", hatch="//", edgecolor="#e65100", linewidth=0)
        marks: list[tuple[float | None, float, str, str | tuple[int, tuple[int, int]]]] = [
            (f.recovered_at, f.resolution.recovered_at or 0.0, "HTTP recovered", "-"),
        ]
        if f.business is not None:
            b = f.business
            ax.axhspan(0, b.baseline_backlog, facecolor="#c8e6c9", alpha=0.5, linewidth=0)
            marks.append(
                (b.backlog_recovered_at, b.resolution.backlog_recovery_time, "backlog recovered", "--")
            )
        if f.detection is not None:
            d = f.detection
            symptom = next((a.fired_at for a in d.alerts if a.symptom), None)
            marks += [
                (d.impact_at, 0.0, "first impact", (0, (1, 1))),
                (d.detected_at, 0.0, "first alert", "-."),
                (symptom, 0.0, "symptom page", (0, (5, 1))),
                (d.resolved_at, 0.0, "alerts resolved", (0, (3, 3))),
            ]
        for n, (at, res, label, style) in enumerate(marks):
            if at is None:
                continue
            if res > 0:
                ax.axvspan(at - res, at + res, facecolor="none", hatch=_BAND_HATCH, edgecolor="#555555", lw=0)
            ax.axvline(at, color=_INK, linestyle=style, linewidth=1.2)
            left = at > t_from + 0.85 * span  # near the right edge: label on the line's left
            ax.annotate(
                label,
                (at, top * (0.95 - 0.11 * n)),
                xytext=(-4 if left else 4, 0),
                textcoords="offset points",
                ha="right" if left else "left",
                fontsize=8.5,
                va="center",
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
            )
        if f.business is not None and not f.business.backlog_recovered:
            ax.text(t_to, top * 0.5, "backlog NOT recovered ▶", ha="right", fontsize=9, fontweight="bold")
    ax.set_xlim(t_from, t_to + span * 0.01)
    ax.set_ylim(0, top)
    ax.set_ylabel("work in the\nbacklog", fontsize=9)
    ax.set_xlabel("seconds since the run started", fontsize=9)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=8.5, frameon=False)
    fig.suptitle(
        "What the work did: backlog over time (green band: its baseline range); HTTP and business"
        " recovery, detection and resolution marked",
        fontsize=11,
        x=0.01,
        ha="left",
    )
    return figure_png(fig)
