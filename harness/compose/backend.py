"""The Compose backend: the application's own Compose file, run by the real Compose, under our override.

A target opts in with ``compose: compose.yaml`` in its ``target.yaml`` (services then need no
``command``; ``health`` is optional: the Compose healthcheck, if any, is waited for by
``up --wait``, then the declared ``health`` is probed by :mod:`harness.targets.health`). Per run:

* the project is named ``aftershock-<run id>``; the override (:mod:`harness.compose.override`,
  written to ``<run_dir>/compose.override.yaml``) labels everything and routes each declared link
  through the run's Toxiproxy, a service of the same project, without changing the application's file;
* ``start(service)`` is ``up -d --no-build --wait <service>`` (Compose starts what it depends on),
  ``kill`` is ``kill -s SIGKILL``, ``restart`` is ``start`` (same container), ``pause`` / ``resume``
  are ``pause`` / ``unpause``, ``deploy`` rewrites the override with the version's environment and
  runs ``up -d --no-deps`` (Compose recreates what changed);
* teardown is ``down -v --remove-orphans`` (containers, networks, volumes) on every exit path; a
  SIGKILLed harness leaves labelled resources that :func:`harness.compose.sweep.sweep_engine` removes.

The harness reaches HTTP services (the entrypoint, audit sources, ``http`` health) on
``127.0.0.1:<port>`` published by the override; a service's container port comes from
``services.<name>.port`` in ``target.yaml``, else its ``expose`` / ``ports`` in the Compose file,
else the image's ``EXPOSE``.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compose import override as ov
from harness.compose.build import build_images, ensure_local_base
from harness.compose.cli import ComposeCLI, project_name
from harness.compose.project import compose_problems, declared_port
from harness.compose.provision import find_compose
from harness.docker import images, toxiproxy_image
from harness.docker.engine import Emit, docker_client, run_labels
from harness.docker.logs import LiveLog
from harness.docker.oom import report_oom_kills
from harness.docker.partition import NetworkPartition
from harness.docker.signals import signal_container
from harness.errors import InfrastructureError, Problem, ScenarioError
from harness.files import atomic_write_text
from harness.net import free_port
from harness.reaper import owner_token
from harness.resource import Steps
from harness.scenario.models import CrashScope, CrashSignal
from harness.scenario.target import Target
from harness.targets.backend import Backend
from harness.targets.health import log_size, wait_healthy
from harness.targets.process import SECRET_VAR

if TYPE_CHECKING:
    from docker import DockerClient

    from harness.compose.toxiproxy import ComposeToxiproxy

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
STOP_GRACE = 2  # seconds between the stop signal and SIGKILL at teardown (the audit has been read)


class _Started:
    """A started Compose service as the health probes see it."""

    def __init__(self, backend: ComposeBackend, service: str, log_offset: int) -> None:
        self.backend = backend
        self.service = service
        self.log_path = backend.log_path(service)
        self.log_offset = log_offset

    def exited(self) -> str | None:
        state = self.backend.state(self.service)
        if state.get("Status") in ("exited", "dead"):
            return f"exited during start-up with code {state.get('ExitCode')}"
        return None

    def status(self) -> str:
        return f"container status: {self.backend.state(self.service).get('Status', 'unknown')}"

    def http_base(self) -> str | None:
        published = self.service in self.backend.published
        return self.backend.entry_url(self.service) if published else None

    def tcp_address(self) -> tuple[str, int] | None:
        ip = self.backend.ip(self.service)
        port = self.backend.ports.get(self.service)
        return (ip, port) if ip and port else None

    def run(self, argv: list[str], timeout: float) -> int:
        done = self.backend.cli.run("exec", "-T", self.service, *argv, timeout=timeout + 5, check=False)
        return done.returncode


class ComposeBackend(Backend):
    """A Compose project per run; see the module docstring. Enter it before its Toxiproxy."""

    name = "compose"

    def __init__(
        self,
        target: Target,
        target_dir: Path,
        run_dir: Path,
        run_id: str,
        env_overrides: dict[str, dict[str, str]] | None = None,
        emit: Emit | None = None,
    ) -> None:
        if target.compose is None:
            raise ScenarioError(
                [
                    Problem(
                        str(target_dir / "target.yaml"),
                        "compose",
                        "the compose backend needs a Compose file",
                        fix="add `compose: compose.yaml` (relative to the target) or use another backend",
                    )
                ]
            )
        super().__init__(target, target_dir, run_dir, run_id, env_overrides, emit)
        self.compose_file = (target_dir / target.compose).resolve()
        self.owner = owner_token()
        self.labels = run_labels(run_id, self.owner)
        self.project = project_name(run_id)
        self.override_path = run_dir / "compose.override.yaml"
        binary = find_compose()
        base = ComposeCLI(binary, self.project, [self.compose_file], self.compose_file.parent)
        self.config = base.config()
        problems = compose_problems(target, target_dir, self.config)
        if problems:
            raise ScenarioError(problems)
        # The run's secret (the orders database's password), in Compose's environment only: the
        # override names it as ``${AFTERSHOCK_SECRET}``, so it is never written to the run dir.
        self.secret = secrets.token_urlsafe(24)
        self.cli = ComposeCLI(
            binary,
            self.project,
            [self.compose_file, self.override_path],
            self.compose_file.parent,
            env={SECRET_VAR: self.secret},
        )
        self.services: dict[str, dict[str, Any]] = dict(self.config.get("services") or {})
        self.ports: dict[str, int] = {}
        self.published: dict[str, tuple[int, int]] = {}
        self.toxiproxy_api = free_port("127.0.0.1")
        self.seed = 1
        self.images: dict[str, str] = {}
        self.toxiproxy_image = ""
        self._client: DockerClient | None = None
        self._logs: dict[str, LiveLog] = {}
        self._started: set[str] = set()
        self._up = False

    # -- preparation ---------------------------------------------------------------------
    @property
    def client(self) -> DockerClient:
        if self._client is None:
            raise InfrastructureError("the compose backend was not entered")
        return self._client

    def prepare(self) -> None:
        """Name built images stably, build them, the Toxiproxy image, ports, the override file."""
        self._client = docker_client()
        safe = "".join(c if c.isalnum() else "-" for c in self.target.name.lower())
        for name, svc in self.services.items():
            if svc.get("build") and not svc.get("image"):
                self.images[name] = f"aftershock-compose-{safe}-{name}"
        build_client = docker_client(images.BUILD_TIMEOUT)
        try:
            from harness.toxiproxy.provision import find_toxiproxy

            self.toxiproxy_image = toxiproxy_image.toxiproxy_image(build_client, find_toxiproxy(), {})
            ensure_local_base(self.services, build_client)  # FROM aftershock-base:bookworm, never pulled
        finally:
            build_client.close()
        self.write_override()
        if any(svc.get("build") for svc in self.services.values()):
            started = time.monotonic()
            with images.replacing(self.client, [f"{tag}:latest" for tag in self.images.values()]):
                build_images(self.cli, self.services)  # a registry lookup failure said as one
            self.emit(
                "image_ready", service="*", image=self.project, seconds=round(time.monotonic() - started, 3)
            )
        self._resolve_ports()
        self.write_override()

    def _image_port(self, service: str) -> int | None:
        from docker.errors import DockerException

        image = self.images.get(service) or self.services[service].get("image")
        if not image:
            return None
        try:
            exposed = self.client.images.get(image).attrs.get("Config", {}).get("ExposedPorts") or {}
        except DockerException:
            return None
        ports = {int(str(p).split("/")[0]) for p in exposed}
        return ports.pop() if len(ports) == 1 else None

    def _resolve_ports(self) -> None:
        needs_port = {s for link in self.target.links for s in self.target.link_ends(link)[1:]}
        http = {self.target.entrypoint, *(a.service for a in self.target.audit)}
        http |= {n for n, s in self.target.services.items() if s.health is not None and s.health.http}
        http |= {n for n, s in self.target.services.items() if s.health is not None and s.health.tcp}
        problems: list[Problem] = []
        for name in sorted(needs_port | http):
            spec = self.target.services.get(name)
            port = (
                (spec.port if spec else None) or declared_port(self.services[name]) or self._image_port(name)
            )
            if port is None:
                problems.append(
                    Problem(
                        str(self.target_dir / "target.yaml"),
                        f"services.{name}.port",
                        "cannot tell which port the service listens on in its container (no single"
                        " `expose`, `ports` or image EXPOSE)",
                        fix=f"add `services: {{{name}: {{port: N}}}}` to target.yaml",
                    )
                )
                continue
            self.ports[name] = port
            if name in http:
                self.published[name] = (free_port("127.0.0.1"), port)
        if problems:
            raise ScenarioError(problems)

    def write_override(self) -> None:
        env: dict[str, dict[str, str]] = {name: {SECRET_VAR: f"${{{SECRET_VAR}}}"} for name in self.services}
        for name, spec in self.target.services.items():
            version = self._versions.get(name)
            if version is not None:
                env.setdefault(name, {}).update({**spec.versions[version], "AFTERSHOCK_VERSION": version})
        for name, values in self.env_overrides.items():
            env.setdefault(name, {}).update(values)
        plan = ov.Plan(
            links=tuple(self.target.link_ends(link) for link in self.target.links),
            published=self.published,
            labels=self.labels,
            environment=env,
            images=self.images,
            toxiproxy_image=self.toxiproxy_image or "aftershock-toxiproxy",
            toxiproxy_api=(self.toxiproxy_api, toxiproxy_image.TOXIPROXY_API_PORT),
            seed=self.seed,
            limits={n: (s.limits.memory, s.limits.cpus) for n, s in self.target.services.items() if s.limits},
        )
        atomic_write_text(self.override_path, ov.dump(ov.build_override(self.config, plan)))

    # -- addresses -----------------------------------------------------------------------
    def toxiproxy(self, binary: Path, log_path: Path, seed: int = 1) -> ComposeToxiproxy:
        from harness.compose.toxiproxy import ComposeToxiproxy

        if seed != self.seed:
            self.seed = seed
            self.write_override()
        return ComposeToxiproxy(binary, log_path, seed=seed, port=self.toxiproxy_api, backend=self)

    def upstream_address(self, service: str) -> str:
        """``aftershock-upstream-<service>:<port>``: the real server, on its own network with Toxiproxy."""
        return f"{ov.upstream_alias(service)}:{self.ports[service]}"

    @property
    def published_ports(self) -> dict[str, int]:
        """Host ports (on 127.0.0.1) the override publishes for the HTTP services."""
        return {name: host for name, (host, _) in self.published.items()}

    # -- the engine's view ---------------------------------------------------------------
    def container_id(self, service: str) -> str | None:
        from docker.errors import DockerException

        try:
            found = self.client.containers.list(
                all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={service}"]}
            )
        except DockerException as exc:
            raise InfrastructureError(f"service {service!r}: the engine stopped answering: {exc}") from None
        return str(found[0].id) if found else None

    def mark_up(self) -> None:
        """Something of the project runs: teardown must stop and remove it."""
        self._up = True

    def state(self, service: str) -> dict[str, Any]:
        from docker.errors import DockerException

        cid = self.container_id(service)
        if cid is None:
            return {"Status": "missing"}
        try:
            return dict(self.client.api.inspect_container(cid)["State"])
        except DockerException:
            return {"Status": "missing"}

    def ip(self, service: str) -> str | None:
        cid = self.container_id(service)
        if cid is None:
            return None
        nets = self.client.api.inspect_container(cid)["NetworkSettings"]["Networks"] or {}
        for net in nets.values():
            if net.get("IPAddress"):
                return str(net["IPAddress"])
        return None

    # -- lifecycle -----------------------------------------------------------------------
    def _follow(self, service: str) -> int:
        """Start streaming the service's output into its log; where this start's output begins."""
        cid = self.container_id(service)
        log = self._logs.get(service) or LiveLog(self.log_path(service), self.client)
        self._logs[service] = log
        log.marker(f"starting {service} (compose project {self.project})")
        offset = log_size(self.log_path(service))
        if cid is not None:
            log.follow(cid)
        return offset

    def _unfollow(self, service: str) -> None:
        log = self._logs.get(service)
        if log is not None:
            log.close(self.container_id(service))

    def start(self, service: str, links: dict[str, str], wait: bool = True) -> None:
        """``up -d --wait <service>``: Compose starts it (and what it depends on) and waits for its
        healthcheck; then the declared ``health`` is probed."""
        self._up = True
        self._started.add(service)
        self.cli.run("up", "--detach", "--no-build", "--no-recreate", "--wait", service)
        offset = self._follow(service)
        self.emit("service_starting", service=service, project=self.project)
        if wait:
            self._wait_healthy(service, offset)

    def _wait_healthy(self, service: str, offset: int) -> None:
        spec = self.target.services.get(service)
        if spec is not None and spec.health is not None:
            wait_healthy(_Started(self, service, offset), spec.health, spec.startup_timeout)
        else:
            why = _Started(self, service, offset).exited()
            if why is not None:
                raise InfrastructureError(f"service {service!r} {why}")
        self.emit("service_up", service=service, project=self.project, address=self.ports.get(service))

    def kill(self, service: str, signal: CrashSignal = "KILL", scope: CrashScope = "group") -> None:
        """KILL of the group: ``compose kill -s SIGKILL``; otherwise the signal goes to the scope's
        processes by host pid (:mod:`harness.docker.signals`)."""
        if self.state(service).get("Status") == "paused":
            self.cli.run("unpause", service)
        if (signal, scope) != ("KILL", "group"):
            cid = self.container_id(service)
            if cid is None:
                raise InfrastructureError(f"service {service!r} has no container")
            hit = signal_container(service, self.client.containers.get(cid), signal, scope)
            self.emit("service_killed", service=service, signal=signal, scope=scope, processes=len(hit))
            return
        self.cli.run("kill", "--signal", "SIGKILL", service)
        deadline = time.monotonic() + 5.0
        while self.state(service).get("Status") not in ("exited", "dead", "missing"):
            if time.monotonic() > deadline:
                raise InfrastructureError(f"service {service!r} is still running 5s after SIGKILL")
            time.sleep(0.05)
        self.emit("service_killed", service=service)

    def network_partition(self, groups: list[list[str]], fault_id: str) -> NetworkPartition:
        """The direct paths between the groups' containers cut too (:mod:`harness.docker.partition`)."""
        ids = [[cid for cid in map(self.container_id, group) if cid is not None] for group in groups]
        containers = [[self.client.containers.get(cid) for cid in group] for group in ids]
        return NetworkPartition(self.client, containers, self.labels, fault_id)

    def pause(self, service: str) -> None:
        self.cli.run("pause", service)

    def resume(self, service: str) -> None:
        self.cli.run("unpause", service)

    def restart(self, service: str, wait: bool = True) -> None:
        """Start the same container again (``start``): same networks, same published port."""
        status = self.state(service).get("Status")
        if status == "paused":
            self.cli.run("unpause", service)
        if status in ("running", "paused", "restarting"):
            self.cli.run("stop", "--timeout", "5", service)
        self._unfollow(service)
        self.cli.run("start", service)
        offset = self._follow(service)
        self.emit("service_starting", service=service, project=self.project)
        if wait:
            self._wait_healthy(service, offset)

    def deploy(self, service: str, version: str) -> None:
        """The version's environment goes into the override; ``up --no-deps`` recreates the service."""
        self.emit("deploy_started", service=service, version=version, previous=self._versions.get(service))
        self._versions[service] = version
        self.write_override()
        self.cli.run("stop", "--timeout", "5", service)
        self._unfollow(service)
        self.cli.run("up", "--detach", "--no-build", "--no-deps", "--wait", service)
        offset = self._follow(service)
        self._wait_healthy(service, offset)

    def _report_oom_kills(self) -> None:
        ids = {s: self.container_id(s) for s in sorted(self._started)}
        report_oom_kills(self.client, ids, self.emit)

    def stop_all(self) -> None:
        """``down -v --remove-orphans``: every container, network and volume of the project; logs
        are completed first. Every step runs; failures are raised together."""
        step = Steps()

        if self._up and self._client is not None:  # a limit a service outgrew, journaled
            step("read the containers' OOM state", self._report_oom_kills)
        if self._up:  # stopped first: a log follower ends when its container stops
            step("stop the compose project", lambda: self.cli.run("stop", "--timeout", str(STOP_GRACE)))
        for service in list(self._logs):
            step(f"save the log of {service!r}", functools.partial(self._unfollow, service))
        if self._up or self.override_path.exists():
            step(
                f"remove the compose project {self.project}",
                lambda: self.cli.run("down", "--volumes", "--remove-orphans", "--timeout", str(STOP_GRACE)),
            )
        for service in sorted(self._started):
            self.emit("service_stopped", service=service)
        self._started.clear()
        self._logs.clear()
        self._up = False
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        step.raise_all(f"stopping the compose target of run {self.run_id} failed")
