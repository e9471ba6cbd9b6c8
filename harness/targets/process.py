"""The embedded default backend: every service is a local process on a loopback port.

Each service runs in its own session (process group), so kill/pause/stop reach all of its
children (Postgres forks a backend per connection). stdout and stderr go to
``<run_dir>/services/<name>.log``. Every process carries the run's labels (see
:mod:`harness.reaper`), so a harness killed with SIGKILL leaves nothing the next start cannot find.

Ports are chosen before the service binds them (the proxies must know them first), so another
process can take one in between. Two defences: ports are picked *below* the kernel's ephemeral
range, where neither outgoing connections nor ``bind(port 0)`` (Toxiproxy's proxies, Locust,
other runs) ever land; and a service that exits with "address already in use" during start-up is
started again once the port is free (bounded by :data:`PORT_WAIT`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError, ScenarioError
from harness.net import PORT_IN_USE, free_port
from harness.net import bindable as _bindable
from harness.reaper import labelled_env, make_workdir
from harness.scenario.models import CrashScope, CrashSignal
from harness.scenario.target import Health, Target, needs_command_and_health
from harness.targets.backend import Backend, render
from harness.targets.health import log_tail, wait_healthy
from harness.targets.parallel_start import start_in_parallel
from harness.targets.process_signals import group_members, send, signal_number, wait_gone
from harness.toxiproxy.server import ToxiproxyServer

Emit = Callable[..., Any]

SECRET_VAR = "AFTERSHOCK_SECRET"
PORT_WAIT = 10.0  # how long a start waits for its port to be released before giving up
PORT_ATTEMPTS = 4
service_port = free_port  # below the ephemeral range (see harness.net)


@dataclass
class _Started:
    """A started service process as the health probes see it (see :mod:`harness.targets.health`)."""

    service: str
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    log_offset: int
    cwd: Path
    env: dict[str, str]

    def exited(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"exited during start-up with code {code}"

    def status(self) -> str:
        code = self.proc.poll()
        return "process running" if code is None else f"process exited {code}"

    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def tcp_address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def run(self, argv: list[str], timeout: float) -> int:
        try:
            done = subprocess.run(
                argv, cwd=self.cwd, env=self.env, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return -1
        except OSError as exc:
            raise InfrastructureError(
                f"service {self.service!r}: health command {argv[0]!r}: {exc}"
            ) from None
        return done.returncode


class ProcessBackend(Backend):
    name = "process"
    #: Services may start concurrently (:mod:`harness.targets.parallel_start`): ``start`` touches
    #: only its own service's entries, and events are emitted under a lock.
    parallel_start = True

    def __init__(
        self,
        target: Target,
        target_dir: Path,
        run_dir: Path,
        run_id: str,
        env_overrides: dict[str, dict[str, str]] | None = None,
        emit: Emit | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        file = str(target_dir / "target.yaml")
        problems = [
            p for n, s in target.services.items() for p in needs_command_and_health(file, n, s, "process")
        ]
        if problems:
            raise ScenarioError(problems)
        self.target = target
        self.target_dir = target_dir
        self.run_dir = run_dir
        self.run_id = run_id
        self.env_overrides = env_overrides or {}
        self._emit_lock = threading.Lock()
        self._emit_to: Emit = emit or (lambda *a, **k: None)
        self.host = self.entry_host = host
        self.ports: dict[str, int] = {}
        for name in target.services:
            self.ports[name] = service_port(host, frozenset(self.ports.values()))
        # Credentials a target may use for its own dependencies (the orders database's password).
        # In the environment, never on a command line: /proc/<pid>/environ is private to its user.
        self.secret = secrets.token_urlsafe(24)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._links: dict[str, dict[str, str]] = {}
        self._workdirs: dict[str, Path] = {}
        self._versions: dict[str, str | None] = {
            name: svc.version or next(iter(svc.versions), None) for name, svc in target.services.items()
        }
        (run_dir / "services").mkdir(parents=True, exist_ok=True)

    def emit(self, *args: Any, **kwargs: Any) -> Any:
        """Emit a run event; services starting in parallel threads take turns."""
        with self._emit_lock:
            return self._emit_to(*args, **kwargs)

    # -- addresses -----------------------------------------------------------------------
    def toxiproxy(self, binary: Path, log_path: Path, seed: int = 1) -> ToxiproxyServer:
        """A Toxiproxy process on a free loopback port, labelled with the run id like the services."""
        return ToxiproxyServer(binary, log_path, seed=seed, run_id=self.run_id)

    def upstream_address(self, service: str) -> str:
        return f"{self.host}:{self.ports[service]}"

    @property
    def published_ports(self) -> dict[str, int]:
        """Every service listens on the host, at its own port."""
        return self.ports

    def pid(self, service: str) -> int | None:
        proc = self._procs.get(service)
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- lifecycle -----------------------------------------------------------------------
    def _workdir(self, service: str) -> Path:
        # Outside the run dir on purpose: a service may drop privileges (Postgres refuses root) and
        # must be able to reach its scratch directory; the run dir may sit under a private home.
        if service not in self._workdirs:
            path = make_workdir(self.run_id, service)  # marked: a dead run's are swept (reaper)
            path.chmod(0o777)
            self._workdirs[service] = path
        return self._workdirs[service]

    def _values(self, service: str) -> dict[str, str]:
        values = {
            "python": sys.executable,
            "port": str(self.ports[service]),
            "host": self.host,
            "target_dir": str(self.target_dir),
            "workdir": str(self._workdir(service)),
            "run_id": self.run_id,
        }
        values.update({f"link:{name}": addr for name, addr in self._links.get(service, {}).items()})
        return values

    def start(self, service: str, links: dict[str, str], wait: bool = True) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_once(service, links, wait)
                return
            except _PortTaken as exc:
                self.emit("service_port_busy", service=service, port=self.ports[service], attempt=attempt)
                if attempt == PORT_ATTEMPTS or not self._await_port(service):
                    raise InfrastructureError(
                        f"service {service!r} could not bind {self.upstream_address(service)}: another "
                        f"process holds it ({attempt} attempt(s) over {PORT_WAIT:g}s each).\n"
                        f"  last log lines ({self.log_path(service)}):\n{exc.tail}"
                    ) from None

    def _await_port(self, service: str) -> bool:
        """Wait until the service's port can be bound again (its holder may be short-lived)."""
        deadline = time.monotonic() + PORT_WAIT
        while time.monotonic() < deadline:
            if _bindable(self.host, self.ports[service]):
                return True
            time.sleep(0.1)
        return False

    def _start_once(self, service: str, links: dict[str, str], wait: bool) -> None:
        if not _bindable(self.host, self.ports[service]):
            # Someone holds the port already: a health check could reach *them* and pass.
            raise _PortTaken(f"    | (port {self.ports[service]} was in use before the start)")
        spec = self.target.services[service]
        self._links[service] = dict(links)
        values = self._values(service)
        if spec.command is None or spec.health is None:
            raise InfrastructureError(f"service {service!r} has no command/health for the process backend")
        cmd = [render(part, values) for part in spec.command]
        env = self._env(service, values)
        log = self.log_path(service).open("ab")
        log.write(f"--- aftershock: starting {service}: {' '.join(cmd)}\n".encode())
        log.flush()
        offset = log.tell()  # this start's output begins after our marker (which quotes the command)
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=self.target_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise InfrastructureError(f"could not start service {service!r} ({cmd[0]}): {exc}") from None
        finally:
            log.close()
        self._procs[service] = proc
        self.emit("service_starting", service=service, pid=proc.pid)
        if wait:
            self._wait_up(service, proc, spec.health, values, env, offset)

    def _env(self, service: str, values: dict[str, str]) -> dict[str, str]:
        """The service's environment: the run's labels, its own (then its version's) variables,
        the mode's overrides, and what aftershock tells every service (name, secret)."""
        spec = self.target.services[service]
        env = labelled_env(self.run_id)
        env.update({k: render(v, values) for k, v in spec.env.items()})
        version = self._versions.get(service)
        if version is not None:
            env.update({k: render(v, values) for k, v in spec.versions[version].items()})
            env["AFTERSHOCK_VERSION"] = version
        env.update(self.env_overrides.get(service, {}))
        env["AFTERSHOCK_SERVICE"] = service
        env[SECRET_VAR] = self.secret
        return env

    def _wait_up(
        self,
        service: str,
        proc: subprocess.Popen[bytes],
        health: Health,
        values: dict[str, str],
        env: dict[str, str],
        offset: int,
    ) -> None:
        """Wait until the service is healthy; a service that died because its port was taken
        raises :class:`_PortTaken` (the caller retries), anything else stays an infrastructure error."""
        started = _Started(
            service,
            proc,
            self.host,
            self.ports[service],
            self.log_path(service),
            offset,
            self.target_dir,
            env,
        )
        health_cmd = health.command
        if health_cmd is not None:  # placeholders as in the command
            health = health.model_copy(update={"command": [render(p, values) for p in health_cmd]})
        try:
            wait_healthy(started, health, self.target.services[service].startup_timeout)
        except InfrastructureError:
            if proc.poll() is not None and self._port_was_taken(service, offset):
                raise _PortTaken(log_tail(self.log_path(service))) from None
            raise
        self.emit("service_up", service=service, pid=proc.pid, address=self.upstream_address(service))

    def _port_was_taken(self, service: str, log_start: int) -> bool:
        """Whether the service's own log (since this start) says its port was in use."""
        try:
            with self.log_path(service).open("rb") as fh:
                fh.seek(log_start)
                text = fh.read().decode(errors="replace").lower()
        except OSError:
            return False
        return any(marker in text for marker in PORT_IN_USE)

    def _signal(self, service: str, sig: signal.Signals) -> None:
        proc = self._procs.get(service)
        if proc is None:
            raise InfrastructureError(f"service {service!r} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def kill(self, service: str, signal: CrashSignal = "KILL", scope: CrashScope = "group") -> None:
        """``group``: the service's process group; ``main``: the process the command started (its
        children are orphaned and live on until the restart kills the group's leftovers);
        ``children``: every other process of the group."""
        proc = self._procs.get(service)
        if proc is None:
            raise InfrastructureError(f"service {service!r} is not running")
        members = group_members(proc.pid)
        victims = {"group": members, "main": [proc.pid]}.get(scope, [p for p in members if p != proc.pid])
        hit = send(victims, signal_number(signal))
        if signal == "KILL":
            wait_gone(hit, f"service {service!r}")
            if proc.pid in hit:
                proc.wait(timeout=5)  # reap it: the restart checks whether it exited
        self.emit("service_killed", service=service, signal=signal, scope=scope, processes=len(hit))

    def pause(self, service: str) -> None:
        self._signal(service, signal.SIGSTOP)

    def resume(self, service: str) -> None:
        self._signal(service, signal.SIGCONT)

    def restart(self, service: str, wait: bool = True) -> None:
        proc = self._procs.get(service)
        if proc is not None:  # stops it if alive; kills what a crash left of its group (orphans)
            self._stop_one(service, proc)
        self.start(service, self._links.get(service, {}), wait=wait)

    def deploy(self, service: str, version: str) -> None:
        """Stop-start deploy: the old process stops gracefully, the new version starts on the same
        port and must pass its health check (a rolling deploy needs a proxy in front; not here)."""
        self.emit("deploy_started", service=service, version=version, previous=self._versions.get(service))
        proc = self._procs.get(service)
        if proc is not None:
            self._stop_one(service, proc)
        self._versions[service] = version
        self.start(service, self._links.get(service, {}))

    def _stop_one(self, service: str, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        if proc.poll() is None:
            stop = signal.Signals[self.target.services[service].stop_signal]
            for sig in (signal.SIGCONT, stop):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # children left in the group (e.g. Postgres backends) go too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop every service, each once all that need it have stopped: independent ones together.

        A client still goes before the servers of its links and its ``depends_on`` (reverse start
        order), so nothing meets a vanished dependency during teardown; the rest need not wait for
        each other's grace periods one after another.
        """
        errors: list[Exception] = []
        needs = self.target.needs()
        running = set(self._procs)
        dependents = {s: {c for c in running if s in needs.get(c, set())} for s in running}

        def stop(service: str) -> None:
            try:
                self._stop_one(service, self._procs[service])
                self.emit("service_stopped", service=service)
            except Exception as exc:  # every step runs; failures are raised together
                errors.append(exc)

        start_in_parallel(dependents, stop)
        self._procs.clear()
        for path in self._workdirs.values():
            shutil.rmtree(path, ignore_errors=True)
        self._workdirs.clear()
        if errors:
            raise ExceptionGroup("stopping services failed", errors)


class _PortTaken(Exception):
    """A service exited at start-up because its port was in use (retried by ``start``)."""

    def __init__(self, tail: str) -> None:
        super().__init__("address already in use")
        self.tail = tail
