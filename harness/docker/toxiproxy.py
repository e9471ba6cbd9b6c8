"""The run's Toxiproxy as a container on the run's Docker network.

Why a container and not the host's Toxiproxy process:

* **Clients stay inside the run network.** A service reaches its link as ``toxiproxy:<port>``
  (a network alias); proxies dial ``<service>:<port>`` through Docker's DNS at each connection, so
  a restarted container (new IP, same alias) is found without touching the proxy. A host-side
  Toxiproxy would have to listen on the bridge gateway (reachable from every network on the
  host, and blocked by common host firewalls) and dial container IPs that change on restart.
* **Nothing but the API leaves the network.** The REST API is published on ``127.0.0.1`` only;
  proxy ports are not published at all.
* **Same binary, no registry.** The cached ``toxiproxy-server`` is static (``CGO_ENABLED=0``), so
  its image is that one file on ``scratch`` (see :func:`harness.docker.toxiproxy_image.toxiproxy_image`).

:class:`DockerToxiproxy` *is a* :class:`~harness.toxiproxy.server.ToxiproxyServer` (same ``url``,
``client``, ``create_proxy``, ``restart``, ``stop``, context manager), so ``LinkProxies`` and the
link faults use it unchanged. Two differences a caller sees: ``create_proxy`` ignores the host of
``listen`` (a proxy listens on every interface of the Toxiproxy container, i.e. the run network)
and returns the address clients on the run network use (``toxiproxy:<port>``); ``pid`` is the
container's main process as the host sees it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from harness.docker import images, toxiproxy_image
from harness.docker.engine import ROLE_LABEL, container_name, docker_client
from harness.net import free_port
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError
from harness.toxiproxy.server import ToxiproxyServer, describe_exit

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container
    from docker.models.networks import Network


class DockerRun(Protocol):
    """What the Toxiproxy container needs of its run (the Docker backend provides it)."""

    run_id: str
    client: DockerClient
    labels: dict[str, str]
    build_labels: dict[str, str]
    network_name: str

    def ensure_network(self) -> Network: ...


ALIAS = "toxiproxy"
FIRST_PROXY_PORT = 20000  # proxy ports inside the container's own namespace: always free


@dataclass(kw_only=True)
class DockerToxiproxy(ToxiproxyServer):
    """Toxiproxy in a container of ``backend``'s run; enter it after the backend (it needs the network)."""

    backend: DockerRun
    _container: Container | None = field(default=None, init=False, repr=False)
    _next_port: int = field(default=FIRST_PROXY_PORT, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        if self._container is None:
            return None
        pid = self._container.attrs.get("State", {}).get("Pid")
        return int(pid) if pid else None

    @property
    def container_name(self) -> str:
        return container_name(self.backend.run_id, ALIAS)

    def start(self) -> None:
        """Build (or find) the image, start the container on the run network, wait until it answers."""
        network = self.backend.ensure_network()
        if not self.port:  # chosen once: a restarted server keeps its API address
            self.port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._container = self._create_and_start(self._image(), network)
        self.client = ToxiproxyClient(self.url)
        self._wait_answering(self._container)

    def _image(self) -> str:
        """The Toxiproxy image, built with a long-timeout client of its own."""
        build_client = docker_client(images.BUILD_TIMEOUT)
        try:
            return toxiproxy_image.toxiproxy_image(build_client, self.binary, self.backend.build_labels)
        finally:
            build_client.close()

    def _create_and_start(self, image: str, network: Network) -> Container:
        """The container, aliased ``toxiproxy`` on the run network, its API published on the host."""
        from docker.errors import DockerException

        backend = self.backend
        try:
            self._container = backend.client.containers.create(
                image,
                command=[
                    "-host",
                    "0.0.0.0",
                    "-port",
                    str(toxiproxy_image.TOXIPROXY_API_PORT),
                    "-seed",
                    str(self.seed),
                ],
                name=self.container_name,
                hostname=ALIAS,
                labels={**backend.labels, ROLE_LABEL: "toxiproxy"},
                environment={"LOG_LEVEL": os.environ.get("AFTERSHOCK_TOXIPROXY_LOG_LEVEL", "warn")},
                ports={f"{toxiproxy_image.TOXIPROXY_API_PORT}/tcp": (self.host, self.port)},
                network=network.name,
                networking_config={
                    network.name or backend.network_name: backend.client.api.create_endpoint_config(
                        aliases=[ALIAS]
                    )
                },
            )
            self._container.start()
        except DockerException as exc:
            raise ToxiproxyError(
                f"could not start the Toxiproxy container {self.container_name}: {exc}"
            ) from None
        return self._container

    def _wait_answering(self, container: Container) -> None:
        """Until the API answers; an exited container or the timeout raises with its log."""
        from docker.errors import DockerException

        def died() -> ToxiproxyError | None:
            try:
                container.reload()
            except DockerException as exc:
                return ToxiproxyError(f"the engine stopped answering about {self.container_name}: {exc}")
            if container.status not in ("exited", "dead"):
                return None
            self._save_logs()
            tail = self.log_path.read_text(errors="replace")[-1500:]
            return ToxiproxyError(
                f"the Toxiproxy container {self.container_name} exited at start "
                f"(code {container.attrs.get('State', {}).get('ExitCode')}):\n{tail}"
            )

        def timed_out() -> ToxiproxyError:
            self._save_logs()
            return ToxiproxyError(
                f"the Toxiproxy container {self.container_name} (status {container.status})"
                f" did not answer on {self.url} within {self.start_timeout:g}s; see {self.log_path}"
            )

        self.await_api(died, timed_out)

    def exited(self) -> str | None:
        """None while the container runs; otherwise what became of it (removed, exited, OOM-killed)."""
        from docker.errors import DockerException, NotFound

        if self._container is None:
            return "its container was never started"
        try:
            self._container.reload()
        except NotFound:
            return f"its container {self.container_name} was removed"
        except DockerException as exc:
            return f"the engine could not say how its container is: {exc}"
        if self._container.status == "running":
            return None
        if self._container.status not in ("exited", "dead"):
            return f"its container {self.container_name} is {self._container.status}"
        state = self._container.attrs.get("State", {})
        how = describe_exit(int(state.get("ExitCode", 0)))
        oom = ", out of memory" if state.get("OOMKilled") else ""
        return f"its container {self.container_name} is {self._container.status}: {how}{oom}"

    def create_proxy(self, name: str, listen: str, upstream: str) -> str:
        """Create a proxy on the next free port of the container; return ``toxiproxy:<port>``."""
        port = self._next_port
        self._next_port += 1
        inside = f"0.0.0.0:{port}"
        self.client.create_proxy(name, inside, upstream)
        self._proxies[name] = {"name": name, "listen": inside, "upstream": upstream, "enabled": True}
        return f"{ALIAS}:{port}"

    def _save_logs(self) -> None:
        """Append the container's log to ``log_path`` (a restarted server appends its own)."""
        from docker.errors import DockerException

        if self._container is None:
            return
        with contextlib.suppress(DockerException, OSError), self.log_path.open("ab") as fh:
            fh.write(f"--- aftershock: container {self.container_name}\n".encode())
            fh.write(self._container.logs(stdout=True, stderr=True))

    def _kill(self) -> None:
        """Remove the container (its log saved first); a missing container is already gone."""
        from docker.errors import NotFound

        container = self._container
        if container is None:
            return
        self._save_logs()
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)
        self._container = None

    def stop(self) -> None:
        try:
            self._kill()
        finally:
            if hasattr(self, "client"):
                self.client.close()
