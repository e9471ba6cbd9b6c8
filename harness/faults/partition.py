"""A network partition: every link between two groups of services black-holed, both ways.

Toxiproxy cannot drop packets, and does not need to: a ``timeout`` toxic with no deadline on both
streams of every crossing link is what a partition looks like to the services (connections hang,
nothing arrives). Built from :class:`~harness.faults.link.LinkFault`, so clearing is the same.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from harness.faults.link import LinkFault
from harness.scenario.models import PartitionFault, TimeoutFault
from harness.teardown import Teardown
from harness.toxiproxy.proxies import LinkProxies


class Partition(AbstractContextManager["Partition"]):
    clears_itself = False

    def __init__(self, spec: PartitionFault, links: list[str], proxies: LinkProxies, fault_id: str) -> None:
        self.spec = spec
        self.links = links
        self.proxies = proxies
        self.fault_id = fault_id
        self._stack = Teardown()

    def __enter__(self) -> Partition:
        try:
            for n, link in enumerate(self.links):
                hole = TimeoutFault(
                    kind="timeout",
                    link=link,
                    at=self.spec.at,
                    duration=self.spec.duration,
                    timeout=0.0,
                    direction="both",
                )
                self._stack.enter(
                    f"black hole on {link}", LinkFault(hole, self.proxies, f"{self.fault_id}-{n}")
                )
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()
