"""A partition of containers' own network paths (Docker and Compose backends).

The link part of a partition is Toxiproxy's (every crossing link black-holed). That leaves the
paths no link declares: two services on one Docker network reach each other directly, and a
partition that cuts only the proxies would not cut them. So, for every network that containers of
two or more groups share, each group but the first moves to a network of its own:

* a **cut network** ``<network>-cut-<fault>-<g>`` is created, labelled with the run like
  everything else (a dead run's is swept);
* each container of group ``g`` joins it under the *same aliases* it has on the shared network,
  then leaves the shared network: its own group still finds it by name, the other groups do not
  (connections in flight die with the interface);
* every other container on the shared network (Toxiproxy, services in no group) joins each cut
  network under its aliases too: they sit on both sides, as in the link partition, so declared
  links still reach Toxiproxy, which black-holes the crossing ones.

Published ports keep working (Docker re-programs them for the new network), so the load still
reaches a moved entrypoint. Clearing runs every step back, newest first, and reports every
failure: containers rejoin the shared network with their aliases, leave the cut network, which is
removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from harness.errors import InfrastructureError
from harness.teardown import Teardown

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container
    from docker.models.networks import Network


@dataclass(frozen=True)
class Attachment:
    """A container on a network, under these aliases."""

    container: Container
    network: str
    aliases: tuple[str, ...]


def attachments(container: Container) -> list[Attachment]:
    """The container's networks and its aliases on each (its short id is not an alias to keep)."""
    container.reload()
    networks: dict[str, Any] = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    short = str(container.id)[:12]
    return [
        Attachment(container, name, tuple(a for a in (cfg.get("Aliases") or []) if a != short))
        for name, cfg in networks.items()
    ]


def shared_networks(groups: Sequence[Sequence[Container]]) -> dict[str, list[int]]:
    """Networks that containers of two or more groups share, with the groups present on each."""
    present: dict[str, set[int]] = {}
    for g, group in enumerate(groups):
        for container in group:
            for a in attachments(container):
                present.setdefault(a.network, set()).add(g)
    return {n: sorted(gs) for n, gs in present.items() if len(gs) > 1}


class NetworkPartition(AbstractContextManager["NetworkPartition"]):
    """Cut the direct network paths between ``groups`` of containers (see the module docstring)."""

    def __init__(
        self,
        client: DockerClient,
        groups: Sequence[Sequence[Container]],
        labels: dict[str, str],
        fault_id: str,
    ) -> None:
        self.client = client
        self.groups = [list(g) for g in groups]
        self.labels = labels
        self.fault_id = fault_id
        self.cut: dict[str, list[str]] = {}  # shared network -> the cut networks made from it
        self._stack = Teardown()

    def __enter__(self) -> NetworkPartition:
        from docker.errors import DockerException

        try:
            for network, present in shared_networks(self.groups).items():
                self._split(network, present)
        except DockerException as exc:
            self._undo_after(exc)
            raise InfrastructureError(f"could not partition the containers' networks: {exc}") from None
        except BaseException as exc:
            self._undo_after(exc)
            raise
        return self

    def _undo_after(self, exc: BaseException) -> None:
        try:
            self._stack.close()
        except Exception as cleanup:
            exc.add_note(f"undoing the partial partition also failed: {cleanup}")

    def _split(self, name: str, present: list[int]) -> None:
        shared = self.client.networks.get(name)
        shared.reload()
        grouped = {str(c.id) for group in self.groups for c in group}
        others = [c for c in shared.containers if str(c.id) not in grouped]
        for g in present[1:]:  # the first group stays where it is
            cut = self._cut_network(name, g)
            for other in others:
                for a in attachments(other):
                    if a.network == name:
                        self._join(cut, a)
            for container in self.groups[g]:
                for a in attachments(container):
                    if a.network == name:
                        self._join(cut, a)
                        self._leave(shared, a)

    def _cut_network(self, name: str, g: int) -> Network:
        cut_name = f"{name}-cut-{self.fault_id}-{g}"
        network = self.client.networks.create(
            cut_name, driver="bridge", labels=self.labels, check_duplicate=True
        )
        self._stack.callback(f"remove the network {cut_name}", network.remove)
        self.cut.setdefault(name, []).append(cut_name)
        return network

    def _join(self, network: Network, a: Attachment) -> None:
        network.connect(a.container, aliases=list(a.aliases))
        self._stack.callback(
            f"take {a.container.name} off {network.name}", lambda: network.disconnect(a.container, force=True)
        )

    def _leave(self, shared: Network, a: Attachment) -> None:
        shared.disconnect(a.container)
        self._stack.callback(
            f"put {a.container.name} back on {shared.name} as {', '.join(a.aliases)}",
            lambda: shared.connect(a.container, aliases=list(a.aliases)),
        )

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()
