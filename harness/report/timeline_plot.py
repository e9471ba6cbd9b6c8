"""The per-trial timeline of report.html: what users saw, with every fault and instant marked.

Panels, top to bottom: a lane naming the faults and the impact / recovery instants, requests per
second, share of requests failing, response times (p50/p95/p99), and a strip showing where the
SLO judge found the service unhealthy. See :mod:`harness.report.plots` for how requests are
binned and why every series is readable without colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.report.plots import (
    _BAND_HATCH,
    _FAULT_FACE,
    _FAULT_HATCH,
    _INK,
    _LANE_PX,
    BinnedSeries,
    _legend,
    _margins,
    _new_figure,
    _seconds_formatter,
    _suptitle,
    bin_samples,
    choose_bin_width,
    figure_png,
)
from harness.report.words import resolution_text, seconds_text
from harness.results import FaultResult, RollbackResult, Slo

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from harness.measure.health import HealthTimeline
    from harness.measure.trial_analysis import TrialAnalysis


@dataclass(frozen=True)
class Lane:
    """Where instants are drawn: the lane above the plots, the panels below, the time span."""

    lane: Axes
    panels: Sequence[Axes]
    t_from: float
    t_to: float

    @property
    def span(self) -> float:
        return self.t_to - self.t_from


def timeline_png(
    analysis: TrialAnalysis,
    faults: Sequence[FaultResult],
    slo: Slo,
    rollback: RollbackResult | None = None,
) -> bytes | None:
    """The trial's timeline as PNG bytes, or None if the trial recorded no load to draw."""
    samples = analysis.samples
    t_from, t_to = analysis.observe_from, analysis.observe_to
    if t_from is None or t_to is None or t_to <= t_from:
        if not len(samples):
            return None
        t_from, t_to = float(samples.end[0]), float(samples.end[-1])
        if t_to <= t_from:
            return None
    in_view = int(
        np.searchsorted(samples.end, t_to, side="right") - np.searchsorted(samples.end, t_from, side="right")
    )
    width = choose_bin_width(t_to - t_from, in_view, slo.window)
    series = bin_samples(samples, t_from, t_to, width)

    # The lane above the plots gives every fault its own three rows (name, impact, recovery), so
    # the labels of faults close in time cannot run into each other.
    lanes = min(max(len(faults) + (rollback is not None), 1), 6)
    fig = _new_figure(12, 7.4 + 1.2 * lanes)
    axes = fig.subplots(5, 1, sharex=True, gridspec_kw={"height_ratios": [1.25 * lanes, 2, 1.7, 2, 0.45]})
    lane, ax_tp, ax_err, ax_lat, ax_slo = axes
    pad = (t_to - t_from) * 0.01
    for ax in axes:
        ax.set_xlim(t_from - pad, t_to + pad)
        ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
        ax.tick_params(labelsize=8.5)
    _suptitle(
        fig,
        f"Trial {analysis.trial}: what users saw, {width:g}-second bins "
        f"(requests counted when they completed)",
    )
    _throughput(ax_tp, series)
    _errors(ax_err, series, slo)
    _latency(ax_lat, series, slo)
    _judgement(ax_slo, analysis.timeline)
    _draw_faults(Lane(lane, [ax_tp, ax_err, ax_lat, ax_slo], t_from, t_to), faults, rollback)
    # left: the "target met?" label; right: the legends (fixed wording, widest "p95: 95 % ...")
    _margins(fig, left=0.95, right=2.15, top=0.32, bottom=0.48, rows=5, row_gap=0.14)
    return figure_png(fig)


def _throughput(ax: Axes, series: BinnedSeries) -> None:
    edges = series.edges
    ax.stairs(
        series.throughput, edges, baseline=None, color="#1f4e79", linewidth=1.4, linestyle="-", label="all"
    )
    ax.stairs(
        series.ok_throughput,
        edges,
        baseline=None,
        color="#2e7d32",
        linewidth=1.4,
        linestyle="--",
        label="successful",
    )
    _legend(ax)
    ax.set_ylabel("requests per\nsecond", fontsize=9)
    ax.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(series.throughput, initial=0.0)) * 1.15))


