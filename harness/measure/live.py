"""Health while the run is going: the ledger shards tailed as they grow.

Used to act during a rehearsal (an automatic rollback once the SLO has been violated for a while,
as a deploy pipeline or an on-call runbook would). The final figures never come from here: they
come from :mod:`harness.analysis` on the complete ledger. Load processes flush their shards every
200 ms, so the live view lags; windows are judged ``lag`` seconds behind now.

Live, a request counts when it *completed*, unlike the final figures (which count a failure
where it was sent, :mod:`harness.measure.health`): a slow failure is only known once it ends,
and placing it at its start would drop it into a window already judged. A live decision may so
come up to one request timeout late; the figures it is measured by do not.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

from harness.load.ledger import COLUMNS, SHARD_GLOB
from harness.measure.health import HealthPolicy

_END = COLUMNS.index("end_ns")
_START = COLUMNS.index("start_ns")
_OUTCOME = COLUMNS.index("outcome")


class LedgerTail:
    """Reads only the complete lines appended to each shard since the last call."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[Path, int] = {}

    def poll(self) -> list[tuple[int, int, bool]]:
        """New rows as ``(start_ns, end_ns, ok)``."""
        rows: list[tuple[int, int, bool]] = []
        for path in sorted(self.directory.glob(SHARD_GLOB)):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n")
            if end < 0:
                continue
            self._offsets[path] = offset + end + 1
            for line in chunk[: end + 1].decode("utf-8", errors="replace").splitlines():
                parts = line.split(",")
                if len(parts) < len(COLUMNS) or not parts[_END].isdigit():
                    continue  # the header, or a row with quoted commas we do not need here
                rows.append((int(parts[_START]), int(parts[_END]), parts[_OUTCOME] == "ok"))
        return rows


class LiveHealth:
    """The SLO judged on the most recent window, and how long it has been violated without a break."""

    def __init__(self, directory: Path, policy: HealthPolicy, lag: float = 0.4) -> None:
        self.tail = LedgerTail(directory)
        self.policy = policy
        self.lag_ns = round(lag * 1e9)
        self._recent: deque[tuple[int, int, bool]] = deque()
        self.unhealthy_since: int | None = None

    def update(self, now_ns: int) -> bool:
        """Judge the window ending ``lag`` before ``now_ns``; returns whether it is healthy."""
        self._recent.extend(self.tail.poll())
        end = now_ns - self.lag_ns
        start = end - round(self.policy.window * 1e9)
        while self._recent and self._recent[0][1] <= start - round(5e9):
            self._recent.popleft()  # keep a little history: rows arrive out of order across shards
        inside = [(s, e, ok) for s, e, ok in self._recent if start < e <= end]
        healthy = self._judge(inside)
        if healthy:
            self.unhealthy_since = None
        elif self.unhealthy_since is None:
            self.unhealthy_since = end
        return healthy

    def _judge(self, rows: list[tuple[int, int, bool]]) -> bool:
        if not rows:
            return False
        ok = sum(1 for _, _, good in rows if good)
        if ok / len(rows) < self.policy.success_rate - 1e-12:
            return False
        latencies = np.array([(e - s) / 1e9 for s, e, _ in rows])
        if (
            self.policy.p95_latency is not None
            and float(np.percentile(latencies, 95)) > self.policy.p95_latency
        ):
            return False
        return not (
            self.policy.p99_latency is not None
            and float(np.percentile(latencies, 99)) > self.policy.p99_latency
        )

    def unhealthy_for(self, now_ns: int) -> float:
        """Seconds the SLO has been violated without a healthy window in between (0 if healthy)."""
        if self.unhealthy_since is None:
            return 0.0
        return (now_ns - self.lag_ns - self.unhealthy_since) / 1e9


class LoadTicker:
    """Throughput and error rate of the last interval, for the progress display."""

    def __init__(self, directory: Path, interval: float) -> None:
        self.tail = LedgerTail(directory)
        self.interval_ns = round(interval * 1e9)
        self._last: int | None = None

    def due(self, now_ns: int) -> tuple[float, float] | None:
        """``(requests per second, share failing)`` once per interval, else None."""
        if self._last is None:
            self._last = now_ns
            self.tail.poll()
            return None
        if now_ns - self._last < self.interval_ns:
            return None
        rows = self.tail.poll()
        span = (now_ns - self._last) / 1e9
        self._last = now_ns
        failed = sum(1 for _, _, ok in rows if not ok)
        return len(rows) / span, (failed / len(rows) if rows else 1.0)
