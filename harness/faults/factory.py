"""Faults by hand, for tests written in Python: ``with fault.latency("api->db", 500): ...``.

Each method returns the same context manager a scenario's timeline uses, so a fault injected
from a test is cleared on every exit path exactly like one injected by a rehearsal.
"""

from __future__ import annotations

import itertools
from contextlib import AbstractContextManager
from typing import Any

from harness.faults.link import LinkFault
from harness.faults.partition import Partition
from harness.faults.service import ServiceCrash, ServicePause
from harness.scenario.loader import partition_links
from harness.scenario.models import (
    CrashFault,
    DownFault,
    LatencyFault,
    PartitionFault,
    PauseFault,
    ResetFault,
    ResponseLossFault,
    TimeoutFault,
)
from harness.scenario.target import Target
from harness.targets.backend import Backend
from harness.toxiproxy.proxies import LinkProxies

_HOLD = {"at": 0.0, "duration": 1.0}  # timing belongs to the caller's `with` block


class FaultFactory:
    def __init__(self, target: Target, proxies: LinkProxies, backend: Backend) -> None:
        self.target = target
        self.proxies = proxies
        self.backend = backend
        self._ids = itertools.count(1)

    def _id(self) -> str:
        return f"manual{next(self._ids)}"

    def _check_link(self, link: str) -> None:
        if link not in self.target.links:
            raise ValueError(
                f"{link!r} is not a link of target {self.target.name!r}; links: {self.target.links}"
            )

    def latency(
        self, link: str, ms: float, jitter_ms: float = 0, direction: str = "downstream", toxicity: float = 1.0
    ) -> AbstractContextManager[Any]:
        self._check_link(link)
        spec = LatencyFault(
            kind="latency",
            link=link,
            latency=ms / 1000,
            jitter=jitter_ms / 1000,
            direction=direction,
            toxicity=toxicity,
            **_HOLD,
        )
        return LinkFault(spec, self.proxies, self._id())

    def down(self, link: str) -> AbstractContextManager[Any]:
        self._check_link(link)
        return LinkFault(DownFault(kind="down", link=link, **_HOLD), self.proxies, self._id())

    def timeout(self, link: str, after_ms: float = 0) -> AbstractContextManager[Any]:
        self._check_link(link)
        spec = TimeoutFault(kind="timeout", link=link, timeout=after_ms / 1000, **_HOLD)
        return LinkFault(spec, self.proxies, self._id())

    def reset(self, link: str) -> AbstractContextManager[Any]:
        self._check_link(link)
        return LinkFault(ResetFault(kind="reset", link=link, **_HOLD), self.proxies, self._id())

    def response_loss(self, link: str, toxicity: float = 1.0) -> AbstractContextManager[Any]:
        self._check_link(link)
        spec = ResponseLossFault(kind="response_loss", link=link, toxicity=toxicity, **_HOLD)
        return LinkFault(spec, self.proxies, self._id())

    def partition(self, *groups: list[str]) -> AbstractContextManager[Any]:
        spec = PartitionFault(kind="partition", groups=[list(g) for g in groups], **_HOLD)
        return Partition(spec, partition_links(spec, self.target), self.proxies, self._id())

    def crash(self, service: str, restart: bool = True) -> AbstractContextManager[Any]:
        """SIGKILL on enter; relaunched on exit (``restart``), without waiting for health."""
        return ServiceCrash(CrashFault(kind="crash", service=service, restart=restart, at=0.0), self.backend)

    def pause(self, service: str) -> AbstractContextManager[Any]:
        return ServicePause(PauseFault(kind="pause", service=service, **_HOLD), self.backend)
