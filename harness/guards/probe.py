"""The user's stop checks (an HTTP endpoint, a command), asked in a background thread.

Why a thread: a check may take up to its timeout (a slow endpoint, a script querying a monitoring
system), and the fault timeline must not wait on it. The thread asks every ``every`` seconds and
keeps the first answer that says stop; the abort guard reads it at its next evaluation. Closing
stops the thread and kills a command still running (its whole process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from harness.clock import now_ns
from harness.reaper import labelled_env
from harness.scenario.abort import CommandCheck, HttpCheck


@dataclass(frozen=True)
class StopSaid:
    """A check said stop: what it was, what it answered, when the answer came (run clock)."""

    check: str
    answer: str
    t_ns: int


class PeriodicCheck(AbstractContextManager["PeriodicCheck"]):
    """Asks ``ask`` every ``every`` seconds until it answers something (stop) or is closed."""

    def __init__(self, name: str, every: float, ask: Callable[[], str | None]) -> None:
        self.name = name
        self.every = every
        self.ask = ask
        self.said: StopSaid | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"abort-check-{name}", daemon=True)

    def __enter__(self) -> PeriodicCheck:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        closer = getattr(self.ask, "close", None)
        if callable(closer):
            closer()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.ask()
            except Exception as exc:  # a check that cannot be asked cannot say "carry on"
                answer = f"the check itself failed: {type(exc).__name__}: {exc}"
            if answer is not None and not self._stop.is_set():
                self.said = StopSaid(self.name, answer, now_ns())
                return
            self._stop.wait(self.every)


class HttpAsk:
    """GET a service's endpoint: the expected status means carry on; anything else says stop."""

    def __init__(self, spec: HttpCheck, url: str) -> None:
        self.spec = spec
        self.url = url
        self._http = requests.Session()

    def __call__(self) -> str | None:
        try:
            resp = self._http.get(self.url, timeout=self.spec.timeout)
        except requests.RequestException as exc:
            return f"GET {self.url} did not answer within {self.spec.timeout:g}s ({type(exc).__name__})"
        if resp.status_code == self.spec.status:
            return None
        return f"GET {self.url} answered HTTP {resp.status_code} (carry on only on {self.spec.status})"

    def close(self) -> None:
        self._http.close()


class CommandAsk:
    """Run the user's check: exit 0 means carry on; anything else (or no exit in time) says stop."""

    def __init__(self, spec: CommandCheck, *, cwd: Path, run_id: str, urls: dict[str, str]) -> None:
        self.spec = spec
        self.cwd = cwd
        self.env = labelled_env(run_id)  # a leftover after a SIGKILLed harness is found and reaped
        for name, url in urls.items():
            self.env[f"AFTERSHOCK_URL_{name.upper().replace('-', '_')}"] = url
        self.argv = [sys.executable if part == "{python}" else part for part in spec.run]
        self._proc: subprocess.Popen[str] | None = None
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            if self._closed:
                return None
            self._proc = proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        try:
            out, _ = proc.communicate(timeout=self.spec.timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            return f"`{' '.join(self.spec.run)}` did not finish within {self.spec.timeout:g}s"
        finally:
            with self._lock:
                self._proc = None
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the check left in the background
        if proc.returncode == 0 or self._closed:
            return None
        last = (out or "").strip().splitlines()[-1:] or ["(no output)"]
        return f"`{' '.join(self.spec.run)}` exited {proc.returncode}: {last[0][:300]}"

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
