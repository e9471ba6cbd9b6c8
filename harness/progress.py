"""Progress on the terminal: one line per phase, and a live load status during the load.

A listener of run events (it never asks the orchestrator anything). Lines are stamped relative to
the run's start. During load a status line updates in place on a terminal and is printed every
few seconds otherwise, so a CI log stays readable.
"""

from __future__ import annotations

import sys
from typing import TextIO

from harness.events import (
    Audited,
    DeployStarted,
    Drained,
    FaultCleared,
    FaultInjected,
    HarnessFailed,
    LoadProgress,
    LoadStarted,
    LoadStopped,
    PhaseStarted,
    ReportWriting,
    RollbackActionDone,
    RollbackConfirmed,
    RollbackTriggered,
    RollbackUnconfirmed,
    RunAborted,
    RunError,
    RunEvent,
    RunInterrupted,
    RunStarted,
    ServiceUp,
    TeardownDone,
    ToxiproxyUp,
    TrialStarted,
)
from harness.monitoring.events import AlertReceived, MonitoringStarted


def scenario_words(e: RunStarted) -> str:
    """``on process, mode fragile, 3 trial(s), seed 7, 2 load workers``: the scenario as run."""
    parts = [f"on {e.backend}"]
    if e.mode:
        parts.append(f"mode {e.mode}")
    parts.append(f"{e.trials} trial(s)")
    if "seed" in e.overrides:
        parts.append(f"seed {e.seed}")
    if e.load_workers > 1:
        parts.append(f"{e.load_workers} load workers")
    return ", ".join(parts)


def describe(e: RunEvent) -> str | None:
    """One line of progress for an event, or None for events the display does not show."""
    match e:
        case RunStarted():
            return f"run {e.run_id}: scenario {e.scenario} ({scenario_words(e)})"
        case TrialStarted():
            return f"trial {e.trial}: starting target {e.target}"
        case ToxiproxyUp():
            return f"toxiproxy {e.version} on {e.url}"
        case ServiceUp():
            return f"service {e.service} up ({e.address or 'no port'})"
        case LoadStarted():
            return f"load: {e.users} users for {e.duration:g}s"
        case FaultInjected():
            return f"fault injected: {e.label}"
        case FaultCleared():
            return f"fault cleared: {e.label}" + (" (forced)" if e.forced else "")
        case LoadStopped():
            return "load stopped"
        case DeployStarted():
            return f"deploying {e.service} {e.version} (was {e.previous})"
        case RollbackTriggered():
            return f"rollback triggered ({e.action}): {e.reason}"
        case RollbackActionDone():
            return "rollback action done" if e.ok else f"rollback action FAILED: {e.error}"
        case RollbackConfirmed():
            return f"rolled-back version confirmed: {e.how}"
        case RollbackUnconfirmed():
            return f"rolled-back version NOT confirmed: {e.why}"
        case Drained():
            return f"drained in {e.waited:.1f}s ({e.pending} still pending)"
        case Audited():
            return f"audit: {e.summary}"
        case TeardownDone():
            return "target torn down"
        case PhaseStarted():
            return (f"trial {e.trial}: " if e.trial else "") + e.what
        case ReportWriting():
            return f"writing reports: {e.path}"
        case RunInterrupted():
            return f"interrupted: {e.reason}; clearing faults and tearing down"
        case HarnessFailed():
            return f"harness failure ({e.component}): {e.detail.splitlines()[0] if e.detail else ''}"
        case RunAborted():
            return f"ABORTED: {e.reason}; clearing every fault, stopping the load"
        case RunError():
            lines = e.message.splitlines()
            return f"error: {lines[0] if lines else ''}"
        case MonitoringStarted():
            return f"monitoring: prometheus {e.prometheus}, alertmanager {e.alertmanager}"
        case AlertReceived():
            return f"alert {e.status.upper()}: {e.alertname} ({'symptom' if e.symptom else 'cause'})"
    return None


class Progress:
    """Progress on stderr, relative to the run's start: one line per phase; during load a status
    line that updates in place on a terminal and is printed every 5 s otherwise (CI logs)."""

    def __init__(self, t0_ns: int, stream: TextIO | None = None) -> None:
        self.t0_ns = t0_ns
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._status = False

    def __call__(self, event: RunEvent) -> None:
        stamp = f"[{(event.t_ns - self.t0_ns) / 1e9:7.2f}s]"
        if isinstance(event, LoadProgress):
            faults = ", ".join(event.faults) or "no fault"
            text = (
                f"{stamp} load {event.elapsed:4.0f}/{event.total:g}s  {event.rps:6.1f} req/s"
                f"  {100 * event.error_rate:5.1f}% failing  ({faults})"
            )
            if self.live:
                print("\r\x1b[2K" + text, end="", file=self.stream, flush=True)
                self._status = True
            else:
                print(text, file=self.stream, flush=True)
            return
        line = describe(event)
        if line:
            prefix = "\r\x1b[2K" if self._status else ""
            self._status = False
            print(f"{prefix}{stamp} {line}", file=self.stream, flush=True)
