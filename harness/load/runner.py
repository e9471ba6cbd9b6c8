"""Runs Locust headless in its own process.

Why a separate process: Locust monkey-patches the standard library with gevent at import, which
must not touch the orchestrator, the Docker client or the Toxiproxy client. The load process
writes its own ledger shard; the harness waits for its "ready" marker (all users spawned) and
ends it with SIGTERM, on which Locust stops its users and flushes the ledger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from harness.errors import InfrastructureError
from harness.load.control import LoadControl
from harness.reaper import labelled_env
from harness.targets.process import log_tail

READY_FILE = "load.ready"


class LoadProcess:
    """A Locust process as a context manager: ``__exit__`` always stops it."""

    def __init__(
        self,
        *,
        locustfile: Path,
        host: str,
        users: int,
        spawn_rate: float,
        rate_per_user: float,
        request_timeout: float,
        workers: int = 1,
        run_dir: Path,
        run_id: str,
        seed: int,
    ) -> None:
        self.locustfile = locustfile
        self.host = host
        self.users = users
        self.spawn_rate = spawn_rate
        self.rate_per_user = rate_per_user
        self.request_timeout = request_timeout
        self.workers = workers
        self.run_dir = run_dir
        self.run_id = run_id
        self.seed = seed
        self.log_path = run_dir / "locust.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LoadProcess:
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
        (self.run_dir / READY_FILE).unlink(missing_ok=True)
        env = labelled_env(self.run_id)
        repo_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
        env.update(
            {
                "AFTERSHOCK_LEDGER_DIR": str(self.run_dir),
                "AFTERSHOCK_RATE_PER_USER": repr(self.rate_per_user),
                "AFTERSHOCK_REQUEST_TIMEOUT": repr(self.request_timeout),
                "AFTERSHOCK_SEED": str(self.seed),
            }
        )
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(self.locustfile),
            "--headless",
            "-u",
            str(self.users),
            "-r",
            repr(self.spawn_rate),
            "--host",
            self.host,
            "--csv",
            str(self.run_dir / "locust"),
            "--only-summary",
            "--loglevel",
            "WARNING",
            *(["--processes", str(self.workers)] if self.workers > 1 else []),
            "--stop-timeout",
            f"{int(self.request_timeout) + 2}s",
        ]
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.locustfile.parent,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 60.0) -> int:
        """Block until every user is spawned; returns the ready instant on the run clock."""
        marker = self.run_dir / READY_FILE
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if marker.exists():
                text = marker.read_text().strip()
                if text:
                    return int(text)
            if self._proc.poll() is not None:
                raise InfrastructureError(
                    f"Locust exited before the load started (code {self._proc.returncode}).\n"
                    f"  last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.02)
        raise InfrastructureError(f"Locust did not spawn its users within {timeout:g}s; see {self.log_path}")

    def drain(self, control: LoadControl) -> None:
        """Stop sending, then wait for requests in flight (at most one request timeout) to land."""
        control.set("stop", {})
        deadline = time.monotonic() + self.request_timeout + 1.0
        sizes: tuple[int, ...] = ()
        time.sleep(0.1)  # the load process looks at the control file every 50 ms
        while time.monotonic() < deadline and self.running():
            now = tuple(p.stat().st_size for p in sorted(self.run_dir.glob("ledger-*.csv")))
            if now == sizes:  # nothing landed for 300 ms (ledgers flush every 200 ms)
                return
            sizes = now
            time.sleep(0.3)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, grace: float | None = None) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        grace = self.request_timeout + 10 if grace is None else grace
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
