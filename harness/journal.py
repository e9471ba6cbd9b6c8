"""The journal: the append-only event log of a run (``journal.jsonl``), written as it happens.

One JSON object per line: ``t_ns`` (run clock), ``t`` (seconds since the run's start), ``event``
and the event's fields. Each line is flushed when written, so a crash leaves a readable prefix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.events import RunEvent

JOURNAL_NAME = "journal.jsonl"


class Journal:
    def __init__(self, path: Path, t0_ns: int) -> None:
        self.path = path
        self.t0_ns = t0_ns
        self._file = path.open("a", encoding="utf-8")
        self.events: list[RunEvent] = []

    def __call__(self, event: RunEvent) -> None:
        self.events.append(event)
        if self._file.closed:
            return
        line = {"t_ns": event.t_ns, "t": round((event.t_ns - self.t0_ns) / 1e9, 6), "event": event.kind}
        line.update(event.data)
        self._file.write(json.dumps(line, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a journal; a torn last line is skipped."""
    entries: list[dict[str, Any]] = []
    if not path.exists():
        return entries
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return entries
