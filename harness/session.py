"""A target up and running: its own Toxiproxy, one proxy per link, every service started and healthy.

The orchestrator runs one per trial; the pytest fixtures hand one to a user's test. A context
manager: whatever was started is stopped on exit, newest first, even if the start failed half-way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from harness.events import EventBus
from harness.resource import Resource
from harness.scenario.target import Target
from harness.targets.backend import Backend
from harness.targets.parallel_start import start_in_parallel
from harness.teardown import Teardown
from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.provision import TOXIPROXY_VERSION, find_toxiproxy
from harness.toxiproxy.proxies import LinkProxies


def make_backend(
    kind: str,
    target: Target,
    target_dir: Path,
    work_dir: Path,
    run_id: str,
    env_overrides: dict[str, dict[str, str]],
    bus: EventBus,
) -> Backend:
    if kind == "compose":
        from harness.compose.backend import ComposeBackend

        return ComposeBackend(
            target, target_dir, work_dir, run_id, env_overrides=env_overrides, emit=bus.emit
        )
    if kind == "docker":
        from harness.docker.backend import DockerBackend

        return DockerBackend(target, target_dir, work_dir, run_id, env_overrides=env_overrides, emit=bus.emit)
    from harness.targets.process import ProcessBackend

    return ProcessBackend(target, target_dir, work_dir, run_id, env_overrides=env_overrides, emit=bus.emit)


def mode_env(target: Target, mode: str | None, env: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """A target mode's environment, then explicit overrides (which win)."""
    merged: dict[str, dict[str, str]] = {}
    for layer in (target.modes.get(mode or "", {}), env):
        for service, values in layer.items():
            merged.setdefault(service, {}).update(values)
    return merged


class TargetSession(Resource):
    def __init__(
        self,
        target: Target,
        target_dir: Path,
        work_dir: Path,
        run_id: str,
        *,
        backend: str = "process",
        env_overrides: dict[str, dict[str, str]] | None = None,
        bus: EventBus | None = None,
        seed: int = 1,
        toxiproxy_binary: Path | None = None,
    ) -> None:
        self.target = target
        self.target_dir = target_dir
        self.work_dir = work_dir
        self.run_id = run_id
        self.backend_kind = backend
        self.env_overrides = env_overrides or {}
        self.bus = bus or EventBus()
        self.seed = seed
        self.toxiproxy_binary = toxiproxy_binary
        self._td = Teardown()

    def stop(self) -> None:
        """Everything started, newest first; every step runs (see :class:`~harness.teardown.Teardown`)."""
        self._td.close()

    def start(self) -> None:
        binary = self.toxiproxy_binary or find_toxiproxy()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # The backend before Toxiproxy: on Docker, Toxiproxy is a container on the backend's network.
        self.backend = self._td.enter(
            "services",
            make_backend(
                self.backend_kind,
                self.target,
                self.target_dir,
                self.work_dir,
                self.run_id,
                self.env_overrides,
                self.bus,
            ),
        )
        log = self.work_dir / "toxiproxy.log"
        self.server = self._td.enter(
            "toxiproxy server",
            self.backend.toxiproxy(binary, log, seed=self.seed),
        )
        self.bus.emit("toxiproxy_up", version=TOXIPROXY_VERSION, url=self.server.url, pid=self.server.pid)
        self.proxies = self._td.enter("proxies", LinkProxies(self.server, self.run_id))
        links: dict[str, dict[str, str]] = {name: {} for name in self.target.services}
        for link in self.target.links:
            client, server = self.target.link_ends(link)
            links[client][link] = self.proxies.create(link, self.backend.upstream_address(server))
        if getattr(self.backend, "parallel_start", False):
            start_in_parallel(
                self.target.needs(), lambda service: self.backend.start(service, links[service])
            )
        else:
            for service in self.target.start_order():
                self.backend.start(service, links[service])

    def enter(self, name: str, cm: AbstractContextManager[Any]) -> Any:
        """Tie another resource (load, faults) to this session's teardown, newest first."""
        return self._td.enter(name, cm)

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        return self.server.client

    def url(self, service: str | None = None) -> str:
        """Base URL of an HTTP service (default: the entrypoint)."""
        return self.backend.entry_url(service or self.target.entrypoint)
