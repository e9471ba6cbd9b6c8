"""The journal: the append-only event log of a run (``journal.jsonl``), written as it happens.

One JSON object per line: ``t_ns`` (run clock), ``t`` (seconds since the run's start), ``event``
(the event's tag) and the event's fields. Each line is flushed when written, so a crash leaves a
readable prefix; :func:`read_events` reads it back into the same event classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.events import RunEvent, event_from_json, event_to_json

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
        self._file.write(json.dumps(event_to_json(event, self.t0_ns), default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a journal as JSON; a torn (partly written) line is skipped."""
    entries: list[dict[str, Any]] = []
    if not path.exists():
        return entries
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def read_events(path: Path) -> list[RunEvent]:
    """The journal's events, as the classes that wrote them; unknown or torn lines are skipped."""
    events = (event_from_json(entry) for entry in read_journal(path))
    return [e for e in events if e is not None]
