"""One exception root, split the way exit codes are.

* :class:`ScenarioError` - the user's input is wrong (exit 2).
* :class:`InfrastructureError` - Toxiproxy, Docker, a process or the target misbehaved (exit 3).
* :class:`ExpectationMissed` - the system under test missed a stated target (exit 1).
* :class:`HarnessFailure` - a part of the harness (Toxiproxy, Locust) died mid-trial (exit 3).
* :class:`Aborted` - a scenario's ``abort:`` bound was crossed; the rehearsal stopped (exit 4).
* :class:`Interrupted` - SIGINT/SIGTERM (exit 130).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    OK = 0
    EXPECTATION_MISSED = 1
    USAGE = 2
    INFRASTRUCTURE = 3
    ABORTED = 4  # an abort bound was crossed: faults cleared, load stopped, what was measured reported
    UNHEALTHY_BEFORE_FAULT = 5  # the target never met its SLO before the first fault: no verdict
    INTERRUPTED = 130


class AftershockError(Exception):
    """Root of every error aftershock raises on purpose."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's file: where, what, and how to fix it."""

    file: str
    field: str
    message: str
    value: object = None
    line: int | None = None
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class ScenarioError(AftershockError):
    """A scenario or target file is invalid. Carries every problem found, not just the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InfrastructureError(AftershockError):
    """Toxiproxy, a service process, Docker or the network did not do what was asked."""

    exit_code = ExitCode.INFRASTRUCTURE


class ExpectationMissed(AftershockError):
    exit_code = ExitCode.EXPECTATION_MISSED


class Interrupted(AftershockError):
    """SIGINT or SIGTERM arrived; teardown runs, what was measured is written."""

    exit_code = ExitCode.INTERRUPTED


class HarnessFailure(InfrastructureError):
    """A part of the harness died during a trial: that trial says nothing about the target."""

    def __init__(self, component: str, label: str, at: float, detail: str) -> None:
        self.component = component  # "toxiproxy", "locust": what the journal names
        self.at = at  # when it was found dead, seconds since the run's start
        self.detail = detail
        super().__init__(f"{label} died at t={at:.2f}s: {detail}")


class Aborted(AftershockError):
    """A stated abort bound was crossed: faults cleared, load stopped, what was measured kept."""

    exit_code = ExitCode.ABORTED

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"aborted: {reason}")
