"""The figures of the reports: per-trial timelines, the MTTR distribution, MTTR over runs.

**Downsampling.** A figure is ~1200 pixels wide, a ledger may hold millions of requests, so the
requests are aggregated per time bin *before* anything is drawn: at most :data:`MAX_BINS` bins,
computed with numpy over the ``RequestSamples`` columns (two binary searches for the bin edges,
one ``lexsort`` for the per-bin percentiles; no Python loop over requests). A bin holds the
requests that *completed* in it, exactly as the health windows do, so the plot and the verdict
look at the same thing. Bins are no wider than the SLO window and, when traffic allows, hold
about :data:`MIN_PER_BIN` requests, so the throughput line is not mostly noise.

**Readable without colour.** Every series has its own line style and a direct label; fault
windows are hatched and named in a lane above the plots; impact and recovery instants are lines
with a hatched band of ± their resolution, and their label says the figure and its uncertainty.

matplotlib is imported inside the functions (importing :mod:`harness` must stay cheap), and only
through its object API (``Figure`` + the Agg canvas): no pyplot, no global backend switch, so a
report rendered inside someone's notebook or test run leaves their matplotlib state alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from harness.measure.samples import FloatArray, RequestSamples
from harness.report.mttr import MttrStats
from harness.report.words import resolution_text, seconds_text
from harness.results import FaultResult, RollbackResult, Slo

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from harness.analysis import TrialAnalysis

IntArray = NDArray[np.int64]

MAX_BINS = 400
MIN_PER_BIN = 40
_NICE_WIDTHS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
_QUANTILES = (0.50, 0.95, 0.99)

# Greys and line styles carry the meaning; colour only helps.
_FAULT_FACE = "#f6c88f"
_FAULT_HATCH = "///"
_BAND_HATCH = "...."
_INK = "#222222"
_LANE_PX = 900  # plotting width of a 12-inch timeline at 100 dpi, legends excluded


@dataclass(frozen=True, eq=False)
class BinnedSeries:
    """Per-bin aggregates of the completed requests over ``[edges[0], edges[-1]]``.

    ``count``/``failed`` are requests completed in each bin (``(edge_k, edge_k+1]``);
    ``throughput`` and ``ok_throughput`` are per second of the bin's actual width (the last bin
    may be shorter). ``error_share`` and the percentiles are NaN for a bin with no completed
    request, which draws as a gap: silence is shown, not interpolated over.
    """

    edges: FloatArray
    count: IntArray
    failed: IntArray
    throughput: FloatArray
    ok_throughput: FloatArray
    error_share: FloatArray
    p50: FloatArray
    p95: FloatArray
    p99: FloatArray

    @property
    def centres(self) -> FloatArray:
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def width(self) -> float:
        return float(self.edges[1] - self.edges[0]) if self.edges.size > 1 else 0.0


def choose_bin_width(span: float, requests: int, window: float | None = None) -> float:
    """A round bin width: at most :data:`MAX_BINS` bins, ~:data:`MIN_PER_BIN` requests each.

    Never wider than the SLO ``window`` unless the bin count forces it: wider bins would blur
    the edges the verdicts are about.
    """
    if span <= 0:
        return _NICE_WIDTHS[0]
    want = span / MAX_BINS
    if requests > 0:
        by_traffic = MIN_PER_BIN * span / requests
        want = max(want, min(by_traffic, window) if window else by_traffic)
    for width in _NICE_WIDTHS:
        if width >= want - 1e-12:
            return float(width)
    return float(math.ceil(want / 3600) * 3600)


def bin_samples(samples: RequestSamples, t_from: float, t_to: float, width: float) -> BinnedSeries:
    """Aggregate ``samples`` into bins of ``width`` seconds from ``t_from`` to ``t_to``.

    Percentiles use numpy's "linear" method, as the health windows do, computed for every bin at
    once: sort latencies within bins (``lexsort`` on bin, latency), then interpolate at each
    bin's fractional rank.
    """
    if not (width > 0 and t_to > t_from):
        raise ValueError(f"need width > 0 and t_to > t_from (got width={width}, [{t_from}, {t_to}])")
    # A last bin shorter than a quarter of the others would be mostly noise (and, from float
    # rounding, sometimes empty): fold it into the one before.
    n = max(1, math.ceil((t_to - t_from) / width - 0.25))
    edges = t_from + np.arange(n + 1, dtype=np.float64) * width
    edges[-1] = t_to
    idx = np.searchsorted(samples.end, edges, side="right")
    count = np.diff(idx).astype(np.int64)
    first, last = int(idx[0]), int(idx[-1])
    bad = np.concatenate(([0], np.cumsum(~samples.ok[first:last], dtype=np.int64)))
    rel = idx - first
    failed = (bad[rel[1:]] - bad[rel[:-1]]).astype(np.int64)
    seconds = np.diff(edges)
    throughput = count / seconds
    ok_throughput = (count - failed) / seconds
    nonempty = count > 0
    error_share = np.full(n, np.nan)
    error_share[nonempty] = failed[nonempty] / count[nonempty]

    lat = samples.latency[first:last]
    bins = np.repeat(np.arange(n, dtype=np.int64), count)
    ordered = lat[np.lexsort((lat, bins))]
    starts = rel[:-1]
    pct = []
    for q in _QUANTILES:
        out = np.full(n, np.nan)
        c = count[nonempty]
        pos = starts[nonempty] + q * (c - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, starts[nonempty] + c - 1)
        frac = pos - lo
        out[nonempty] = ordered[lo] + frac * (ordered[hi] - ordered[lo])
        pct.append(out)
    return BinnedSeries(edges, count, failed, throughput, ok_throughput, error_share, *pct)


# -- drawing helpers ----------------------------------------------------------------------------


def _new_figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (embedded as base64 by the HTML renderers)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _seconds_formatter(value: float, _pos: object = None) -> str:
    if value <= 0:
        return "0"
    if value < 1:
        return f"{value * 1000:g} ms"
    return f"{value:g} s"


def _legend(ax: Axes) -> None:
    """Name the series beside the panel, never over the data: line styles tell them apart."""
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
        fontsize=8.5,
        frameon=False,
        handlelength=3.2,
        borderaxespad=0,
    )


# -- the per-trial timeline -----------------------------------------------------------------------


def timeline_png(
    analysis: TrialAnalysis,
    faults: Sequence[FaultResult],
    slo: Slo,
    rollback: RollbackResult | None = None,
) -> bytes | None:
    """The trial's timeline as PNG bytes, or None if the trial recorded no load to draw.

    Panels, top to bottom: a lane naming the faults and the impact / recovery instants,
    requests per second, share of requests failing, response times (p50/p95/p99), and a strip
    showing where the SLO judge found the service unhealthy.
    """
    samples = analysis.samples
    t_from, t_to = analysis.observe_from, analysis.observe_to
    if t_from is None or t_to is None or t_to <= t_from:
        if not len(samples):
            return None
        t_from, t_to = float(samples.end[0]), float(samples.end[-1])
        if t_to <= t_from:
            return None
    window = slo.window
    in_view = int(
        np.searchsorted(samples.end, t_to, side="right") - np.searchsorted(samples.end, t_from, side="right")
    )
    width = choose_bin_width(t_to - t_from, in_view, window)
    series = bin_samples(samples, t_from, t_to, width)

    # The lane above the plots gives every fault its own three rows (name, impact, recovery), so
    # the labels of faults close in time cannot run into each other.
    drawn = len(faults) + (rollback is not None)
    lanes = min(max(drawn, 1), 6)
    fig = _new_figure(12, 7.4 + 1.2 * lanes)
    axes = fig.subplots(5, 1, sharex=True, gridspec_kw={"height_ratios": [1.25 * lanes, 2, 1.7, 2, 0.45]})
    lane, ax_tp, ax_err, ax_lat, ax_slo = axes
    edges = series.edges
    pad = (t_to - t_from) * 0.01
    for ax in axes:
        ax.set_xlim(t_from - pad, t_to + pad)
        ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
        ax.tick_params(labelsize=8.5)
    fig.suptitle(
        f"Trial {analysis.trial}: what users saw, {width:g}-second bins "
        f"(requests counted when they completed)",
        fontsize=11,
        x=0.01,
        ha="left",
    )

    # Throughput.
    ax_tp.stairs(
        series.throughput, edges, baseline=None, color="#1f4e79", linewidth=1.4, linestyle="-", label="all"
    )
    ax_tp.stairs(
        series.ok_throughput,
        edges,
        baseline=None,
        color="#2e7d32",
        linewidth=1.4,
        linestyle="--",
        label="successful",
    )
    _legend(ax_tp)
    ax_tp.set_ylabel("requests per\nsecond", fontsize=9)
    ax_tp.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(series.throughput, initial=0.0)) * 1.15))

    # Error share.
    share = series.error_share * 100
    ax_err.stairs(share, edges, baseline=None, color="#b71c1c", linewidth=1.4, label="failing")
    rate = slo.success_rate
    if rate < 1:
        allowed = (1 - float(rate)) * 100
        ax_err.axhline(allowed, color=_INK, linestyle=":", linewidth=1.2, label=f"allowed: {allowed:g} %")
    _legend(ax_err)
    ax_err.set_ylim(-3, 103)
    ax_err.set_yticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"])
    ax_err.set_ylabel("share of\nrequests failing", fontsize=9)

    # Latency.
    styles = (("p50", "-", "#1f4e79", 1.4), ("p95", "--", "#6a1b9a", 1.3), ("p99", ":", "#000000", 1.5))
    names = {"p50": "median (p50)", "p95": "p95: 95 % answer faster", "p99": "p99: 99 % answer faster"}
    lat_max = 0.0
    for name, ls, colour, lw in styles:
        values = getattr(series, name)
        ax_lat.stairs(
            values, edges, baseline=None, linestyle=ls, color=colour, linewidth=lw, label=names[name]
        )
        lat_max = max(lat_max, float(np.nanmax(values, initial=0.0)))
    for bound, label in ((slo.p95_latency, "allowed p95"), (slo.p99_latency, "allowed p99")):
        if bound is not None:
            lat_max = max(lat_max, bound)
            ax_lat.axhline(
                bound,
                color=_INK,
                linestyle="-.",
                linewidth=1.0,
                label=f"{label}: {_seconds_formatter(bound)}",
            )
    lat_min = float(np.nanmin(series.p50, initial=np.inf))
    if math.isfinite(lat_min) and lat_min > 0 and lat_max / lat_min > 30:
        from matplotlib.ticker import LogLocator

        ax_lat.set_yscale("log")
        ax_lat.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    else:
        ax_lat.set_ylim(bottom=0, top=max(lat_max * 1.15, 0.001))
    from matplotlib.ticker import FuncFormatter

    ax_lat.yaxis.set_major_formatter(FuncFormatter(_seconds_formatter))
    ax_lat.set_ylabel("response time", fontsize=9)
    _legend(ax_lat)

    # SLO judgement strip.
    ax_slo.set_yticks([])
    ax_slo.set_ylim(0, 1)
    ax_slo.set_ylabel("target met?\n(grey: no)", fontsize=9, rotation=0, ha="right", va="center")
    if analysis.timeline is not None:
        tl = analysis.timeline
        ax_slo.axvspan(tl.observe_from, tl.judged_to, facecolor="white", edgecolor="none")
        for a, b in tl.unhealthy_intervals():
            ax_slo.axvspan(a, b, facecolor="#9e9e9e", hatch="xxx", edgecolor=_INK, linewidth=0)
    else:
        ax_slo.text(
            0.5, 0.5, "not judged (observation shorter than one SLO window)", ha="center", va="center"
        )
    ax_slo.set_xlabel("seconds since the run started", fontsize=9)

    _draw_faults(lane, [ax_tp, ax_err, ax_lat, ax_slo], faults, t_from, t_to, rollback)
    return figure_png(fig)


def _draw_faults(
    lane: Axes,
    panels: Sequence[Axes],
    faults: Sequence[FaultResult],
    t_from: float,
    t_to: float,
    rollback: RollbackResult | None = None,
) -> None:
    """Shade each fault window everywhere, and name it and its impact / recovery in the lane.

    Each fault gets a band of three rows in the lane (name, impact, recovery), the first fault
    on top; a rollback gets the bottom band (trigger, healthy at the old version).
    """
    drawn = list(faults)
    bands = max(1, len(drawn) + (rollback is not None))
    lane.set_ylim(0, 3 * bands)
    lane.set_yticks([])
    for side in ("top", "right", "left"):
        lane.spines[side].set_visible(False)
    span = t_to - t_from
    for n, f in enumerate(drawn):
        inj = f.injected_at
        base = 3.0 * (bands - 1 - n)  # the first fault on top
        clr = f.cleared_at
        cut = clr is None or float(clr) > t_to  # the observation ended while the fault was active
        end = t_to if clr is None else min(float(clr), t_to)
        for ax in panels[:-1]:  # not the judgement strip: its grey must stay readable
            ax.axvspan(
                inj, end, facecolor=_FAULT_FACE, alpha=0.35, hatch=_FAULT_HATCH, edgecolor="#a0522d", lw=0
            )
        row = base + 2.35
        top = 3.0 * bands
        lane.axvspan(
            inj,
            end,
            ymin=(row - 0.35) / top,
            ymax=(row + 0.35) / top,
            facecolor=_FAULT_FACE,
            hatch=_FAULT_HATCH,
            edgecolor="#a0522d",
            linewidth=0.8,
        )
        what = f"fault: {f.label}"
        lasted = "still active when the run ended" if cut else seconds_text(end - float(inj), 0.1)
        lane.text(
            (float(inj) + end) / 2,
            row,
            f"{what} ({lasted})",
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold",
            bbox={
                "boxstyle": "round,pad=0.2",
                "facecolor": "white",
                "edgecolor": "#a0522d",
                "linewidth": 0.6,
            },
        )
        res = f.resolution
        impact_at = f.impact_at
        if impact_at is not None:
            r = float(res.time_to_impact or 0.0)
            _instant(
                lane,
                panels,
                float(impact_at),
                r,
                "--",
                base + 1.35,
                f"users affected {seconds_text(f.time_to_impact, r)} after it started ({resolution_text(r)})",
                span,
                t_from,
                t_to,
                prefer_left=True,
            )
        rec_at = f.recovered_at
        if rec_at is not None and f.recovered:
            r = float(res.recovery_time or 0.0)
            _instant(
                lane,
                panels,
                float(rec_at),
                r,
                "-",
                base + 0.5,
                f"recovered {seconds_text(f.recovery_time, r)} after the fault ended ({resolution_text(r)})",
                span,
                t_from,
                t_to,
            )
        elif not f.recovered:
            lane.text(
                t_to,
                base + 0.5,
                "not recovered by the end of the run ▶",
                ha="right",
                va="center",
                fontsize=9,
                fontweight="bold",
            )
    if rollback is not None:
        _draw_rollback(lane, panels, rollback, t_from, t_to)


def _draw_rollback(
    lane: Axes, panels: Sequence[Axes], rb: RollbackResult, t_from: float, t_to: float
) -> None:
    """The rollback in the lane's bottom band: its trigger and when the old version was healthy."""
    at = rb.triggered_at
    span = t_to - t_from
    res = rb.resolution
    _instant(
        lane,
        panels,
        float(at),
        0.0,
        "-.",
        2.35,
        f"rollback triggered: {rb.action}" + (f" ({rb.reason})" if rb.reason else ""),
        span,
        t_from,
        t_to,
        prefer_left=True,
    )
    duration = rb.rollback_duration
    if duration is not None:
        _instant(
            lane,
            panels,
            float(at) + float(duration),
            res,
            (0, (1, 1)),
            1.2,
            f"rolled back: healthy at the old version {seconds_text(duration, res)} after the trigger "
            f"({resolution_text(res)})",
            span,
            t_from,
            t_to,
        )
    else:
        lane.text(
            t_to,
            1.2,
            f"rollback did not complete: {rb.note or 'not measured'} ▶",
            ha="right",
            va="center",
            fontsize=9,
            fontweight="bold",
        )


