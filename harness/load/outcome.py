"""How a request's result maps to DESIGN.md's outcome: ok, definite failure, or indeterminate.

Pure logic, kept apart from :mod:`harness.load.user` so it can be tested without importing Locust.
The rules are docs/audit.md's section 5; whether anything was sent comes from the client
(:meth:`harness.load.fastclient.FastClient.sent`): a failure before a connection was open sent
nothing, any failure after it may have reached the server.
"""

from __future__ import annotations

from harness.load.ledger import Outcome


def classify(status: int, exc: BaseException | None, sent: bool) -> Outcome:
    """DESIGN.md's outcome: ok, definite failure, or indeterminate (may have applied)."""
    if exc is None:
        if 200 <= status < 300:
            return "ok"
        if 400 <= status < 500:
            return "fail"
        return "indeterminate"  # 5xx or anything else: ambiguous
    if not sent:
        return "fail"  # refused, connect timeout, no route: no connection, nothing sent
    return "indeterminate"  # timeout, reset, closed, cut short after sending
