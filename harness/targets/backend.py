"""What every backend (local processes, Docker) offers the orchestrator.

The orchestrator does not know which backend runs: it asks for addresses, starts services in
order with the proxy addresses of their links, and injects service-level faults through here.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from harness.errors import InfrastructureError
from harness.scenario.models import CrashScope, CrashSignal
from harness.scenario.target import PLACEHOLDER

if TYPE_CHECKING:
    from harness.toxiproxy.server import ToxiproxyServer


class Backend(AbstractContextManager["Backend"], abc.ABC):
    name: str

    @abc.abstractmethod
    def toxiproxy(self, binary: Path, log_path: Path, seed: int = 1) -> ToxiproxyServer:
        """The run's Toxiproxy server where this backend's services can reach it (not yet started)."""

    @abc.abstractmethod
    def upstream_address(self, service: str) -> str:
        """``host:port`` where Toxiproxy reaches ``service`` (the server end of a link)."""

    @abc.abstractmethod
    def entry_url(self, service: str) -> str:
        """Base URL the harness (load, health, audit) uses for an HTTP service."""

    @abc.abstractmethod
    def start(self, service: str, links: dict[str, str], wait: bool = True) -> None:
        """Start ``service`` with its link placeholders bound to ``links``; with ``wait``, until healthy."""

    @abc.abstractmethod
    def kill(self, service: str, signal: CrashSignal = "KILL", scope: CrashScope = "group") -> None:
        """Send ``signal`` to the service's processes in ``scope``: ``group`` = all of them, ``main`` =
        its main process, ``children`` = every other one. KILL returns once they are gone; TERM and
        INT once sent (what the service does with them is what the rehearsal measures)."""

    def network_partition(self, groups: list[list[str]], fault_id: str) -> AbstractContextManager[Any] | None:
        """What a partition between ``groups`` cuts besides the links' proxies: the services' own
        network paths (Docker, Compose). None where there are none to cut (local processes share
        the loopback interface; only their links can be cut)."""
        return None

    @abc.abstractmethod
    def pause(self, service: str) -> None: ...

    @abc.abstractmethod
    def resume(self, service: str) -> None: ...

    @abc.abstractmethod
    def restart(self, service: str, wait: bool = True) -> None:
        """Start a killed service again (same address, same links); with ``wait``, until healthy."""

    def deploy(self, service: str, version: str) -> None:
        """Replace ``service`` with ``version`` (stop, start the new one, wait until healthy)."""
        raise InfrastructureError(f"the {self.name} backend cannot deploy versions")

    def version(self, service: str) -> str | None:
        """The version ``service`` runs now (None for a service without versions)."""
        return None

    @abc.abstractmethod
    def stop_all(self) -> None:
        """Stop everything started; runs every step and raises all failures together."""

    @abc.abstractmethod
    def log_path(self, service: str) -> Path: ...

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


def render(template: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` / ``{name:arg}`` placeholders; the loader has already checked every name."""

    def sub(m: object) -> str:
        import re

        assert isinstance(m, re.Match)
        key = m.group(1) if m.group(2) is None else f"{m.group(1)}:{m.group(2)}"
        return values[key]

    return PLACEHOLDER.sub(sub, template)
