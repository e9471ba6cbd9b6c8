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
    bandwidth_toxics,
    latency_toxics,
    limit_data_toxics,
    reset_toxics,
    response_loss_toxics,
    slicer_toxics,
    slow_close_toxics,
    timeout_toxics,
)
from harness.faults.partition import Partition, crossing_links
from harness.faults.service import ServiceCrash, ServicePause
from harness.scenario.models import CrashScope, CrashSignal
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
        fault_id = self._id()
        network = self.backend.network_partition([list(g) for g in groups], fault_id)
        return Partition(crossing_links(groups, self.target), self.proxies, fault_id, network)

    def bandwidth(
        self, link: str, rate_kb: int, direction: str = "downstream", toxicity: float = 1.0
    ) -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, bandwidth_toxics(rate_kb, direction, toxicity)))

    def slicer(
        self,
        link: str,
        average_size: int,
        size_variation: int = 0,
        delay_ms: float = 0,
        direction: str = "downstream",
    ) -> AbstractContextManager[Any]:
        toxics = slicer_toxics(average_size, size_variation, delay_ms / 1000, direction)
        return self._link(link, LinkEffect(link, toxics))

    def slow_close(
        self, link: str, delay_ms: float, direction: str = "downstream"
    ) -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, slow_close_toxics(delay_ms / 1000, direction)))

    def limit_data(self, link: str, limit: int, direction: str = "downstream") -> AbstractContextManager[Any]:
        return self._link(link, LinkEffect(link, limit_data_toxics(limit, direction)))

    def crash(
        self,
        service: str,
        restart: bool = True,
        signal: CrashSignal = "KILL",
        scope: CrashScope = "group",
    ) -> AbstractContextManager[Any]:
        """``signal`` to ``scope`` on enter; relaunched on exit (``restart``), without waiting for health."""
        return ServiceCrash(service, self.backend, restart=restart, signal=signal, scope=scope)

    def pause(self, service: str) -> AbstractContextManager[Any]:
        return ServicePause(service, self.backend)

    def oom(self, service: str, restart: bool = True, within_s: float = 10.0) -> AbstractContextManager[Any]:
        """A real kernel OOM kill of the service's largest process on enter (Docker and Compose
        backends); with ``restart`` its limit is restored and a dead container started on exit."""
        from harness.faults.resources import ContainerOom, container_backend  # the Docker SDK: lazily

        containers = container_backend(self.backend)
        return ContainerOom(self._service(service), containers, restart=restart, within=within_s)

    def cpu_starve(self, service: str, cpus: float = 0.05) -> AbstractContextManager[Any]:
        """The container's CPU quota cut to ``cpus`` on enter, restored on exit (Docker and Compose)."""
        from harness.faults.resources import CpuStarve, container_backend  # the Docker SDK: lazily

        return CpuStarve(self._service(service), container_backend(self.backend), cpus)

    def _service(self, service: str) -> str:
        if service not in self.target.services:
            known = sorted(self.target.services)
            raise ValueError(f"{service!r} is not a service of target {self.target.name!r}: {known}")
        return service
