"""What every backend (local processes, Docker, Compose) offers the orchestrator.

The orchestrator does not know which backend runs: it asks for addresses, starts services in
order with the proxy addresses of their links, and injects service-level faults through here.
Entering a backend runs :meth:`Backend.prepare` (images, networks) and undoes it if that fails
(:func:`harness.resource.start_or_undo`); leaving it stops everything (:meth:`Backend.stop_all`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from harness.errors import InfrastructureError
from harness.resource import start_or_undo
from harness.scenario.models import CrashScope, CrashSignal
from harness.scenario.target import PLACEHOLDER, Target

if TYPE_CHECKING:
    from harness.toxiproxy.server import ToxiproxyServer


Emit = Callable[..., Any]  # ``bus.emit``: a run event by tag and fields


def _no_events(*args: Any, **kwargs: Any) -> None:
    """Where events go when nobody listens (a backend used outside a run)."""


class Backend(AbstractContextManager["Backend"], abc.ABC):
    name: str
    run_dir: Path  # services' logs go to ``<run_dir>/services/<name>.log``
    entry_host = "127.0.0.1"  # where the harness reaches published services

    def __init__(
        self,
        target: Target,
        target_dir: Path,
        run_dir: Path,
        run_id: str,
        env_overrides: dict[str, dict[str, str]] | None = None,
        emit: Emit | None = None,
    ) -> None:
        """What every backend keeps: the target, where the run writes, the environment overrides
        per service, where events go, and each service's current version (its first, at start)."""
        self.target = target
        self.target_dir = target_dir
        self.run_dir = run_dir
        self.run_id = run_id
        self.env_overrides = env_overrides or {}
        self.emit: Emit = emit or _no_events
        self._versions: dict[str, str | None] = {
            name: svc.version or next(iter(svc.versions), None) for name, svc in target.services.items()
        }
        (run_dir / "services").mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Self:
        start_or_undo(self.prepare, self.stop_all)
        return self

    def prepare(self) -> None:
        """What must exist before any service starts (images, a network); nothing by default."""

    @property
    @abc.abstractmethod
    def published_ports(self) -> Mapping[str, int]:
        """Host port of each service the harness reaches over HTTP (load, health, audit)."""

    def entry_url(self, service: str) -> str:
        """Base URL the harness (load, health, audit) uses for an HTTP service."""
        port = self.published_ports.get(service)
        if port is None:
            raise InfrastructureError(
                f"service {service!r} is not published to the host: only HTTP services are"
                f" ({', '.join(sorted(self.published_ports))})"
            )
        return f"http://{self.entry_host}:{port}"

    def log_path(self, service: str) -> Path:
        """Where ``service``'s output goes, every start of it marked."""
        return self.run_dir / "services" / f"{service}.log"

    @abc.abstractmethod
    def toxiproxy(self, binary: Path, log_path: Path, seed: int = 1) -> ToxiproxyServer:
        """The run's Toxiproxy server where this backend's services can reach it (not yet started)."""

    @abc.abstractmethod
    def upstream_address(self, service: str) -> str:
        """``host:port`` where Toxiproxy reaches ``service`` (the server end of a link)."""

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
        return self._versions.get(service)

    @abc.abstractmethod
    def stop_all(self) -> None:
        """Stop everything started; runs every step and raises all failures together."""

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
