"""A service's container: what it runs, how it is created, and how the health probes see it.

The :class:`~harness.docker.backend.DockerBackend` decides *when* a container is created, started,
replaced or removed; this module holds the *what*: the placeholders bound for the inside of a
container, the command and environment rendered from ``target.yaml``, the engine call that creates
it on the run network, and the view of a started container the shared health probe needs.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.docker.engine import (
    CONTAINER_HOST,
    CONTAINER_PORT,
    CONTAINER_PYTHON,
    CONTAINER_TARGET_DIR,
    CONTAINER_WORKDIR,
    OWNER_LABEL,
    ROLE_LABEL,
    RUN_LABEL,
    SERVICE_LABEL,
    STOP_GRACE,
    container_name,
)
from harness.errors import InfrastructureError
from harness.scenario.target import Service
from harness.targets.backend import render

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container
    from docker.models.networks import Network


def workdir_archive() -> bytes:
    """A tar holding the empty, world-writable ``{workdir}`` (a service may run as any user)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        parts = CONTAINER_WORKDIR.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            info = tarfile.TarInfo("/".join(parts[:depth]))
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if depth == len(parts) else 0o755
            tar.addfile(info)
    return buf.getvalue()


def container_values(run_id: str, links: dict[str, str]) -> dict[str, str]:
    """The placeholders as the inside of a container sees them (see :mod:`harness.docker.backend`)."""
    values = {
        "python": CONTAINER_PYTHON,
        "port": str(CONTAINER_PORT),
        "host": CONTAINER_HOST,
        "target_dir": CONTAINER_TARGET_DIR,
        "workdir": CONTAINER_WORKDIR,
        "run_id": run_id,
    }
    values.update({f"link:{name}": addr for name, addr in links.items()})
    return values


def service_command(spec: Service, values: dict[str, str]) -> list[str]:
    """``docker.command`` if the service has one, else its ``command``, placeholders bound."""
    template = spec.docker.command if spec.docker is not None and spec.docker.command else spec.command
    assert template is not None  # docker_problems() checked it
    return [render(part, values) for part in template]


def service_environment(
    service: str, spec: Service, values: dict[str, str], version: str | None, overrides: dict[str, str]
) -> dict[str, str]:
    """``env``, then ``docker.env``, then the version's env, then the run's overrides (last wins)."""
    env = {k: render(v, values) for k, v in spec.env.items()}
    if spec.docker is not None:
        env.update({k: render(v, values) for k, v in spec.docker.env.items()})
    if version is not None:
        env.update({k: render(v, values) for k, v in spec.versions[version].items()})
        env["AFTERSHOCK_VERSION"] = version
    env.update(overrides)
    # Not AFTERSHOCK_RUN_ID / AFTERSHOCK_OWNER: the process reaper scans the host's /proc, where
    # container processes show up too. Containers are labelled and belong to sweep_docker() alone.
    env["AFTERSHOCK_SERVICE"] = service
    return env


def create_service_container(
    client: DockerClient,
    *,
    service: str,
    spec: Service,
    image: str,
    command: list[str],
    env: dict[str, str],
    run_id: str,
    labels: dict[str, str],
    network: Network,
    network_name: str,
    host_port: int | None,
) -> Container:
    """Create (not start) the service's container on the run network under its name as an alias;
    an HTTP service's port is published on ``127.0.0.1:host_port``; its ``limits`` (memory, with
    no swap beyond it, and cpus) are the container's cgroup limits."""
    from docker.errors import DockerException

    published = {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", host_port)} if host_port is not None else {}
    limits: dict[str, int] = {}
    if spec.limits is not None and spec.limits.memory is not None:  # no swap beyond the limit
        limits.update(mem_limit=spec.limits.memory, memswap_limit=spec.limits.memory)
    if spec.limits is not None and spec.limits.nano_cpus is not None:
        limits["nano_cpus"] = spec.limits.nano_cpus  # as `docker run --cpus`
    try:
        return client.containers.create(
            image,
            command=command,
            name=container_name(run_id, service),
            hostname=service,
            labels={**labels, SERVICE_LABEL: service, ROLE_LABEL: "service"},
            environment=env,
            working_dir=CONTAINER_TARGET_DIR,
            ports=published,
            init=True,
            stop_signal=spec.stop_signal,
            network=network.name,
            networking_config={
                network.name or network_name: client.api.create_endpoint_config(aliases=[service])
            },
            **limits,  # type: ignore[arg-type]
        )
    except DockerException as exc:
        raise InfrastructureError(f"could not create the container of service {service!r}: {exc}") from None


def container_ip(container: Container, network_name: str) -> str:
    """The container's address on the run network ("" while it has none)."""
    networks = container.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    address = str((networks.get(network_name) or {}).get("IPAddress") or "")
    return address


class StartedContainer:
    """A started service container as the health probes see it (see :mod:`harness.targets.health`)."""

    def __init__(
        self,
        service: str,
        container: Container,
        *,
        log_path: Path,
        log_offset: int,
        http_base: str | None,
        network_name: str,
        save_logs: Callable[[], None],
    ) -> None:
        self.service = service
        self.container = container
        self.log_path = log_path
        self.log_offset = log_offset
        self._http_base = http_base
        self._network_name = network_name
        self._save_logs = save_logs

    def exited(self) -> str | None:
        from docker.errors import DockerException

        try:
            self.container.reload()
        except DockerException as exc:
            raise InfrastructureError(
                f"service {self.service!r}: the engine stopped answering: {exc}"
            ) from None
        if self.container.status not in ("exited", "dead"):
            return None
        state = self.container.attrs.get("State", {})
        self._save_logs()
        oom = " (out of memory)" if state.get("OOMKilled") else ""
        return (
            f"(container {self.container.name}) exited during start-up with code {state.get('ExitCode')}{oom}"
        )

    def status(self) -> str:
        return f"container status: {self.container.status}"

    def http_base(self) -> str | None:
        """Through the published port: the path the harness will use."""
        return self._http_base

    def tcp_address(self) -> tuple[str, int] | None:
        """At its address on the run network: docker-proxy accepts on a published port too early."""
        ip = container_ip(self.container, self._network_name)
        return (ip, CONTAINER_PORT) if ip else None

    def run(self, argv: list[str], timeout: float) -> int:
        from docker.errors import DockerException

        try:
            return int(self.container.exec_run(argv).exit_code or 0)
        except DockerException as exc:
            raise InfrastructureError(f"service {self.service!r}: health command {argv!r}: {exc}") from None


def stop_container(container: Container) -> None:
    """Stop gracefully (SIGTERM, or the service's stop signal, then SIGKILL after the grace),
    thawing a paused container first; a stopped one is left as it is."""
    container.reload()
    if container.status == "paused":
        container.unpause()
    if container.status in ("running", "paused", "restarting"):
        container.stop(timeout=STOP_GRACE)


def remove_run_leftovers(client: DockerClient, run_id: str, owner: str, errors: list[Exception]) -> None:
    """Remove every container still labelled with this run and owner (e.g. a Toxiproxy container
    whose own teardown failed), which would keep the run network alive; failures go to ``errors``."""
    from docker.errors import NotFound

    left = client.containers.list(
        all=True, filters={"label": [f"{RUN_LABEL}={run_id}", f"{OWNER_LABEL}={owner}"]}
    )
    for container in left:
        try:
            container.remove(force=True, v=True)
        except NotFound:
            pass
        except Exception as exc:
            exc.add_note(f"while removing the leftover container {container.name}")
            errors.append(exc)
