"""Failed requests broken down per operation and status / error class, from the ledger.

Locust's own report has a failures table (error x count) and per-endpoint statistics; an
operations lead reading a rehearsal wants the same, plus *when*: first and last seen and during
which fault. Computed once in the analysis so every reporter shows the same figures.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.load.ledger import LedgerRecord
from harness.results.failures import ErrorText, FailureBreakdown, FailureGroup

#: Error classes recognised in a ledger error text when no HTTP status came back.
_CLASSES = (
    ("timeout", re.compile(r"time[d ]?out", re.I)),
    ("connection refused", re.compile(r"refused", re.I)),
    ("connection reset", re.compile(r"reset|broken pipe|aborted", re.I)),
    ("remote disconnected", re.compile(r"disconnect|closed|eof", re.I)),
)
NO_FAULT = "no fault"
TEXT_LIMIT = 200


def status_class(status: int, error: str) -> str:
    """``"503"`` for an answer, else the error class (``"timeout"``), else ``"no answer"``."""
    if status:
        return str(status)
    for name, pattern in _CLASSES:
        if pattern.search(error):
            return name
    return "no answer"


@dataclass
class _Group:
    count: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    during: set[str] = field(default_factory=set)


def failure_breakdown(
    records: Iterable[LedgerRecord], t0_ns: int, windows: list[tuple[str, float, float | None]]
) -> FailureBreakdown:
    """Group the ledger's failed requests; ``windows`` are ``(label, injected_at, cleared_at)``.

    A fault with no clear (the observation ended first) is active until the end of the trial.
    Shares are of all requests of the same operation.
    """
    per_op: Counter[str] = Counter()
    groups: dict[tuple[str, str, str], _Group] = {}
    texts: Counter[str] = Counter()
    for r in records:
        per_op[r.op] += 1
        if r.outcome == "ok":
            continue
        end = (r.end_ns - t0_ns) / 1e9
        g = groups.setdefault((r.op, status_class(r.status, r.error), r.outcome), _Group())
        g.count += 1
        g.first, g.last = min(g.first, end), max(g.last, end)
        active = [label for label, start, stop in windows if start <= end and (stop is None or end <= stop)]
        g.during.update(active or [NO_FAULT])
        if r.error:
            texts[r.error.strip()[:TEXT_LIMIT]] += 1
    out = [
        FailureGroup(
            op=op,
            status=status,
            outcome=outcome,
            count=g.count,
            share=g.count / per_op[op],
            first_seen=g.first,
            last_seen=g.last,
            during=sorted(g.during),
        )
        for (op, status, outcome), g in groups.items()
    ]
    out.sort(key=lambda g: (-g.count, g.op, g.status))
    return FailureBreakdown(
        failed=sum(g.count for g in out),
        groups=out,
        top_errors=[ErrorText(text=t, count=n) for t, n in texts.most_common(3)],
    )
