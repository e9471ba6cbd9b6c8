"""The ledger: one row per request the load generator made, written as the run goes.

Each load process writes its own CSV shard (``ledger-<pid>.csv``) so that Locust's
distributed mode needs no shared file. Times are absolute ``time.monotonic_ns()`` stamps
(see :mod:`harness.clock`); analysis subtracts the run's start.

Outcome, as DESIGN.md defines it:

* ``ok`` - the client got a success answer (acknowledged).
* ``fail`` - definite failure: the server said it did not apply (4xx) or the request was
  refused before it was sent.
* ``indeterminate`` - timeout, reset after sending, ambiguous 5xx: it may or may not have applied.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Outcome = Literal["ok", "fail", "indeterminate"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "fail", "indeterminate")

COLUMNS = (
    "id",
    "op",
    "key",
    "start_ns",
    "end_ns",
    "outcome",
    "status",
    "latency_ms",
    "attempt",
    "error",
    "value",
)
SHARD_GLOB = "ledger-*.csv"


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    id: str
    op: str
    key: str  # idempotency key, "" for reads
    start_ns: int
    end_ns: int
    outcome: Outcome
    status: int  # HTTP status, 0 when no answer came
    latency_ms: float
    attempt: int  # 1 for the first send, 2+ for resends under the same key
    error: str
    value: str = ""  # what the request asked to be stored (compared with the audit for corruption)

    def row(self) -> list[object]:
        return [
            self.id,
            self.op,
            self.key,
            self.start_ns,
            self.end_ns,
            self.outcome,
            self.status,
            f"{self.latency_ms:.3f}",
            self.attempt,
            self.error,
            self.value,
        ]


class LedgerClosedError(RuntimeError):
    """A row arrived after its shard was closed: the ledger would miss a request, so say so loudly."""


class LedgerWriter:
    """Appends records to one shard. Call :meth:`flush` often; rows are never rewritten.

    The load closes a shard only once no request is in flight (see :mod:`harness.load.user`);
    a write after :meth:`close` is a harness bug and raises :class:`LedgerClosedError`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        new = not path.exists() or path.stat().st_size == 0
        self._file = path.open("a", newline="", encoding="utf-8", buffering=1 << 16)
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(COLUMNS)
            self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, record: LedgerRecord) -> None:
        if self._file.closed:
            raise LedgerClosedError(f"{self.path} is closed; request {record.id} ({record.key}) not recorded")
        self._csv.writerow(record.row())
        self.rows += 1

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def shard_paths(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(SHARD_GLOB))


def read_records(paths: list[Path]) -> Iterator[LedgerRecord]:
    """Every complete row of every shard. A torn last line (a crash mid-write) is skipped."""
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            text = fh.read()
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None:
            continue
        for row in reader:
            if len(row) != len(COLUMNS):
                continue
            yield LedgerRecord(
                id=row[0],
                op=row[1],
                key=row[2],
                start_ns=int(row[3]),
                end_ns=int(row[4]),
                outcome=row[5],  # type: ignore[arg-type]
                status=int(row[6]),
                latency_ms=float(row[7]),
                attempt=int(row[8]),
                error=row[9],
                value=row[10],
            )
