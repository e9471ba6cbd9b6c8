"""The per-run Toxiproxy server: started on a free loopback port, labelled, restarted when wedged."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.clock import now_ns
from harness.net import PORT_ATTEMPTS, bindable, free_port, port_in_use
from harness.reaper import labelled_env
from harness.resource import Resource, wait_until_ready
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError

#: How long a server that stopped answering may take to exit on its own before it counts as wedged.
DYING = 0.5


@dataclass
class ToxiproxyServer(Resource):
    """A Toxiproxy server of our own on a free loopback port, for one run.

    A :class:`~harness.resource.Resource`: leaving always stops it, which also removes every proxy and toxic
    it held. :meth:`restart` replaces a wedged server and re-creates the proxies it knew, clean.
    """

    binary: Path
    log_path: Path
    seed: int = 1
    host: str = "127.0.0.1"
    port: int = 0
    start_timeout: float = 10.0
    run_id: str = ""  # labels the process, so a dead run's server is found and removed
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _proxies: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    client: ToxiproxyClient = field(init=False, repr=False)
    # Every restart as (run-clock ns, why): a restart mid-trial drops every toxic and connection,
    # so the harness watchdog must learn of it even when it happened between two of its looks.
    restarts: list[tuple[int, str]] = field(default_factory=list, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start on ``port``, or on a fresh port below the ephemeral range (:mod:`harness.net`)
        when none was given; a chosen port taken before the server bound it is replaced."""
        chosen = not self.port
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if chosen:
                self.port = free_port(self.host)
            try:
                self._start_once()
                return
            except _PortTaken as exc:
                self._kill()  # Toxiproxy logs the failed bind and keeps running without its API
                self.client.close()
                if not chosen or attempt == PORT_ATTEMPTS:
                    raise ToxiproxyError(
                        f"toxiproxy-server could not bind {self.url}: another process holds it "
                        f"({attempt} attempt(s)); see {self.log_path}:\n{exc}"
                    ) from None

    def _start_once(self) -> None:
        self.client = ToxiproxyClient(self.url)
        if not bindable(self.host, self.port):  # its API check could reach the port's holder
            raise _PortTaken(f"port {self.port} was in use before the start")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log_start = log.tell()
        self._proc = subprocess.Popen(
            [str(self.binary), "-host", self.host, "-port", str(self.port), "-seed", str(self.seed)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={
                **(labelled_env(self.run_id) if self.run_id else os.environ),
                "LOG_LEVEL": os.environ.get("AFTERSHOCK_TOXIPROXY_LOG_LEVEL", "warn"),
            },
        )
        log.close()
        proc = self._proc

        def died() -> Exception | None:
            if proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-1500:]
                return ToxiproxyError(f"toxiproxy-server exited at start (code {proc.returncode}):\n{tail}")
            if self._port_was_taken(log_start):
                return _PortTaken(self.log_path.read_text(errors="replace")[-500:])
            return None

        self.await_api(
            died,
            lambda: ToxiproxyError(
                f"toxiproxy-server did not answer on {self.url} within {self.start_timeout:g}s; "
                f"see {self.log_path}"
            ),
        )
        if listens_elsewhere(proc.pid, self.port):  # the answer came from another run's server
            raise _PortTaken(f"port {self.port} answered, but not from this server (pid {proc.pid})")

    def await_api(
        self, died: Callable[[], Exception | None], timed_out: Callable[[], ToxiproxyError]
    ) -> None:
        """Until the API answers (``start_timeout``); ``died`` says when the server is gone."""

        def answers() -> bool | None:
            try:
                self.client.version()
            except ToxiproxyError:
                return None
            return True

        wait_until_ready(answers, died=died, timeout=self.start_timeout, timed_out=timed_out)

    def _port_was_taken(self, log_start: int) -> bool:
        """Whether this start's log says the API port was in use."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(log_start)
                return port_in_use(fh.read().decode(errors="replace"))
        except OSError:
            return False

    def create_proxy(self, name: str, listen: str, upstream: str) -> str:
        """Create a proxy; returns its actual listen address (``host:port``)."""
        created = self.client.create_proxy(name, listen, upstream)
        actual = str(created["listen"])
        self._proxies[name] = {"name": name, "listen": actual, "upstream": upstream, "enabled": True}
        return actual

    def exited(self) -> str | None:
        """None while the server runs; otherwise how it ended (asked by the harness watchdog)."""
        if self._proc is None:
            return "it was never started"
        code = self._proc.poll()
        return None if code is None else describe_exit(code)

    def restart(self) -> None:
        """Kill a wedged server and start a clean one on the same port with the same proxies.

        Why it is restarted is recorded as it ended, when it ended on its own: a server killed
        from outside stops answering (its sockets close) a moment before it is seen to have
        exited, so it is given :data:`DYING` s to finish before it counts as wedged."""
        at = now_ns()
        self.restarts.append((at, self._ended_by_itself() or "it stopped answering its API"))
        self._kill()
        self.start()
        if self._proxies:
            self.client.populate(list(self._proxies.values()))

    def _ended_by_itself(self) -> str | None:
        """How the server ended, if it does within :data:`DYING` s (a process or a container)."""
        deadline = time.monotonic() + DYING
        while True:
            how = self.exited()
            if how is not None or time.monotonic() >= deadline:
                return how
            time.sleep(0.02)

    def _kill(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop(self) -> None:
        self._kill()
        if hasattr(self, "client"):
            self.client.close()


def describe_exit(code: int) -> str:
    """A process's exit status in words: ``-9`` (Popen) and ``137`` (a container) are SIGKILL."""
    signum = -code if code < 0 else code - 128 if code > 128 else 0
    if signum:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"killed by {name} (exit status {code})"
    return f"exited with status {code}"


def listens_elsewhere(pid: int, port: int) -> bool:
    """Whether a socket listening on ``port`` exists and none of them is ``pid``'s.

    Another Toxiproxy (a run beside this one) may win the bind after the pre-check; ours then logs
    the failure and keeps running without its API, and the API check is answered by the other
    one. Read from ``/proc`` (Linux); when it cannot be read, nothing is claimed (False)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return False
    return True


class _PortTaken(Exception):
    """The API port was taken between its choice and the server's bind (retried by ``start``)."""
