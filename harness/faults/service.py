"""Faults on a service, through the backend: crash (a signal to a scope of its processes,
optional restart) and pause.

Context managers like every fault: ``__exit__`` always undoes what ``__enter__`` did - a paused
service is resumed, a crashed one restarted (when the scenario asks the harness to restart it).
"""

from __future__ import annotations

import re
import time
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from harness.clock import now_ns
from harness.scenario.models import CrashFault, CrashScope, CrashSignal
from harness.targets.backend import Backend


def wait_for_log(path: Path, pattern: str, within: float) -> str | None:
    """Wait for a new line of ``path`` matching ``pattern``; the line, or None after ``within`` s.

    Why: "kill the worker in the middle of a job" must not be left to luck. The service logs
    what it is doing; the crash waits for the line that says it is mid-job.
    """
    regex = re.compile(pattern)
    deadline = time.monotonic() + within
    try:
        offset = path.stat().st_size
    except OSError:
        offset = 0
    pending = b""
    while time.monotonic() < deadline:
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except OSError:
            chunk = b""
        offset += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            if regex.search(line):
                return line
        time.sleep(0.005)
    return None


class ServiceCrash(AbstractContextManager["ServiceCrash"]):
    """``signal`` to the service's ``scope`` on enter (after ``when_log`` matched, plus ``delay``);
    relaunch on exit if ``restart``. Without restart the fault clears itself: ``cleared_at`` is the
    injection instant (the target's own supervisor must bring it back)."""

    def __init__(
        self,
        service: str,
        backend: Backend,
        *,
        restart: bool = True,
        when_log: str | None = None,
        within: float = 10.0,
        signal: CrashSignal = "KILL",
        scope: CrashScope = "group",
        delay: float = 0.0,
    ) -> None:
        self.service = service
        self.backend = backend
        self.restart = restart
        self.when_log = when_log
        self.within = within
        self.signal: CrashSignal = signal
        self.scope: CrashScope = scope
        self.delay = delay
        self.clears_itself = not restart
        self.trigger: str | None = None
        self.kill_sent_ns: int | None = None  # when the signal went out (run clock)

    @classmethod
    def of(cls, spec: CrashFault, backend: Backend) -> ServiceCrash:
        """The effect of a scenario's crash (its ``at`` and ``duration`` are the timeline's)."""
        return cls(
            spec.service,
            backend,
            restart=spec.restart,
            when_log=spec.when_log,
            within=spec.within,
            signal=spec.signal,
            scope=spec.scope,
            delay=spec.delay,
        )

    def __enter__(self) -> ServiceCrash:
        if self.when_log:
            self.trigger = wait_for_log(self.backend.log_path(self.service), self.when_log, self.within)
            if self.trigger is not None and self.delay:
                # "200 ms after the job started": the kill lands mid-job, not at its first line
                time.sleep(self.delay)
        self.kill_sent_ns = now_ns()
        self.backend.kill(self.service, self.signal, self.scope)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.restart:
            # Relaunch without waiting for health: the time it takes to come back is part of the
            # recovery being measured, not something the harness should hide. A service whose main
            # survived (scope children, or a TERM it ignored) is stopped first, then started.
            self.backend.restart(self.service, wait=False)


class ServicePause(AbstractContextManager["ServicePause"]):
    clears_itself = False

    def __init__(self, service: str, backend: Backend) -> None:
        self.service = service
        self.backend = backend

    def __enter__(self) -> ServicePause:
        try:
            self.backend.pause(self.service)
        except BaseException:
            self.backend.resume(self.service)
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.backend.resume(self.service)


class ServiceDeploy(AbstractContextManager["ServiceDeploy"]):
    """Deploy another version on enter. Exit does nothing: a deploy is undone by the rollback
    (a redeploy, a flag, the user's command), which is what the rehearsal measures.

    ``effect_started_ns``: when the deploy began (``deploy_started``). A stop-start deploy hurts
    users from that instant, not from when the new version answers (DESIGN "Deploy window"), so
    the timeline journals it and the analysis counts the fault from it.
    """

    clears_itself = False

    def __init__(self, service: str, version: str, backend: Backend) -> None:
        self.service = service
        self.version = version
        self.backend = backend
        self.effect_started_ns: int | None = None

    def __enter__(self) -> ServiceDeploy:
        self.effect_started_ns = now_ns()  # the backend journals deploy_started as its first step
        self.backend.deploy(self.service, self.version)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
