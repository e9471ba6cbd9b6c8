"""One monitoring daemon (Prometheus or Alertmanager) as a run resource.

Started in its own session with the run's labels in its environment (so the reaper finds it
after a SIGKILL of the harness), on a loopback port, and ready only when its ``/-/ready``
answers. A :class:`~harness.resource.Resource`: a failed start stops what it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.errors import InfrastructureError
from harness.reaper import labelled_env
from harness.resource import Resource, wait_until_ready


@dataclass
class Daemon(Resource):
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
        wait_until_ready(
            self._ready, died=self._died, timeout=self.start_timeout, timed_out=self._late, poll=0.1
        )

    def _ready(self) -> bool | None:
        try:
            return True if requests.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200 else None
        except requests.RequestException:
            return None

    def _died(self) -> InfrastructureError | None:
        code = self._proc.poll() if self._proc is not None else None
        if code is None:
            return None
        return InfrastructureError(
            f"{self.name} exited at start (code {code}); its log ({self.log_path}) ends:\n{self._tail()}"
        )

    def _late(self) -> InfrastructureError:
        return InfrastructureError(
            f"{self.name} was not ready on {self.url} within {self.start_timeout:g}s; its log "
            f"({self.log_path}) ends:\n{self._tail()}\nfix: raise monitoring.start_timeout "
            "if the machine is just slow"
        )

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
