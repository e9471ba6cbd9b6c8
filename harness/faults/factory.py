"""Faults by hand, for tests written in Python: ``with fault.latency("api->db", 500): ...``.

Each method returns the same context manager a scenario's timeline uses, so a fault injected
from a test is cleared on every exit path exactly like one injected by a rehearsal.
"""

from __future__ import annotations

import itertools
from contextlib import AbstractContextManager
from typing import Any

from harness.faults.link import (
    LinkEffect,
    LinkFault,
    latency_toxics,
    reset_toxics,
    response_loss_toxics,
    timeout_toxics,
)
from harness.faults.partition import Partition, crossing_links
from harness.faults.service import ServiceCrash, ServicePause
from harness.scenario.target import Target
from harness.targets.backend import Backend
from harness.toxiproxy.proxies import LinkProxies


class FaultFactory:
    """Only the effect is given here; the timing is the caller's ``with`` block."""

    def __init__(self, target: Target, proxies: LinkProxies, backend: Backend) -> None:
        self.target = target
        self.proxies = proxies
        self.backend = backend
        self._ids = itertools.count(1)

    def _id(self) -> str:
        return f"manual{next(self._ids)}"

    def _link(self, link: str, effect: LinkEffect) -> AbstractContextManager[Any]:
        if link not in self.target.links:
            raise ValueError(
                f"{link!r} is not a link of target {self.target.name!r}; links: {self.target.links}"
            )
        return LinkFault(effect, self.proxies, self._id())

    def latency(
        self, link: str, ms: float, jitter_ms: float = 0, direction: str = "downstream", toxicity: float = 1.0
    ) -> AbstractContextManager[Any]:
        toxics = latency_toxics(ms / 1000, jitter_ms / 1000, direction, toxicity)
        return self._link(link, LinkEffect(link, toxics))

    def down(self, link: str) -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, disable=True))

    def timeout(self, link: str, after_ms: float = 0) -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, timeout_toxics(after_ms / 1000)))

    def reset(self, link: str) -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, reset_toxics()))

    def response_loss(self, link: str, toxicity: float = 1.0) -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, response_loss_toxics(toxicity)))

    def partition(self, *groups: list[str]) -> AbstractContextManager[Any]:
        return Partition(crossing_links(groups, self.target), self.proxies, self._id())

    def crash(self, service: str, restart: bool = True) -> AbstractContextManager[Any]:
        """SIGKILL on enter; relaunched on exit (``restart``), without waiting for health."""
        return ServiceCrash(service, self.backend, restart=restart)

    def pause(self, service: str) -> AbstractContextManager[Any]:
        return ServicePause(service, self.backend)
