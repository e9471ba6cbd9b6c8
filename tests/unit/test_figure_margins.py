"""The report's figures use fixed margins instead of constrained layout (issue 13: dead time per
trial); no label, title, legend or tick label may fall off the figure or onto another panel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from harness.report.html import render_html
from harness.report.mttr import mttr_stats
from harness.report.plots import RunPoint, index_figure, mttr_png
from tests.unit.test_reports import synthetic_run, typed


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Figure]]:
    """Every figure saved while the test runs."""
    figures: list[Figure] = []
    original = Figure.savefig

    def keep(self: Figure, *args: Any, **kwargs: Any) -> None:
        figures.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    yield figures


def _texts(ax: Any) -> list[Any]:
    ticks = [*ax.get_xticklabels(), *ax.get_yticklabels()]
    return [t for t in [ax.title, ax.xaxis.label, ax.yaxis.label, *ticks] if t.get_visible() and t.get_text()]


def problems(fig: Figure) -> list[str]:
    """Texts outside the figure, and one panel's texts over another panel."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    fig.draw(renderer)
    page = Bbox.from_extents(-1, -1, fig.bbox.width + 1, fig.bbox.height + 1)
    found = []
    axes = [ax for ax in fig.axes if ax.get_visible()]
    extra = [t for t in [fig._suptitle] if t is not None]  # type: ignore[attr-defined]
    for ax in axes:
        box = ax.get_tightbbox(renderer)
        if box is not None and (not page.containsx(box.x0) or not page.containsx(box.x1)):
            found.append(f"{ax.get_ylabel()!r} panel sticks out sideways: {box}")
        if box is not None and (not page.containsy(box.y0) or not page.containsy(box.y1)):
            found.append(f"{ax.get_ylabel()!r} panel sticks out vertically: {box}")
        for text in _texts(ax):
            tb = text.get_window_extent(renderer)
            for other in axes:
                if other is not ax and tb.overlaps(other.get_window_extent(renderer)):
                    found.append(f"{text.get_text()!r} lies on another panel")
    for text in extra:
        tb = text.get_window_extent(renderer)
        if not (page.containsx(tb.x0) and page.containsx(tb.x1) and page.containsy(tb.y1)):
            found.append(f"title {text.get_text()!r} off the figure")
        if any(tb.overlaps(ax.get_window_extent(renderer)) for ax in axes):
            found.append(f"title {text.get_text()!r} over a panel")
    return found


@pytest.mark.parametrize("trials", [1, 3, 7])
def test_report_figures_keep_every_label_inside(tmp_path: Path, saved: list[Figure], trials: int) -> None:
    doc, analyses = synthetic_run({"recovery_time": "<= 3s"}, trials=trials, delays=(1.0, 2.5, 40.0))
    render_html(tmp_path, typed(doc), analyses)
    kinds = {len(f.axes) for f in saved}
    assert 5 in kinds  # the timeline
    if trials > 1:
        assert 2 * min(trials, 5) * (1 + (trials > 5)) in kinds  # the small multiples
    for fig in saved:
        assert problems(fig) == []


def test_mttr_figure_fits_long_fault_names(saved: list[Figure]) -> None:
    doc, _ = synthetic_run({"recovery_time": "<= 3s"}, trials=3, delays=(1.0, 2.5, 40.0))
    stats = list(mttr_stats(typed(doc)))
    long = [s.__class__(**{**s.__dict__, "fault": "partition@a-very-long-client-name->db"}) for s in stats]
    mttr_png([*stats, *long], target=3.0)
    assert saved and problems(saved[0]) == []


def test_index_figure_fits_long_scenario_names() -> None:
    t = dt.datetime(2026, 11, 29, 10)
    fig = index_figure(
        [
            RunPoint("db-latency", t, 1.2, True),
            RunPoint(
                "a-much-longer-scenario-name / kill@worker-with-a-long-name",
                t + dt.timedelta(hours=3),
                float("inf"),
                False,
            ),
            RunPoint("db-latency", t + dt.timedelta(days=2), 0.4, False),
        ]
    )
    assert problems(fig) == []
