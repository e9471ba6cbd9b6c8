"""Two report defects seen on real runs: a negative recovery bracket, and two resolutions side by side.

A recovery bracket can lie slightly before the fault's clear when slow requests straddle it (seen
on db-latency: ``-0.1 s ±0.2 s``). Recovery is counted from the clear (DESIGN.md: recovered_at is
the earliest t >= cleared_at), so no report may print a negative recovery; results.json keeps the
measured numbers. And the outage's ± beside the recovery's ± must say which is which.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from harness.report.console import verdict_table
from harness.report.html import render_html
from harness.report.markdown import render_summary
from harness.report.postmortem import render_postmortem
from harness.results import Results
from tests.unit.test_reports import synthetic_run, typed

#: The bracket of the db-latency run: its middle 0.13 s before the clear, half-width 0.15 s.
EARLY_BY, HALF_WIDTH = 0.1288, 0.1524


def _early_bracket() -> tuple[Results, dict[str, Any], list[Any]]:
    doc, analyses = synthetic_run()
    doc = copy.deepcopy(doc)
    fault = doc["trials"][0]["faults"][0]
    at = fault["cleared_at"] - EARLY_BY
    fault["recovery_bracket"] = {
        "kind": "recovery",
        "at": at,
        "half_width": HALF_WIDTH,
        "lower": at - HALF_WIDTH,
        "upper": at + HALF_WIDTH,
        "contradicting": 0,
    }
    fault["recovery_time_bracketed"] = -EARLY_BY
    return typed(doc), doc, analyses


NEGATIVE_SECONDS = re.compile(r"(?<![\w.+−-])-\d+(?:\.\d+)? s\b")


def test_a_bracket_before_the_clear_reads_as_zero_with_its_half_width_in_every_report(tmp_path: Path) -> None:
    results, _, analyses = _early_bracket()
    reports = {
        "console": verdict_table(results),
        "summary.md": render_summary(results),
        "postmortem.md": render_postmortem(results),
        "report.html": render_html(tmp_path, results, analyses),
    }
    for name, text in reports.items():
        assert not NEGATIVE_SECONDS.search(text), (name, NEGATIVE_SECONDS.search(text))
    for name in ("console", "summary.md", "report.html"):  # the reports that print the bracket
        assert "0.0 s ±0.2 s" in reports[name], name
    assert "cannot be negative" in reports["report.html"]  # the legend says why it reads 0


def test_results_json_keeps_the_measured_bracket() -> None:
    results, _, _ = _early_bracket()
    (fault,) = results.trials[0].faults
    assert fault.recovery_time_bracketed == -EARLY_BY
    assert fault.recovery_bracket is not None and fault.recovery_bracket.half_width == HALF_WIDTH


def test_the_html_says_which_resolution_is_which(tmp_path: Path) -> None:
    doc, analyses = synthetic_run()
    html = render_html(tmp_path, typed(doc), analyses)
    header = html.split("</header>", 1)[0]
    # the lead line prints the recovery's ± and the outage's ±: the header says whose each is
    assert "(±0.1 s)" in header and "(±0.3 s)" in header
    note = re.search(r'<p class="note resolutions">(.*?)</p>', header)
    assert note is not None, header
    assert "recovery ±0.1 s" in note.group(1) and "outage ±0.3 s" in note.group(1)
    assert "both its edges" in note.group(1)
    legend = html.split('id="definitions"', 1)[1]
    assert "both its edges" in legend  # the legend's resolution entry explains the wider outage one


def test_the_console_names_the_resolution_column_after_its_figure() -> None:
    doc, _ = synthetic_run()
    table = verdict_table(typed(doc))
    header = next(line for line in table.splitlines() if line.startswith("trial"))
    assert "recovery ±" in header and " resolution " not in f" {header} "
