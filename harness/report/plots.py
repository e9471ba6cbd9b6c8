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
from harness.report.words import seconds_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _margins(
    fig: Figure,
    *,
    left: float,
    right: float,
    top: float,
    bottom: float,
    rows: int = 1,
    row_gap: float = 0.0,
    cols: int = 1,
    col_gap: float = 0.0,
) -> None:
    """Place the subplots with fixed margins and gaps, in inches.

    Each figure states the room its labels, suptitle and side legends take, instead of
    matplotlib's constrained layout measuring every text on every save (a fifth of a second per
    figure, paid on every run). Where a label's width varies (fault and scenario names), the
    figure measures just that text (:func:`_text_width`) and passes the margin.
    """
    w, h = fig.get_size_inches()
    inner_h = h - top - bottom - (rows - 1) * row_gap
    inner_w = w - left - right - (cols - 1) * col_gap
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        top=1 - top / h,
        bottom=bottom / h,
        hspace=row_gap / (inner_h / rows) if rows > 1 else 0.0,
        wspace=col_gap / (inner_w / cols) if cols > 1 else 0.0,
    )


def _suptitle(fig: Figure, text: str) -> None:
    """The figure's title, flush left, 0.06 inch below the top edge (fixed, like the margins)."""
    fig.suptitle(text, fontsize=11, x=0.01, ha="left", va="top", y=1 - 0.06 / fig.get_size_inches()[1])


def _text_width(fig: Figure, texts: Sequence[str], fontsize: float) -> float:
    """The widest of ``texts`` in inches at ``fontsize``: measured by the renderer, no drawing."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    prop = FontProperties(size=fontsize)
    widths = [renderer.get_text_width_height_descent(t, prop, ismath=False)[0] for t in texts]
    return max(widths, default=0.0) / fig.dpi


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


# -- MTTR across trials -------------------------------------------------------------------------


def _mttr_row(ax: Axes, row: int, s: MttrStats, top: float) -> None:
    """One fault's trials: a dot each, unrecovered ones as crosses at the edge, median and p95."""
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
        _mttr_row(ax, row, s, top)
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
    names = _text_width(fig, [s.fault for s in stats], 9)
    # "N not recovered" is centred on the right edge: half of it lies beyond the panel
    lost = [f"{sum(v is None for _, v, _ in s.values)} not recovered" for s in stats]
    edge = _text_width(fig, [t for t in lost if not t.startswith("0 ")], 8.5) / 2
    _margins(fig, left=names + 0.2, right=max(0.3, edge + 0.1), top=0.1, bottom=0.5)
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
    """The index plot as PNG bytes (see :func:`index_figure`)."""
    return figure_png(index_figure(points))


def time_span(whens: Sequence[Any]) -> tuple[Any, Any]:
    """The x range of the index: the runs' span, padded, at least an hour wide.

    Left alone, matplotlib widens a single date by two years each way (2025-2029 for one run).
    """
    import datetime as dt

    lo, hi = min(whens), max(whens)
    pad = max((hi - lo) * 0.05, dt.timedelta(minutes=30))
    return lo - pad, hi + pad


def index_figure(points: Sequence[RunPoint]) -> Figure:
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
    _date_axis(ax, [p.when for p in points])
    fig.autofmt_xdate()
    _legend(ax)
    legend = _text_width(fig, list(groups), 8.5)
    _margins(fig, left=0.9, right=legend + 0.65, top=0.1, bottom=0.75)
    return fig


def _date_axis(ax: Axes, whens: Sequence[Any]) -> None:
    import matplotlib.dates as mdates

    lo, hi = time_span(whens)
    ax.set_xlim(lo, hi)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(_seconds_formatter)
