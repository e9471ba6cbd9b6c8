"""Runs Locust headless in its own process.

Why a separate process: Locust monkey-patches the standard library with gevent at import, which
must not touch the orchestrator, the Docker client or the Toxiproxy client. The load process
writes its own ledger shard; the harness waits for its "ready" marker (all users spawned), stops
the load through a stop file (:meth:`LoadProcess.drain`), waits until every shard is complete,
and only then ends Locust with SIGTERM.

Remote workers (``load.master``): the master binds the address the scenario names, waits for
that many more workers, and :mod:`harness.load.remote` brings their shards back, shifted onto
the run's clock; see :mod:`harness.load.remote_worker` for the other machine's side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.clock import now_ns
from harness.errors import InfrastructureError
from harness.events import LoadClockOffset
from harness.files import atomic_write_text
from harness.load.clock_sync import WorkerClock, read_clocks
from harness.load.control import (
    LOST_SUFFIX,
    REFUSED_SUFFIX,
    REMOTE_WORKERS_ENV,
    STOP_FILE,
    STOPPED_SUFFIX,
    done_marker,
)
from harness.load.ledger import shard_paths
from harness.reaper import labelled_env
from harness.resource import Resource, wait_until_ready
from harness.targets.health import log_tail
from harness.targets.process import service_port

READY_FILE = "load.ready"


class LoadProcess(Resource):
    """A Locust process as a :class:`~harness.resource.Resource`: leaving always stops it."""

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
        remote_workers: int = 0,
        master_bind: str = "127.0.0.1",
        master_port: int | None = None,
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
        self.remote_workers = remote_workers
        self.master_bind = master_bind
        self.master_port = master_port
        self.run_dir = run_dir
        self.run_id = run_id
        self.seed = seed
        self.log_path = run_dir / "locust.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for stale in (READY_FILE, STOP_FILE):
            (self.run_dir / stale).unlink(missing_ok=True)
        env = labelled_env(self.run_id)
        repo_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
        env.update(
            {
                "AFTERSHOCK_LEDGER_DIR": str(self.run_dir),
                "AFTERSHOCK_RATE_PER_USER": repr(self.rate_per_user),
                "AFTERSHOCK_REQUEST_TIMEOUT": repr(self.request_timeout),
                "AFTERSHOCK_SEED": str(self.seed),
                REMOTE_WORKERS_ENV: str(self.remote_workers),
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
            *(self._distributed() if self.workers > 1 or self.remote_workers else []),
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

    def _distributed(self) -> list[str]:
        """Worker processes, and their master on a free loopback port (Locust's default is
        ``*:5557``: every interface, and a second concurrent run could not start). With remote
        workers the master binds the named address (and port, when named: a firewall rule)."""
        if self.master_port is None:
            self.master_port = service_port(self.master_bind)
        port = str(self.master_port)
        local = "127.0.0.1" if self.master_bind in ("0.0.0.0", "::") else self.master_bind
        return [
            "--processes",
            str(self.workers),
            "--master-bind-host",
            self.master_bind,
            "--master-bind-port",
            port,
            "--master-host",
            local,
            "--master-port",
            port,
        ]

    def wait_ready(self, timeout: float = 60.0) -> int:
        """Block until every user is spawned; returns the ready instant on the run clock."""
        marker = self.run_dir / READY_FILE
        proc = self._proc
        assert proc is not None

        def ready() -> int | None:
            text = marker.read_text().strip() if marker.exists() else ""
            return int(text) if text else None

        def died() -> InfrastructureError | None:
            refused = self._refused()
            if refused is not None:
                return refused
            lost = self.lost_workers()
            if lost:
                w = lost[0]
                return InfrastructureError(
                    f"load worker {w['worker']} ({w['host']}) {w['why']} before the load started"
                )
            if proc.poll() is None:
                return None
            return InfrastructureError(
                f"Locust exited before the load started (code {proc.returncode}).\n"
                f"  last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )

        waiting = (
            f" (waiting for {self.remote_workers} remote worker(s) to connect)" if self.remote_workers else ""
        )
        return wait_until_ready(
            ready,
            died=died,
            timeout=timeout,
            timed_out=lambda: InfrastructureError(
                f"Locust did not spawn its users within {timeout:g}s{waiting}; see {self.log_path}"
            ),
            poll=0.02,
        )

    def _refused(self) -> InfrastructureError | None:
        """A remote worker the master refused (another aftershock version or locustfile)."""
        refused = sorted(self.run_dir.glob(f"remote-*{REFUSED_SUFFIX}"))
        if not refused:
            return None
        return InfrastructureError(
            "a remote load worker was refused: "
            + "; ".join(p.read_text().strip() for p in refused)
            + "\n  fix: run the same aftershock checkout and target on the worker's machine"
        )

    def lost_workers(self) -> list[dict[str, Any]]:
        """Load workers that left before the stop, as the master reported them (oldest first):
        ``worker``, ``host``, ``why``, ``at_ns``."""
        out = []
        for path in sorted(self.run_dir.glob(f"worker-*{LOST_SUFFIX}")):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being written: the next look reads it
        return sorted(out, key=lambda r: int(r.get("at_ns") or 0))

    def clocks(self) -> list[WorkerClock]:
        """The master's current clock statement for each remote worker (none without them)."""
        return read_clocks(self.run_dir)

    def clock_offsets(self, trial: int) -> list[LoadClockOffset]:
        """The remote workers' clock offsets as journal events (after the stop: the final ones)."""
        return [LoadClockOffset(trial=trial, **asdict(c)) for c in self.clocks()]

    def drain(self) -> int:
        """Stop the load and wait until every request sent is in the ledger; returns the stop instant.

        The stop file is created first and the instant taken after: a load process checks the
        file after stamping a request's start, so no request that starts after the returned
        instant is sent (a remote worker hears of the stop over the network: the instant returned
        is then the latest at which one of them may still have started a request, on the run's
        clock with the offset's uncertainty added). Each load process then closes its shard once
        its last request in flight has landed and writes the shard's done marker; Locust is
        stopped as soon as every shard is marked (not after a fixed timeout). Raises
        :class:`InfrastructureError` if a shard is still unmarked after Locust has quit: its
        ledger may miss requests the target received.
        """
        atomic_write_text(self.run_dir / STOP_FILE, "")
        stop_ns = now_ns()
        deadline = time.monotonic() + self.request_deadline + 5.0
        while time.monotonic() < deadline and self.running() and self.unfinished_shards():
            time.sleep(0.02)
        self.stop()
        missing = self.unfinished_shards()
        if missing:
            raise InfrastructureError(
                "the load did not close its ledger: "
                + ", ".join(p.name for p in missing)
                + " has no done marker, so requests the target received may be missing from it.\n"
                f"  last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )
        remote_stops = [int(p.read_text()) for p in self.run_dir.glob(f"remote-*{STOPPED_SUFFIX}")]
        return max([stop_ns, *remote_stops])

    @property
    def request_deadline(self) -> float:
        """The longest a request can last in the load process (connect + read timeouts)."""
        return min(1.0, self.request_timeout) + self.request_timeout

    def unfinished_shards(self) -> list[Path]:
        """Ledger shards whose load process has not yet closed them with a done marker."""
        return [p for p in shard_paths(self.run_dir) if not done_marker(p).exists()]

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
