"""The per-run Toxiproxy server: started on a free loopback port, labelled, restarted when wedged."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.clock import now_ns
from harness.net import free_port
from harness.reaper import labelled_env
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError


@dataclass
class ToxiproxyServer:
    """A Toxiproxy server of our own on a free loopback port, for one run.

    A context manager: ``__exit__`` always stops it, which also removes every proxy and toxic
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

    def __enter__(self) -> ToxiproxyServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if not self.port:
            self.port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
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
        self.client = ToxiproxyClient(self.url)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-1500:]
                raise ToxiproxyError(
                    f"toxiproxy-server exited at start (code {self._proc.returncode}):\n{tail}"
                )
            try:
                self.client.version()
                return
            except ToxiproxyError:
                if time.monotonic() > deadline:
                    raise ToxiproxyError(
                        f"toxiproxy-server did not answer on {self.url} within {self.start_timeout:g}s; "
                        f"see {self.log_path}"
                    ) from None
                time.sleep(0.05)

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
        """Kill a wedged server and start a clean one on the same port with the same proxies."""
        self.restarts.append((now_ns(), self.exited() or "it stopped answering its API"))
        self._kill()
        self.start()
        if self._proxies:
            self.client.populate(list(self._proxies.values()))

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