def _instant(
    lane: Axes,
    panels: Sequence[Axes],
    at: float,
    resolution: float,
    linestyle: str | tuple[int, tuple[int, int]],
    row: float,
    label: str,
    span: float,
    t_from: float,
    t_to: float,
    *,
    prefer_left: bool = False,
) -> None:
    """A measured instant: a line across every panel, a hatched ± resolution band, a label."""
    for ax in (lane, *panels):
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
    room_left = (at - t_from) / span if span > 0 else 0.0
    room_right = 1.0 - room_left
    if prefer_left:
        left = room_left >= text_share or room_left > room_right
    else:
        left = room_right < text_share and room_left > room_right
    lane.annotate(
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


# -- MTTR across trials -------------------------------------------------------------------------


def mttr_png(stats: Sequence[MttrStats], target: float | None = None) -> bytes:
    """Every trial's recovery time as a dot per fault, with median and p95 marked.

    Unrecovered trials are drawn as a cross at the right edge and labelled: leaving them out
    would make the distribution look better than the system is.
    """
    fig = _new_figure(9, 1.2 + 0.95 * max(1, len(stats)))
    ax = fig.add_subplot()
    finite = [v for s in stats for _, v, _ in s.values if v is not None]
    top = max([*finite, target or 0.0, 0.1]) * 1.25
    for row, s in enumerate(stats):
        vals = [v for _, v, _ in s.values if v is not None]
        missing = len(s.values) - len(vals)
        jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(len(vals))
        ax.plot(
            vals,
            row + jitter,
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor="white",
            markeredgecolor=_INK,
        )
        if missing:
            ax.plot([top] * missing, [row] * missing, linestyle="none", marker="x", markersize=9, color=_INK)
            ax.annotate(
                f"{missing} not recovered",
                (top, row),
                xytext=(0, 10),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8.5,
            )
        for value, mark, name in ((s.median, "|", "median"), (s.p95, "|", "p95")):
            if math.isfinite(value):
                ax.plot(
                    [value],
                    [row],
                    marker=mark,
                    markersize=22 if name == "median" else 14,
                    color=_INK,
                    markeredgewidth=2 if name == "median" else 1.2,
                )
                # median named below its bar, p95 above: they often coincide on a few trials
                below = name == "median"
                ax.annotate(
                    f"{name} {seconds_text(value, s.resolution)}",
                    (value, row),
                    xytext=(0, -19 if below else 15),
                    textcoords="offset points",
                    ha="center",
                    va="top" if below else "bottom",
                    fontsize=8,
                )
    if target is not None:
        ax.axvline(target, color=_INK, linestyle="--", linewidth=1)
        ax.annotate(
            f"target {target:g} s",
            (target, len(stats) - 0.5),
            xytext=(3, 0),
            textcoords="offset points",
            fontsize=8.5,
            va="top",
        )
    ax.set_yticks(range(len(stats)), [s.fault for s in stats], fontsize=9)
    ax.set_ylim(-0.6, len(stats) - 0.4)
    ax.set_xlim(0, top * 1.02)
    ax.set_xlabel("recovery time after the fault ended (seconds), one dot per trial", fontsize=9)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    return figure_png(fig)


# -- MTTR over runs (the index) -------------------------------------------------------------------


@dataclass(frozen=True)
class RunPoint:
    """One run's MTTR for one scenario/fault, for the index plot."""

    series: str
    when: Any  # datetime.datetime
    mttr: float  # median over trials; inf = not recovered
    passed: bool


def index_png(points: Sequence[RunPoint]) -> bytes:
    """MTTR per scenario over time: one line per scenario/fault, told apart by line style and marker.

    The series are named in a legend beside the plot rather than at their last points: runs of
    different scenarios often end minutes apart at similar values, and their names would collide.
    """
    fig = _new_figure(12, 4.8)
    ax = fig.add_subplot()
    groups: dict[str, list[RunPoint]] = {}
    for p in points:
        groups.setdefault(p.series, []).append(p)
    finite = [p.mttr for p in points if math.isfinite(p.mttr)]
    top = max([*finite, 0.1]) * 1.2
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    styles = ("-", "--", ":", "-.")
    for n, (name, pts) in enumerate(sorted(groups.items())):
        pts = sorted(pts, key=lambda p: p.when)
        xs = [p.when for p in pts]
        ys = [p.mttr if math.isfinite(p.mttr) else top for p in pts]
        marker = markers[n % len(markers)]
        ax.plot(
            xs,
            ys,
            linestyle=styles[n % len(styles)],
            marker=marker,
            color=_INK,
            markerfacecolor="white",
            linewidth=1.1,
            label=name,
        )
        failed = [(x, y) for x, y, p in zip(xs, ys, pts, strict=True) if not p.passed]
        if failed:
            ax.plot(
                [x for x, _ in failed],
                [y for _, y in failed],
                linestyle="none",
                marker=marker,
                color=_INK,
                markersize=7,
            )
    if any(not math.isfinite(p.mttr) for p in points):
        ax.axhline(top, color="#999999", linestyle=":", linewidth=0.8)
        ax.annotate(
            "not recovered",
            (0, top),
            xycoords=("axes fraction", "data"),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_ylim(-top * 0.03, top * 1.08)
    ax.set_ylabel("recovery time (median over trials)", fontsize=9)
    ax.set_xlabel("when the run started (UTC); filled marker = run failed", fontsize=9)
    ax.yaxis.set_major_formatter(_formatter())
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    fig.autofmt_xdate()
    _legend(ax)
    return figure_png(fig)


def _formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(_seconds_formatter)
