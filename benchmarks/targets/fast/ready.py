"""The harness's "all users running" marker for Locust's own users, which know nothing of aftershock.

The same file :mod:`harness.load.user` writes, so :class:`harness.load.runner.LoadProcess` times
every side of the comparison from the same instant. Imported by the yardstick locustfiles.
"""

import os
import time
from pathlib import Path
from typing import Any

from locust import events

LEDGER_DIR = Path(os.environ.get("AFTERSHOCK_LEDGER_DIR", "."))
RATE_PER_USER = float(os.environ.get("AFTERSHOCK_RATE_PER_USER", "10"))


def _ready(user_count: int, **_: Any) -> None:
    (LEDGER_DIR / "load.ready").write_text(f"{time.monotonic_ns()}\n")


events.spawning_complete.add_listener(_ready)  # type: ignore[no-untyped-call]
