"""The Docker backend: every service is a container on a private network of its own run.

What a target gets, and why:

* **One bridge network per run** (``aftershock-<run id>``). Each service joins it under its own
  name as a network alias, so ``upstream_address("db")`` is ``db:8000`` - resolved by Docker's
  DNS when Toxiproxy dials, so a restarted container (new IP, same alias) is found again.
* **The same ``target.yaml`` command in both backends.** Placeholders are bound for the container:
  ``{python}`` = ``python3`` (on the image's PATH), ``{host}`` = ``0.0.0.0`` (the container's own
  network namespace), ``{port}`` = :data:`CONTAINER_PORT`, ``{workdir}`` = :data:`CONTAINER_WORKDIR`
  (created world-writable in the container's own layer, so it survives a kill and restart like
  the process backend's scratch directory), ``{target_dir}`` = :data:`CONTAINER_TARGET_DIR`
  (where the target's Dockerfiles copy its code). A service that needs something else says so in
  its optional ``docker:`` section (image, dockerfile, command, env).
* **HTTP services are published on ``127.0.0.1`` only** (the entrypoint for load, any service for
  health and audit), each at a host port chosen up front and kept across restarts, so Locust's
  URL stays valid. TCP-only services (a database) are not published: they are reached through
  their link's proxy, and their readiness is probed at their address on the run network, which a
  Linux host routes to directly. TCP readiness is never probed through a published port:
  docker-proxy accepts there before the service listens.
* **Labels** ``aftershock.run_id`` / ``aftershock.owner`` (the harness's pid and start time, as in
  :mod:`harness.reaper`) / ``aftershock.host`` on every container and network, so
  :func:`sweep_docker` can remove what a SIGKILLed harness left. Image builds carry the same
  values under ``aftershock.build.*`` (containers inherit image labels; see :func:`build_labels`).
* **Live logs**: each container's output is streamed into ``<run_dir>/services/<name>.log`` as it
  happens (faults that wait for a log line need that), every start marked as in the process
  backend; see :class:`LiveLog`.
* Containers run with Docker's init (``init: true``): signals reach services that are not written
  to be PID 1, and SIGKILL of the container still takes every process in it. ``docker kill``
  returns once the engine has processed the exit (about 0.1 s here); the process itself is dead
  20-45 ms after the call starts.

The Docker SDK is imported lazily (only when a backend is built or a sweep finds an engine), so
importing the harness never imports it. Every engine call has a timeout (:data:`API_TIMEOUT`, or
:data:`harness.docker.images.BUILD_TIMEOUT` for builds).
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.docker.containers import (
    StartedContainer,
    container_values,
    create_service_container,
    remove_run_leftovers,
    service_command,
    service_environment,
    stop_container,
    workdir_archive,
)
from harness.docker.engine import (
    CONTAINER_HOST,
    CONTAINER_PORT,
    CONTAINER_WORKDIR,
    STOP_GRACE,
    Emit,
    build_labels,
    docker_client,
    network_name,
    run_labels,
)
from harness.docker.logs import LiveLog
from harness.docker.oom import report_oom_kills
from harness.docker.partition import NetworkPartition
from harness.docker.problems import docker_problems
from harness.docker.service_images import prepare_service_images
from harness.docker.signals import signal_container
from harness.errors import InfrastructureError, ScenarioError
from harness.net import free_port
from harness.reaper import owner_token
from harness.resource import Steps
from harness.scenario.models import CrashScope, CrashSignal
from harness.scenario.target import Service, Target
from harness.targets.backend import Backend, render
from harness.targets.health import log_size, log_tail, wait_healthy
from harness.targets.process import SECRET_VAR

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container
    from docker.models.networks import Network

    from harness.docker.toxiproxy import DockerToxiproxy


class DockerBackend(Backend):
    """Services as containers on a per-run network; see the module docstring for the conventions.

    A context manager: entering builds (or finds) the images and creates the network
    (:meth:`prepare`), undoing that if it fails; leaving (``stop_all``) stops and removes every
    container (its live log in ``<run_dir>/services/<name>.log`` completed first) and the network.
    """

    name = "docker"

    def __init__(
        self,
        target: Target,
        target_dir: Path,
        run_dir: Path,
        run_id: str,
        env_overrides: dict[str, dict[str, str]] | None = None,
        emit: Emit | None = None,
        *,
        client: DockerClient | None = None,
    ) -> None:
        problems = docker_problems(target, target_dir)
        if problems:
            raise ScenarioError(problems)
        super().__init__(target, target_dir, run_dir, run_id, env_overrides, emit)
        self.client = client or docker_client()
        self.owner = owner_token()
        self.labels = run_labels(run_id, self.owner)
        self.build_labels = build_labels(run_id, self.owner)
        # The run's secret, as under the process backend: the orders database wants it as its
        # password (the run network is shared with Toxiproxy; "trust" would admit any container).
        self.secret = secrets.token_urlsafe(24)
        self.network_name = network_name(run_id)
        self.host_ports = {
            name: free_port("127.0.0.1")
            for name, svc in target.services.items()
            if (svc.health is not None and svc.health.http) or name == target.entrypoint
        }
        self.images: dict[str, str] = {}
        self._network: Network | None = None
        self._containers: dict[str, Container] = {}
        self._logs: dict[str, LiveLog] = {}
        self._links: dict[str, dict[str, str]] = {}

    def prepare(self) -> None:
        """The images (built or found) and the run network; undone by ``stop_all`` if this fails."""
        self.build_images()
        self.ensure_network()

    # -- addresses -----------------------------------------------------------------------
    def upstream_address(self, service: str) -> str:
        """``<service>:<port>`` on the run network: what the run's Toxiproxy container dials."""
        if service not in self.target.services:
            raise InfrastructureError(f"no service {service!r} in target {self.target.name!r}")
        return f"{service}:{CONTAINER_PORT}"

    @property
    def published_ports(self) -> dict[str, int]:
        """Host ports of the HTTP services, on 127.0.0.1, chosen up front (stable across restarts)."""
        return self.host_ports

    def container(self, service: str) -> Container:
        try:
            return self._containers[service]
        except KeyError:
            raise InfrastructureError(f"service {service!r} is not running") from None

    def container_id(self, service: str) -> str | None:
        """The id of the service's container (the limits faults act on it); None before it starts."""
        container = self._containers.get(service)
        return str(container.id) if container is not None else None

    def toxiproxy(self, binary: Path, log_path: Path, seed: int = 1) -> DockerToxiproxy:
        """The run's Toxiproxy, as a container on this run's network (enter it after the backend)."""
        from harness.docker.toxiproxy import DockerToxiproxy

        return DockerToxiproxy(binary, log_path, seed=seed, backend=self)

    # -- preparation ---------------------------------------------------------------------
    def build_images(self) -> None:
        """Find or build every service's image (cached by content hash; progress on stderr)."""
        prepare_service_images(
            self.client, self.target, self.target_dir, self.build_labels, self.emit, into=self.images
        )

    def ensure_network(self) -> Network:
        if self._network is None:
            from docker.errors import DockerException

            try:
                self._network = self.client.networks.create(
                    self.network_name, driver="bridge", labels=self.labels, check_duplicate=True
                )
            except DockerException as exc:
                raise InfrastructureError(
                    f"could not create the run network {self.network_name}: {exc}"
                ) from None
            self.emit("network_created", network=self.network_name)
        return self._network

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, service: str, links: dict[str, str], wait: bool = True) -> None:
        """Create and start the service's container; with ``wait``, until its health check passes."""
        if service in self._containers:
            raise InfrastructureError(f"service {service!r} was already started; use restart()")
        self._links[service] = dict(links)
        self._create_and_start(service, wait)

    def _create_and_start(self, service: str, wait: bool, carried: Iterator[bytes] | None = None) -> None:
        """A new container for ``service`` at its current version; ``carried``, a tar of an earlier
        container's ``{workdir}``, replaces the empty one before the service starts."""
        spec = self.target.services[service]
        network = self.ensure_network()
        if service not in self.images:
            self.build_images()
        values = container_values(self.run_id, self._links.get(service, {}))
        command = service_command(spec, values)
        version = self._versions.get(service)
        env = service_environment(service, spec, values, version, self.env_overrides.get(service, {}))
        env[SECRET_VAR] = self.secret
        container = create_service_container(
            self.client,
            service=service,
            spec=spec,
            image=self.images[service],
            command=command,
            env=env,
            run_id=self.run_id,
            labels=self.labels,
            network=network,
            network_name=self.network_name,
            host_port=self.host_ports.get(service),
        )
        self._containers[service] = container  # from here on stop_all() removes it
        offset = self._start_new_container(service, container, command, version, carried)
        self.emit("service_starting", service=service, container=container.name, image=self.images[service])
        if wait:
            self._wait_healthy(service, spec, container, offset, values)
            self.emit(
                "service_up",
                service=service,
                container=container.name,
                address=self.upstream_address(service),
            )

    def _start_new_container(
        self,
        service: str,
        container: Container,
        command: list[str],
        version: str | None,
        carried: Iterator[bytes] | None,
    ) -> int:
        """Mark the start in the live log, put ``{workdir}`` in place, start, follow its output;
        returns the log offset the health probe reads from (after the marker)."""
        from docker.errors import DockerException

        log = self._logs[service] = LiveLog(self.log_path(service), self.client)
        at = f", version {version}" if version is not None else ""
        image = self.images[service]
        log.marker(f"starting {service} (container {container.name}, {image}{at}): {' '.join(command)}")
        offset = log_size(self.log_path(service))  # after the marker, which quotes the command
        try:
            container.put_archive("/", workdir_archive())
            if carried is not None:
                container.put_archive(str(Path(CONTAINER_WORKDIR).parent), carried)
            container.start()
            log.follow(str(container.id))
        except DockerException as exc:
            self._save_logs_for_error(service)
            raise InfrastructureError(
                f"could not start the container of service {service!r}: {exc}\n"
                f"  last log lines ({self.log_path(service)}):\n{log_tail(self.log_path(service))}"
            ) from None
        return offset

    def _wait_healthy(
        self, service: str, spec: Service, container: Container, offset: int, values: dict[str, str]
    ) -> None:
        health = spec.health
        assert health is not None  # docker_problems() checked it
        if health.command is not None:  # placeholders bound as in the container's command
            health = health.model_copy(update={"command": [render(p, values) for p in health.command]})
        try:
            wait_healthy(
                StartedContainer(
                    service,
                    container,
                    log_path=self.log_path(service),
                    log_offset=offset,
                    http_base=self.entry_url(service) if service in self.host_ports else None,
                    network_name=self.network_name,
                    save_logs=functools.partial(self._save_logs_for_error, service),
                ),
                health,
                spec.startup_timeout,
                hint=f"`docker run --rm -it {self.images[service]} bash` to try the command by hand; the"
                f" service must listen on {CONTAINER_HOST}:{CONTAINER_PORT} ({{host}}:{{port}}) inside its"
                " container",
            )
        except InfrastructureError:
            self._save_logs_for_error(service)
            raise

    def _call(self, service: str, what: str, fn: Callable[[], object]) -> None:
        from docker.errors import DockerException

        try:
            fn()
        except DockerException as exc:
            raise InfrastructureError(f"could not {what} service {service!r}: {exc}") from None

    def kill(self, service: str, signal: CrashSignal = "KILL", scope: CrashScope = "group") -> None:
        """KILL of the group: ``docker kill`` (every process in it); otherwise the signal goes to the
        scope's processes by host pid (:mod:`harness.docker.signals`). A no-op if not running."""
        container = self.container(service)
        self._call(service, "inspect", container.reload)
        if container.status == "paused":  # a frozen cgroup is thawed first so the kill lands at once
            self._call(service, "unpause", container.unpause)
        hit: list[int] = []
        if container.status in ("running", "paused") and (signal, scope) == ("KILL", "group"):
            self._call(service, "kill", lambda: container.kill(signal="SIGKILL"))
            self._wait_stopped(service, container, 5.0)
        elif container.status in ("running", "paused"):
            hit = signal_container(service, container, signal, scope)
        self.emit("service_killed", service=service, signal=signal, scope=scope, processes=len(hit) or None)

    def _wait_stopped(self, service: str, container: Container, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._call(service, "inspect", container.reload)
            if container.status in ("exited", "dead", "created"):
                return
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"service {service!r} (container {container.name}) is still {container.status} "
                    f"{timeout:g}s after SIGKILL"
                )
            time.sleep(0.05)

    def network_partition(self, groups: list[list[str]], fault_id: str) -> NetworkPartition:
        """The direct paths between the groups' containers cut too (:mod:`harness.docker.partition`)."""
        containers = [[self.container(s) for s in group if s in self._containers] for group in groups]
        return NetworkPartition(self.client, containers, self.labels, fault_id)

    def pause(self, service: str) -> None:
        container = self.container(service)
        self._call(service, "pause", container.pause)

    def resume(self, service: str) -> None:
        container = self.container(service)
        self._call(service, "resume", container.unpause)

    def deploy(self, service: str, version: str) -> None:
        """Stop-start deploy: the old container stops gracefully and is replaced by one of ``version``
        (same name, alias, published port and links; its ``{workdir}`` carried over, as the process
        backend keeps it), which must pass its health check."""
        from docker.errors import DockerException

        self.emit("deploy_started", service=service, version=version, previous=self._versions.get(service))
        old = self._containers.get(service)
        if old is not None:
            self._call(service, "stop", functools.partial(stop_container, old))
            self._call(service, "read the log of", functools.partial(self._logs[service].close, str(old.id)))
            try:
                # streamed from the old container into the new one, never whole in memory
                workdir = old.get_archive(CONTAINER_WORKDIR)[0]
                self._versions[service] = version
                self._containers.pop(service)
                self._create_and_start_replacing(service, old, workdir)
            except DockerException as exc:
                raise InfrastructureError(
                    f"could not deploy {version!r} of service {service!r}: {exc}"
                ) from None
            return
        self._versions[service] = version
        self._create_and_start(service, True)

    def _create_and_start_replacing(self, service: str, old: Container, workdir: Iterator[bytes]) -> None:
        """Rename the old container out of the way, start the new one, then remove the old one."""
        old.rename(f"{old.name}-replaced-{int(time.time() * 1000)}")
        try:
            self._create_and_start(service, True, workdir)
        finally:
            old.remove(force=True, v=True)

    def restart(self, service: str, wait: bool = True) -> None:
        """Start the same container again: same alias, same published port, same command and links.

        With ``wait``, until healthy; without, the time it takes to come back is left to be measured.
        """
        container = self.container(service)
        self._call(service, "inspect", container.reload)
        if container.status == "paused":
            self._call(service, "unpause", container.unpause)
        if container.status in ("running", "paused", "restarting"):
            self._call(service, "stop", lambda: container.stop(timeout=STOP_GRACE))
        log = self._logs[service]
        self._call(service, "read the log of", functools.partial(log.close, str(container.id)))
        log.marker(f"starting {service} again (container {container.name})")
        offset = log_size(self.log_path(service))
        self._call(service, "start", container.start)
        log.follow(str(container.id))
        self.emit("service_starting", service=service, container=container.name, image=self.images[service])
        if wait:
            values = container_values(self.run_id, self._links.get(service, {}))
            self._wait_healthy(service, self.target.services[service], container, offset, values)
            self.emit(
                "service_up",
                service=service,
                container=container.name,
                address=self.upstream_address(service),
            )

    def save_logs(self, service: str) -> Path:
        """Bring ``log_path(service)`` up to date now (the follower may lag by a few ms)."""
        self._logs[service].catch_up(str(self._containers[service].id))
        return self.log_path(service)

    def _save_logs_for_error(self, service: str) -> None:
        """As :meth:`save_logs`, in an error path: its own failure must not hide the error."""
        with contextlib.suppress(Exception):
            self.save_logs(service)

    def stop_all(self) -> None:
        """Stop and remove every container (logs saved first), then the network; all steps run."""
        from docker.errors import NotFound

        step = Steps(ignore=(NotFound,))  # already gone: that is what we wanted

        order = [s for s in reversed(self.target.start_order()) if s in self._containers]
        ids = {s: self.container_id(s) for s in order}  # a limit the service outgrew, journaled
        step("read the containers' OOM state", lambda: report_oom_kills(self.client, ids, self.emit))
        for service in order:
            container = self._containers[service]
            step(f"stop service {service!r}", functools.partial(stop_container, container))
            step(
                f"save the log of service {service!r}",
                functools.partial(self._logs[service].close, str(container.id)),
            )
            step(
                f"remove the container of service {service!r}",
                functools.partial(container.remove, force=True, v=True),
            )
            self.emit("service_stopped", service=service)
        self._containers.clear()
        if self._network is not None:
            network = self._network
            # Anything of this run still attached (e.g. a Toxiproxy container whose own teardown
            # failed) would keep the network alive; remove it too.
            step(
                "list containers left on the run network",
                lambda: remove_run_leftovers(self.client, self.run_id, self.owner, step.errors),
            )
            step(f"remove the network {self.network_name}", network.remove)
            self._network = None
        step.raise_all(f"stopping the docker target of run {self.run_id} failed")
