"""How a request's result maps to DESIGN.md's outcome: ok, definite failure, or indeterminate.

Pure logic, kept apart from :mod:`harness.load.user` so it can be tested without importing Locust.
"""

from __future__ import annotations

import requests

from harness.load.ledger import Outcome


def classify(status: int, exc: BaseException | None) -> Outcome:
    """DESIGN.md's outcome: ok, definite failure, or indeterminate (may have applied)."""
    if exc is None:
        if 200 <= status < 300:
            return "ok"
        if 400 <= status < 500:
            return "fail"
        return "indeterminate"  # 5xx: ambiguous
    if isinstance(exc, requests.ConnectTimeout):
        return "fail"  # never connected: nothing was sent
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        if "NewConnectionError" in text or "Connection refused" in text:
            return "fail"
        return "indeterminate"  # reset or closed after sending
    return "indeterminate"  # read timeout and anything else after sending
