"""Failed requests broken down per operation and status / error class (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis import analyse_run
from harness.load.ledger import LedgerRecord, Outcome
from harness.measure.failures import NO_FAULT, failure_breakdown, status_class
from harness.report.html import render_html
from harness.report.markdown import render_summary
from tests.unit.rundirs import T0, at
from tests.unit.test_analysis import plain


def rec(i: int, op: str, end: float, outcome: Outcome, status: int = 200, error: str = "") -> LedgerRecord:
    return LedgerRecord(f"r{i}", op, "", at(end - 0.01), at(end), outcome, status, 10.0, 1, error)


def test_status_or_error_class() -> None:
    assert status_class(503, "HTTP 503") == "503"
    assert status_class(0, "ReadTimeout: timed out") == "timeout"
    assert status_class(0, "ConnectionRefusedError: [Errno 111] Connection refused") == "connection refused"
    assert status_class(0, "ConnectionResetError: Connection reset by peer") == "connection reset"
    assert status_class(0, "") == "no answer"


def test_breakdown_counts_shares_times_and_faults() -> None:
    records = [rec(i, "read", 1 + i * 0.1, "ok") for i in range(6)]
    records += [
        rec(10, "write", 5.0, "indeterminate", 0, "ReadTimeout: timed out"),
        rec(11, "write", 6.5, "indeterminate", 0, "ReadTimeout: timed out"),
        rec(12, "write", 12.0, "indeterminate", 0, "ReadTimeout: timed out"),
        rec(13, "write", 7.0, "fail", 409, "HTTP 409 conflict"),
        rec(14, "write", 2.0, "ok"),
        rec(15, "read", 8.0, "indeterminate", 503, "HTTP 503"),
    ]
    b = failure_breakdown(records, T0, [("down@api->db", 4.0, 8.0)])
    assert b.failed == 5
    first = b.groups[0]
    assert (first.op, first.status, first.outcome, first.count) == ("write", "timeout", "indeterminate", 3)
    assert first.share == pytest.approx(3 / 5)
    assert first.first_seen == pytest.approx(5.0) and first.last_seen == pytest.approx(12.0)
    assert first.during == ["down@api->db", NO_FAULT]
    read = next(g for g in b.groups if g.op == "read")
    assert (read.status, read.count, read.share) == ("503", 1, pytest.approx(1 / 7))
    assert read.during == ["down@api->db"]
    assert [(e.text, e.count) for e in b.top_errors] == [
        ("ReadTimeout: timed out", 3),
        ("HTTP 409 conflict", 1),
        ("HTTP 503", 1),
    ]


def test_analysis_breaks_down_the_failures_and_the_reports_show_them(tmp_path: Path) -> None:
    results, analyses = analyse_run(plain(tmp_path).write())
    b = results.trials[0].failures
    assert b is not None and b.failed == results.trials[0].load.indeterminate  # type: ignore[union-attr]
    (g,) = b.groups
    assert (g.op, g.status, g.outcome) == ("work", "503", "indeterminate")
    assert g.first_seen == pytest.approx(5.0, abs=0.011) and g.last_seen == pytest.approx(11.0, abs=0.011)
    assert g.during == ["down@app->dep", NO_FAULT]
    summary = render_summary(results)
    assert "**Failed requests** by operation and status" in summary
    assert f"| 1 | work | 503 | no clear answer | {g.count} |" in summary
    page = render_html(tmp_path, results, analyses)
    assert '<section id="failures">' in page and "down@app-&gt;dep, no fault" in page
