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
from dataclasses import dataclass
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


Row = tuple[int, int, bool]  # (start_ns, end_ns, ok) of one completed request


@dataclass(frozen=True)
class WindowStats:
    """One window of completed requests, as the live guards see it (the final figures come from
    :mod:`harness.measure.health`; both use numpy's linear percentiles on all latencies)."""

    end_ns: int
    requests: int
    error_share: float  # 1.0 when empty: silence while load runs is an outage (DESIGN: Health)
    p95: float | None  # seconds; None when empty
    p99: float | None


def window_stats(rows: list[Row], end_ns: int) -> WindowStats:
    if not rows:
        return WindowStats(end_ns, 0, 1.0, None, None)
    failed = sum(1 for _, _, ok in rows if not ok)
    latencies = np.array([(e - s) / 1e9 for s, e, _ in rows])
    return WindowStats(
        end_ns,
        len(rows),
        failed / len(rows),
        float(np.percentile(latencies, 95)),
        float(np.percentile(latencies, 99)),
    )


class LiveWindows:
    """Windows judged on a fixed grid (``start + k * step``), each exactly once, in order, ``lag``
    behind now. The grid, not the caller's timing, decides which windows exist, so a guard that
    acts on "crossed for Y s" acts at the same grid instant however late it was asked; only
    windows wholly after ``start`` are judged."""

    def __init__(
        self, directory: Path, *, window: float, step: float, start_ns: int, lag: float = 0.4
    ) -> None:
        self.tail = LedgerTail(directory)
        self.window_ns = round(window * 1e9)
        self.step_ns = round(step * 1e9)
        self.lag_ns = round(lag * 1e9)
        self.start_ns = start_ns
        self._next = start_ns + self.window_ns
        self._recent: deque[Row] = deque()

    def advance(self, now_ns: int) -> list[WindowStats]:
        """Every grid window that ended at least ``lag`` before ``now_ns`` and was not judged yet."""
        self._recent.extend(self.tail.poll())
        judged: list[WindowStats] = []
        while self._next <= now_ns - self.lag_ns:
            end, start = self._next, self._next - self.window_ns
            while self._recent and self._recent[0][1] <= start - round(5e9):
                self._recent.popleft()  # keep a little history: rows arrive out of order across shards
            judged.append(window_stats([r for r in self._recent if start < r[1] <= end], end))
            self._next += self.step_ns
        return judged


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

    def _judge(self, rows: list[Row]) -> bool:
        st = window_stats(rows, 0)
        if not st.requests or 1.0 - st.error_share < self.policy.success_rate - 1e-12:
            return False
        p95, p99 = self.policy.p95_latency, self.policy.p99_latency
        return not (
            (p95 is not None and st.p95 is not None and st.p95 > p95)
            or (p99 is not None and st.p99 is not None and st.p99 > p99)
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
