"""The failures table of the reports: per operation and status, count, share, when, which fault.

One set of rows (:func:`failure_rows`) shown in summary.md and report.html, read from the typed
:class:`~harness.results.failures.FailureBreakdown` the analysis computed from the ledger.
"""

from __future__ import annotations

from harness.report.lead import count_text
from harness.report.words import seconds_text
from harness.results import Results
from harness.results.failures import FailureBreakdown

FAILURE_HEADER = [
    "trial",
    "operation",
    "status / error",
    "outcome",
    "count",
    "share of the operation",
    "first seen",
    "last seen",
    "during",
]
_OUTCOME_WORDS = {"fail": "failed definitely", "indeterminate": "no clear answer"}


def share_text(share: float) -> str:
    """``12.5 %`` (three significant figures, never e-notation)."""
    return f"{share * 100:.3g} %" if share >= 0.001 else f"{share * 100:.2f} %"


def failure_rows(results: Results) -> list[list[str]]:
    """One row per (trial, operation, status, outcome) that failed, most frequent first per trial."""
    rows = []
    for t in results.trials:
        b = t.failures
        if b is None:
            continue
        for g in b.groups:
            rows.append(
                [
                    str(t.trial),
                    g.op,
                    g.status,
                    _OUTCOME_WORDS.get(g.outcome, g.outcome),
                    count_text(g.count),
                    share_text(g.share),
                    seconds_text(g.first_seen, 0.01),
                    seconds_text(g.last_seen, 0.01),
                    ", ".join(g.during),
                ]
            )
    return rows


def top_errors(results: Results) -> list[tuple[int, str, int]]:
    """``(trial, text, count)``: each trial's three most common error texts."""
    out = []
    for t in results.trials:
        b: FailureBreakdown | None = t.failures
        if b is not None:
            out += [(t.trial, e.text, e.count) for e in b.top_errors]
    return out


def measured(results: Results) -> bool:
    """Whether the failures were broken down at all (results written before, or no ledger: not)."""
    return any(t.failures is not None for t in results.trials)
