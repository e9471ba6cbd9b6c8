"""Faults on a service, through the backend: crash (SIGKILL, optional restart) and pause.

Context managers like every fault: ``__exit__`` always undoes what ``__enter__`` did - a paused
service is resumed, a crashed one restarted (when the scenario asks the harness to restart it).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from harness.scenario.models import CrashFault, PauseFault
from harness.targets.backend import Backend


class ServiceCrash(AbstractContextManager["ServiceCrash"]):
    """SIGKILL on enter; relaunch on exit if ``restart``. Without restart the fault clears itself:
    ``cleared_at`` is the injection instant (the target's own supervisor must bring it back)."""

    def __init__(self, spec: CrashFault, backend: Backend) -> None:
        self.spec = spec
        self.backend = backend
        self.clears_itself = not spec.restart

    def __enter__(self) -> ServiceCrash:
        self.backend.kill(self.spec.service)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.spec.restart:
            # Relaunch without waiting for health: the time it takes to come back is part of the
            # recovery being measured, not something the harness should hide.
            self.backend.restart(self.spec.service, wait=False)


class ServicePause(AbstractContextManager["ServicePause"]):
    clears_itself = False

    def __init__(self, spec: PauseFault, backend: Backend) -> None:
        self.spec = spec
        self.backend = backend

    def __enter__(self) -> ServicePause:
        try:
            self.backend.pause(self.spec.service)
        except BaseException:
            self.backend.resume(self.spec.service)
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.backend.resume(self.spec.service)
