"""report.html layout: several trials as small multiples with the detail folded; long YAML lines
wrap (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.report.html import render_html
from harness.report.style import REPORT_CSS
from harness.report.trials_plot import trials_figure
from tests.unit.test_reports import synthetic_run, typed


def test_three_trials_are_one_figure_on_shared_axes_and_the_detail_is_folded(tmp_path: Path) -> None:
    doc, analyses = synthetic_run({"recovery_time": "<= 3s"}, trials=3, delays=(1.0, 2.5, 4.0))
    results = typed(doc)
    page = render_html(tmp_path, results, analyses)
    side = re.search(r'<section id="trials">.*?</section>', page, re.S)
    assert side is not None and side.group(0).count("<img") == 1
    assert page.count("<details>") == 3
    assert "<summary>Trial 3: recovered in 4.0 s (timeline and detail)</summary>" in page
    fig = trials_figure(results.trials, analyses, results.slo)
    assert fig is not None
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x 3 trials
    assert len({ax.get_xlim() for ax in axes}) == 1  # shared time axis
    assert len({axes[i].get_ylim() for i in (3, 4, 5)}) == 1  # shared latency axis


def test_one_trial_is_not_folded(tmp_path: Path) -> None:
    doc, analyses = synthetic_run()
    page = render_html(tmp_path, typed(doc), analyses)
    assert "<details>" not in page and '<section id="trials">' not in page


def test_long_yaml_lines_wrap_in_the_scenario_as_run() -> None:
    pre = re.search(r"pre \{[^}]*\}", REPORT_CSS)
    assert pre is not None and "pre-wrap" in pre.group(0)