def _errors(ax: Axes, series: BinnedSeries, slo: Slo) -> None:
    share = series.error_share * 100
    ax.stairs(share, series.edges, baseline=None, color="#b71c1c", linewidth=1.4, label="failing")
    rate = slo.success_rate
    if rate < 1:
        allowed = (1 - float(rate)) * 100
        ax.axhline(allowed, color=_INK, linestyle=":", linewidth=1.2, label=f"allowed: {allowed:g} %")
    _legend(ax)
    ax.set_ylim(-3, 103)
    ax.set_yticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"])
    ax.set_ylabel("share of\nrequests failing", fontsize=9)


def _latency(ax: Axes, series: BinnedSeries, slo: Slo) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    styles = (("p50", "-", "#1f4e79", 1.4), ("p95", "--", "#6a1b9a", 1.3), ("p99", ":", "#000000", 1.5))
    names = {"p50": "median (p50)", "p95": "p95: 95 % answer faster", "p99": "p99: 99 % answer faster"}
    lat_max = 0.0
    for name, ls, colour, lw in styles:
        values = getattr(series, name)
        ax.stairs(
            values, series.edges, baseline=None, linestyle=ls, color=colour, linewidth=lw, label=names[name]
        )
        lat_max = max(lat_max, float(np.nanmax(values, initial=0.0)))
    for bound, label in ((slo.p95_latency, "allowed p95"), (slo.p99_latency, "allowed p99")):
        if bound is not None:
            lat_max = max(lat_max, bound)
            ax.axhline(
                bound,
                color=_INK,
                linestyle="-.",
                linewidth=1.0,
                label=f"{label}: {_seconds_formatter(bound)}",
            )
    lat_min = float(np.nanmin(series.p50, initial=np.inf))
    if math.isfinite(lat_min) and lat_min > 0 and lat_max / lat_min > 30:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())  # no "6×10⁻¹" over the "500 ms" labels
    else:
        ax.set_ylim(bottom=0, top=max(lat_max * 1.15, 0.001))
    ax.yaxis.set_major_formatter(FuncFormatter(_seconds_formatter))
    ax.set_ylabel("response time", fontsize=9)
    _legend(ax)


def _judgement(ax: Axes, timeline: HealthTimeline | None) -> None:
    """The SLO judgement strip: grey where the service missed its target."""
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.set_ylabel("target met?\n(grey: no)", fontsize=9, rotation=0, ha="right", va="center")
    if timeline is not None:
        ax.axvspan(timeline.observe_from, timeline.judged_to, facecolor="white", edgecolor="none")
        for a, b in timeline.unhealthy_intervals():
            ax.axvspan(a, b, facecolor="#9e9e9e", hatch="xxx", edgecolor=_INK, linewidth=0)
    else:
        ax.text(0.5, 0.5, "not judged (observation shorter than one SLO window)", ha="center", va="center")
    ax.set_xlabel("seconds since the run started", fontsize=9)


def _draw_faults(view: Lane, faults: Sequence[FaultResult], rollback: RollbackResult | None) -> None:
    """Shade each fault window everywhere, and name it and its impact / recovery in the lane.

    Each fault gets a band of three rows in the lane (name, impact, recovery), the first fault
    on top; a rollback gets the bottom band (trigger, healthy at the old version).
    """
    bands = max(1, len(faults) + (rollback is not None))
    view.lane.set_ylim(0, 3 * bands)
    view.lane.set_yticks([])
    for side in ("top", "right", "left"):
        view.lane.spines[side].set_visible(False)
    for n, f in enumerate(faults):
        base = 3.0 * (bands - 1 - n)  # the first fault on top
        _draw_window(view, f, base, 3.0 * bands)
        _draw_instants(view, f, base)
    if rollback is not None:
        _draw_rollback(view, rollback)


