"""Run directories built by hand, as the orchestrator leaves them: journal, scenario copy, ledger.

The right answer of each is known (requests every 10 ms, failing in stated intervals), so the
analysis of a run dir is checked exactly, and every kind of run can be fed to the schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.load.ledger import LedgerRecord, LedgerWriter

T0 = 5_000_000_000_000
NS = 1_000_000_000


def at(seconds: float) -> int:
    return T0 + round(seconds * NS)


@dataclass
class RunDir:
    """A run under construction: add events (seconds since t0) and ledgers, then ``write``."""

    path: Path
    scenario_yaml: str
    trials: int = 1
    started: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    bad: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    load: dict[int, tuple[float, float]] = field(default_factory=dict)

    def event(self, t: float, tag: str, /, **data: Any) -> RunDir:
        self.events.append((t, tag, data))
        return self

    def trial(
        self, n: int, start: float, stop: float | None, bad: Sequence[tuple[float, float]] = ()
    ) -> RunDir:
        """A trial whose load runs ``start``..``stop`` (None: never stopped) and fails in ``bad``."""
        self.event(start - 0.5, "trial_started", trial=n, target="groundtruth")
        self.event(start, "load_started", trial=n, users=1, duration=20.0)
        if stop is not None:
            self.event(stop, "load_stopped", trial=n)
        self.bad[n] = list(bad)
        self.load[n] = (start, stop if stop is not None else start + 20.0)
        return self

    def fault(
        self, n: int, index: int, kind: str, target: str, inject: float, clear: float | None, **extra: Any
    ) -> RunDir:
        f = {"trial": n, "fault": index, "kind": kind, "target": target, "label": f"{kind}@{target}"}
        self.event(inject, "fault_injected", **f, scheduled_ns=at(inject - 0.001), call_ns=1000, **extra)
        if clear is not None:
            self.event(clear, "fault_cleared", **f, scheduled_ns=at(clear - 0.001), call_ns=1000)
        return self

    def write(self, finished: bool = True) -> Path:
        self.path.mkdir(parents=True)
        started = {
            "run_id": self.path.name,
            "scenario": "tiny",
            "backend": "process",
            "trials": self.trials,
            "t0_ns": T0,
            "seed": 1,
            "scenario_file": "scenarios/tiny.yaml",
            "target": "groundtruth",
            "wallclock": "2026-11-21T12:00:00+00:00",
            "clock": "CLOCK_MONOTONIC",
            "environment": {"python": "3.11"},
            **self.started,
        }
        events = [(0.001, "run_started", started), *sorted(self.events, key=lambda e: e[0])]
        if finished:
            end = max(t for t, _, _ in events) + 0.5
            events.append((end, "run_finished", {"complete": True, "trials_run": self.trials}))
        with (self.path / "journal.jsonl").open("w", encoding="utf-8") as fh:
            for t, kind, data in events:
                fh.write(json.dumps({"t_ns": at(t), "t": t, "event": kind, **data}) + "\n")
        (self.path / "scenario.yaml").write_text(self.scenario_yaml, encoding="utf-8")
        for n, (start, stop) in self.load.items():
            self._ledger(n, start, stop)
        return self.path

    def _ledger(self, n: int, start: float, stop: float) -> None:
        trial_dir = self.path / f"trial-{n}"
        trial_dir.mkdir()
        writer = LedgerWriter(trial_dir / "ledger-1.csv")
        for i in range(round((stop - start) / 0.01)):  # a request every 10 ms
            end_s = start + (i + 1) * 0.01
            bad = any(lo <= end_s < hi for lo, hi in self.bad[n])
            writer.write(
                LedgerRecord(
                    id=f"r{n}-{i}",
                    op="work",
                    key="",
                    start_ns=at(end_s - 0.004),
                    end_ns=at(end_s),
                    outcome="indeterminate" if bad else "ok",
                    status=503 if bad else 200,
                    latency_ms=4.0,
                    attempt=1,
                    error="",
                )
            )
        writer.close()
