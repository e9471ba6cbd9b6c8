"""One monitoring daemon (Prometheus or Alertmanager) as a run resource.

Started in its own session with the run's labels in its environment (so the reaper finds it
after a SIGKILL of the harness), on a loopback port, and ready only when its ``/-/ready``
answers. ``__enter__`` stops what it started if the start fails; ``__exit__`` always stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

from harness.errors import InfrastructureError
from harness.reaper import labelled_env


@dataclass
class Daemon:
    name: str
    argv: list[str]
    url: str  # base URL, e.g. http://127.0.0.1:9090
    log_path: Path
    run_id: str
    start_timeout: float = 30.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Daemon:
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

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=labelled_env(self.run_id),
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise InfrastructureError(
                    f"{self.name} exited at start (code {self._proc.returncode}); its log "
                    f"({self.log_path}) ends:\n{self._tail()}"
                )
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"{self.name} was not ready on {self.url} within {self.start_timeout:g}s; its log "
                    f"({self.log_path}) ends:\n{self._tail()}\nfix: raise monitoring.start_timeout "
                    "if the machine is just slow"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        raise InfrastructureError(f"{self.name} (pid {proc.pid}) did not stop after SIGKILL")