def _draw_window(view: Lane, f: FaultResult, base: float, top: float) -> None:
    """The fault's window, hatched on every panel, and its name and length in the lane."""
    inj, clr, t_to = f.injected_at, f.cleared_at, view.t_to
    cut = clr is None or float(clr) > t_to  # the observation ended while the fault was active
    end = t_to if clr is None else min(float(clr), t_to)
    for ax in view.panels[:-1]:  # not the judgement strip: its grey must stay readable
        ax.axvspan(inj, end, facecolor=_FAULT_FACE, alpha=0.35, hatch=_FAULT_HATCH, edgecolor="#a0522d", lw=0)
    row = base + 2.35
    view.lane.axvspan(
        inj,
        end,
        ymin=(row - 0.35) / top,
        ymax=(row + 0.35) / top,
        facecolor=_FAULT_FACE,
        hatch=_FAULT_HATCH,
        edgecolor="#a0522d",
        linewidth=0.8,
    )
    lasted = "still active when the run ended" if cut else seconds_text(end - float(inj), 0.1)
    view.lane.text(
        (float(inj) + end) / 2,
        row,
        f"fault: {f.label} ({lasted})",
        ha="center",
        va="center",
        fontsize=9,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "#a0522d", "linewidth": 0.6},
    )


def _draw_instants(view: Lane, f: FaultResult, base: float) -> None:
    """The fault's first impact and its recovery, each with its ± resolution."""
    res = f.resolution
    if f.impact_at is not None:
        r = float(res.time_to_impact or 0.0)
        label = f"users affected {seconds_text(f.time_to_impact, r)} after it started ({resolution_text(r)})"
        _instant(view, float(f.impact_at), r, "--", base + 1.35, label, prefer_left=True)
    if f.recovered_at is not None and f.recovered:
        r = float(res.recovery_time or 0.0)
        label = f"recovered {seconds_text(f.recovery_time, r)} after the fault ended ({resolution_text(r)})"
        _instant(view, float(f.recovered_at), r, "-", base + 0.5, label)
    elif not f.recovered:
        view.lane.text(
            view.t_to,
            base + 0.5,
            "not recovered by the end of the run ▶",
            ha="right",
            va="center",
            fontsize=9,
            fontweight="bold",
        )


def _draw_rollback(view: Lane, rb: RollbackResult) -> None:
    """The rollback in the lane's bottom band: its trigger and when the old version was healthy."""
    at, res = rb.triggered_at, rb.resolution
    label = f"rollback triggered: {rb.action}" + (f" ({rb.reason})" if rb.reason else "")
    _instant(view, float(at), 0.0, "-.", 2.35, label, prefer_left=True)
    duration = rb.rollback_duration
    if duration is not None:
        label = (
            f"rolled back: healthy at the old version {seconds_text(duration, res)} after the trigger "
            f"({resolution_text(res)})"
        )
        _instant(view, float(at) + float(duration), res, (0, (1, 1)), 1.2, label)
    else:
        view.lane.text(
            view.t_to,
            1.2,
            f"rollback did not complete: {rb.note or 'not measured'} ▶",
            ha="right",
            va="center",
            fontsize=9,
            fontweight="bold",
        )


def _instant(
    view: Lane,
    at: float,
    resolution: float,
    linestyle: str | tuple[int, tuple[int, int]],
    row: float,
    label: str,
    *,
    prefer_left: bool = False,
) -> None:
    """A measured instant: a line across every panel, a hatched ± resolution band, a label."""
    for ax in (view.lane, *view.panels):
        if resolution > 0:
            ax.axvspan(
                at - resolution,
                at + resolution,
                facecolor="none",
                hatch=_BAND_HATCH,
                edgecolor="#555555",
                linewidth=0,
            )
        ax.axvline(at, color=_INK, linestyle=linestyle, linewidth=1.3)
    # Impact labels go left of their line and recovery labels right, where they fit, so the two
    # labels of one fault point away from each other instead of running across the other line.
    # The fit is judged on an estimate of the text's width against the lane's ~900 px.
    text_share = (len(label) * 5.6 + 12) / _LANE_PX
    room_left = (at - view.t_from) / view.span if view.span > 0 else 0.0
    room_right = 1.0 - room_left
    if prefer_left:
        left = room_left >= text_share or room_left > room_right
    else:
        left = room_right < text_share and room_left > room_right
    view.lane.annotate(
        label,
        (at, row),
        xytext=(-6 if left else 6, 0),
        textcoords="offset points",
        ha="right" if left else "left",
        va="center",
        fontsize=9,
        zorder=6,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.95},
    )
