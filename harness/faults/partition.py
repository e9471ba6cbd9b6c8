"""A network partition: every link between two groups of services black-holed, both ways, and
on Docker and Compose their own network paths cut too.

Toxiproxy cannot drop packets, and does not need to: a ``timeout`` toxic with no deadline on both
streams of every crossing link is what a partition looks like to the services (connections hang,
nothing arrives). Built from :class:`~harness.faults.link.LinkFault`, so clearing is the same.
A service that reaches another directly, not through a declared link, would not notice; so the
backend's ``network_partition`` (containers moved off the networks the groups share, see
:mod:`harness.docker.partition`) is entered after the links and cleared before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from harness.faults.link import LinkEffect, LinkFault, timeout_toxics
from harness.scenario.target import Target
from harness.teardown import Teardown
from harness.toxiproxy.proxies import LinkProxies


def crossing_links(groups: Sequence[Sequence[str]], target: Target) -> list[str]:
    """The target's links whose two ends are in different groups of the partition."""
    group_of = {name: g for g, group in enumerate(groups) for name in group}
    crossing = []
    for link in target.links:
        client, server = target.link_ends(link)
        if client in group_of and server in group_of and group_of[client] != group_of[server]:
            crossing.append(link)
    return crossing


class Partition(AbstractContextManager["Partition"]):
    clears_itself = False

    def __init__(
        self,
        links: list[str],
        proxies: LinkProxies,
        fault_id: str,
        network: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.links = links
        self.proxies = proxies
        self.fault_id = fault_id
        self.network = network
        self._stack = Teardown()

    def __enter__(self) -> Partition:
        try:
            for n, link in enumerate(self.links):
                hole = LinkEffect(link, timeout_toxics(0.0, "both"))
                self._stack.enter(
                    f"black hole on {link}", LinkFault(hole, self.proxies, f"{self.fault_id}-{n}")
                )
            if self.network is not None:
                self._stack.enter("the network partition", self.network)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()
