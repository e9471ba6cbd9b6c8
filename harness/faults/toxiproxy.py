"""A small Toxiproxy REST client and the per-run Toxiproxy server.

Why not toxiproxy-python: it has no timeouts, keeps host/port in global state and fails with a
KeyError on a 5xx. This client is ~100 lines: every call has a timeout, updates use PATCH, and
Toxiproxy's error JSON becomes a :class:`ToxiproxyError` that quotes it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from harness.errors import InfrastructureError
from harness.reaper import labelled_env


class ToxiproxyError(InfrastructureError):
    """Toxiproxy answered with an error, or did not answer in time."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ToxiproxyClient:
    """Toxiproxy's REST API, with a timeout on every call."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, expect_json: bool = True) -> Any:
        try:
            resp = self._http.request(method, self.url + path, json=body, timeout=(2.0, self.timeout))
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.url} did not answer {method} {path}: {exc}") from None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("error", resp.text)
            except ValueError:
                detail = resp.text
            raise ToxiproxyError(
                f"Toxiproxy refused {method} {path}: {detail} (HTTP {resp.status_code})", resp.status_code
            )
        if not expect_json or resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def version(self) -> str:
        data = self._call("GET", "/version")
        return str(data.get("version") if isinstance(data, dict) else data)

    def proxies(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/proxies")
        return result

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        result: dict[str, Any] = self._call("POST", "/proxies", body)
        return result

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = self._call("POST", "/populate", proxies)
        return list(result.get("proxies", [])) if isinstance(result, dict) else list(result)

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/proxies/{name}", fields)
        return result

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}", expect_json=False)

    def add_toxic(
        self, proxy: str, name: str, type: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"name": name, "type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        result: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics", body)
        return result

    def update_toxic(self, proxy: str, name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/proxies/{proxy}/toxics/{name}", fields)
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", expect_json=False)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", expect_json=False)

    def close(self) -> None:
        self._http.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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

    def restart(self) -> None:
        """Kill a wedged server and start a clean one on the same port with the same proxies."""
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
