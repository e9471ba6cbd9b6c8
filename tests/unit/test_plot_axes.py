"""Readable plot axes: latency in ms without matplotlib's minor labels; the index's time axis
spans the runs, not four years (issue 14)."""

from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from harness.measure.samples import RequestSamples
from harness.report.plots import RunPoint, bin_samples, index_figure
from harness.report.timeline_plot import _latency
from harness.results import Slo


def _labels(ticks: list) -> list[str]:  # type: ignore[type-arg]
    return [t.get_text() for t in ticks if t.get_text()]


def test_log_latency_axis_has_only_readable_ms_labels() -> None:
    rng = np.random.default_rng(3)
    end = np.arange(1, 3001) * 0.01
    latency = np.where(end < 10, 0.015, 0.6) * rng.uniform(0.8, 1.2, end.size)
    samples = RequestSamples.from_arrays(end - latency, end, np.ones(end.size, dtype=bool))
    series = bin_samples(samples, 0.0, 30.0, 0.5)
    fig = Figure()
    ax = fig.add_subplot()
    _latency(ax, series, Slo(window=1.0, step=0.1, success_rate=0.99, hold=3.0))
    fig.canvas.draw()
    assert ax.get_yscale() == "log"
    assert _labels(ax.yaxis.get_minorticklabels()) == []
    major = _labels(ax.yaxis.get_majorticklabels())
    assert major and all(t.endswith((" ms", " s")) for t in major), major


def test_index_with_one_run_spans_hours_not_years() -> None:
    when = dt.datetime(2026, 11, 29, 13, 5)
    fig = index_figure([RunPoint("db-down", when, 2.0, True)])
    lo, hi = (mdates.num2date(x).replace(tzinfo=None) for x in fig.axes[0].get_xlim())
    assert lo <= when <= hi
    assert hi - lo <= dt.timedelta(hours=2)
