"""Every trial of a run on one small-multiples figure: the trials side by side, on shared axes.

One column per trial, two rows (share of requests failing, p95 response time), time counted from
the trial's first fault so the columns line up. A reader compares trials at a glance instead of
scrolling through one tall timeline per trial (those stay in the page, folded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.report.plots import (
    _FAULT_FACE,
    _FAULT_HATCH,
    _INK,
    _margins,
    _new_figure,
    _seconds_formatter,
    _suptitle,
    bin_samples,
    choose_bin_width,
    figure_png,
)
from harness.report.words import seconds_text
from harness.results import Slo, TrialResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from harness.measure.trial_analysis import TrialAnalysis

#: At most this many columns per row of trials (more trials wrap onto further rows).
MAX_COLUMNS = 5


def _origin(trial: TrialResult, analysis: TrialAnalysis) -> float | None:
    if trial.faults:
        return trial.faults[0].injected_at
    return analysis.observe_from


def trials_figure(
    trials: Sequence[TrialResult], analyses: Sequence[TrialAnalysis], slo: Slo
) -> Figure | None:
    """The small-multiples figure, or None when fewer than two trials have load to draw."""
    drawn = _drawable(trials, analyses)
    if len(drawn) < 2:
        return None
    cols = min(len(drawn), MAX_COLUMNS)
    rows = -(-len(drawn) // cols)
    fig = _new_figure(12, 3.6 * rows)
    grid = fig.subplots(2 * rows, cols, sharex=True, sharey="row", squeeze=False)
    _suptitle(
        fig,
        "Every trial on shared axes: time since the trial's first fault was injected",
    )
    top = 0.0
    for k, (trial, a) in enumerate(drawn):
        ax_err, ax_lat = grid[2 * (k // cols)][k % cols], grid[2 * (k // cols) + 1][k % cols]
        top = max(top, _draw_trial(ax_err, ax_lat, trial, a, slo))
        if k % cols == 0:
            ax_err.set_ylabel("% failing", fontsize=9)
            ax_lat.set_ylabel("p95 response", fontsize=9)
    for r in range(rows):
        grid[2 * r + 1][0].set_ylim(0, max(top * 1.15, 0.001))  # the row shares it
    for k in range(len(drawn), rows * cols):  # empty cells of the last row
        grid[2 * (k // cols)][k % cols].set_visible(False)
        grid[2 * (k // cols) + 1][k % cols].set_visible(False)
    # a trial row's panels touch but for tick room; between trial rows: an x label and a title
    _margins(
        fig,
        left=0.65,
        right=0.15,
        top=0.52,
        bottom=0.48,
        rows=2 * rows,
        row_gap=0.14,
        cols=cols,
        col_gap=0.15,
    )
    if rows > 1:
        _stack_rows(fig, grid, rows, top=0.52, bottom=0.48, pair_gap=0.14, row_gap=0.75)
    return fig


def _stack_rows(
    fig: Figure, grid: Any, rows: int, *, top: float, bottom: float, pair_gap: float, row_gap: float
) -> None:
    """Heights for several trial rows: each row's two panels close, the rows apart (inches)."""
    h = fig.get_size_inches()[1]
    panel = (h - top - bottom - rows * pair_gap - (rows - 1) * row_gap) / (2 * rows)
    for r in range(rows):
        upper_top = top + r * (2 * panel + pair_gap + row_gap)
        for k, y_top in ((0, upper_top), (1, upper_top + panel + pair_gap)):
            for ax in grid[2 * r + k]:
                box = ax.get_position()
                ax.set_position([box.x0, 1 - (y_top + panel) / h, box.width, panel / h])


def _drawable(
    trials: Sequence[TrialResult], analyses: Sequence[TrialAnalysis]
) -> list[tuple[TrialResult, TrialAnalysis]]:
    """The trials with an observed load and at least one request, with their analyses."""
    by_trial = {a.trial: a for a in analyses}
    return [
        (t, by_trial[t.trial])
        for t in trials
        if t.trial in by_trial
        and by_trial[t.trial].observe_from is not None
        and by_trial[t.trial].observe_to is not None
        and len(by_trial[t.trial].samples)
    ]


def _draw_trial(ax_err: Axes, ax_lat: Axes, trial: TrialResult, a: TrialAnalysis, slo: Slo) -> float:
    """One trial's column: share failing above, p95 below, faults hatched, recoveries marked.
    Returns the column's highest p95 (the row shares its scale)."""
    from matplotlib.ticker import FuncFormatter

    origin = _origin(trial, a) or 0.0
    t_from, t_to = float(a.observe_from or 0.0), float(a.observe_to or 0.0)
    width = choose_bin_width(t_to - t_from, len(a.samples), slo.window)
    s = bin_samples(a.samples, t_from, t_to, width)
    edges = s.edges - origin
    ax_err.stairs(s.error_share * 100, edges, baseline=None, color=_INK, linewidth=1.4, zorder=3)
    ax_lat.stairs(s.p95, edges, baseline=None, color=_INK, linewidth=1.4, linestyle="--", zorder=3)
    for f in trial.faults:
        end = f.cleared_at if f.cleared_at is not None else t_to
        for ax in (ax_err, ax_lat):
            ax.axvspan(
                f.injected_at - origin,
                end - origin,
                facecolor=_FAULT_FACE,
                hatch=_FAULT_HATCH,
                edgecolor="#c77700",
                linewidth=0,
                zorder=0,
            )
            if f.recovered_at is not None:
                ax.axvline(f.recovered_at - origin, color=_INK, linewidth=1.3, zorder=2)
    ax_err.set_title(_title(trial), fontsize=9.5)
    ax_err.set_ylim(-3, 103)
    ax_lat.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _seconds_formatter(v)))
    ax_lat.set_xlabel("seconds since the fault", fontsize=8.5)
    for ax in (ax_err, ax_lat):
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.tick_params(labelsize=8)
    return float(np.nanmax(s.p95, initial=0.0))


def _title(trial: TrialResult) -> str:
    """``trial 2: recovered in 1.5 s`` (or NOT recovered)."""
    rt = [f.recovery_time for f in trial.faults]
    title = f"trial {trial.trial}"
    if rt and all(r is not None for r in rt):
        title += ": recovered in " + ", ".join(
            seconds_text(f.recovery_time, f.resolution.recovery_time) for f in trial.faults
        )
    elif rt:
        title += ": NOT recovered"
    return title


def trials_png(trials: Sequence[TrialResult], analyses: Sequence[TrialAnalysis], slo: Slo) -> bytes | None:
    """:func:`trials_figure` as PNG bytes."""
    fig = trials_figure(trials, analyses, slo)
    return None if fig is None else figure_png(fig)
