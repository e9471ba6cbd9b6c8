"""Readiness: one wait loop for every backend, probing a service the way its ``health`` says.

A backend describes one started instance of a service as a :class:`Subject` (is it still
running, where its HTTP and TCP ends are, where its output goes, how to run a command beside
it); :func:`wait_healthy` polls the probe until it passes, the service exits, or the start-up
timeout runs out, and then says why, with the last lines of the service's log.

The kinds (see :class:`harness.scenario.target.Health`): ``http``, ``tcp``, ``process`` (alive
for ``alive_for``), ``log`` (a line since *this* start matches) and ``command`` (exits 0).
"""

from __future__ import annotations

import itertools
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

from harness.errors import InfrastructureError
from harness.scenario.target import Health

POLL = 0.1  # seconds between probes, at most
FIRST_POLL = 0.01  # seconds before the second probe of a cheap kind; doubled up to POLL
PROBE_TIMEOUT = 1.0  # seconds any one HTTP / TCP probe may take
COMMAND_TIMEOUT = 5.0  # seconds a health command may run


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` of a log, indented for an error message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    | " + line for line in text.splitlines()[-lines:]) or "    | (empty log)"


class Subject(Protocol):
    """One started instance of a service, as the probes see it (each backend provides one)."""

    service: str
    log_path: Path
    log_offset: int  # where this start's output begins in ``log_path``

    def exited(self) -> str | None:
        """Why the service is not running (``exited during start-up with code 1``); None while it runs."""

    def status(self) -> str:
        """A few words for a timeout message (``process running``, ``container status: running``)."""

    def http_base(self) -> str | None:
        """``http://host:port`` where the harness reaches the service; None if it has none."""

    def tcp_address(self) -> tuple[str, int] | None:
        """Where its port accepts connections (None: not known yet, e.g. no address yet)."""

    def run(self, argv: list[str], timeout: float) -> int:
        """Run a health command beside the service (host or container); its exit code."""


def log_size(path: Path) -> int:
    """Where the next start's output will begin (0 for a log not written yet)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


@dataclass
class _Probe:
    """One attempt at ``health`` on ``subject``: ``check()`` is None when ready, else what it saw."""

    health: Health
    subject: Subject
    started: float

    def check(self) -> str | None:
        h, s = self.health, self.subject
        try:
            if h.http:
                base = s.http_base()
                if base is None:
                    return "no HTTP address"
                resp = requests.get(base + h.http, timeout=PROBE_TIMEOUT)
                return None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
            if h.tcp:
                address = s.tcp_address()
                if address is None:
                    return "no address yet"
                with socket.create_connection(address, timeout=PROBE_TIMEOUT):
                    return None
            if h.process:
                alive = time.monotonic() - self.started
                return None if alive >= h.alive_for else f"alive {alive:.1f}s of {h.alive_for:g}s"
            if h.log is not None:
                text = log_since(s.log_path, s.log_offset)
                return None if re.search(h.log, text, re.MULTILINE) else f"no log line matches {h.log!r}"
            assert h.command is not None
            code = s.run(h.command, COMMAND_TIMEOUT)
            return None if code == 0 else f"{' '.join(h.command)} exited {code}"
        except (requests.RequestException, OSError) as exc:
            return type(exc).__name__


def poll_delays(health: Health) -> Iterator[float]:
    """Seconds to sleep between probes: 10, 20, 40, 80 ms, then every ``POLL``.

    Why: most services of a trial are ready within a few tens of milliseconds of their port
    opening, and each start waits for the ones it needs, so a fixed 100 ms poll added ~50 ms per
    service on the start-up chain. A ``command`` probe costs a process (in Docker an exec), so it
    keeps the fixed ``POLL``."""
    if health.command is not None:
        return itertools.repeat(POLL)
    ramp = itertools.takewhile(lambda d: d < POLL, (FIRST_POLL * 2**n for n in itertools.count()))
    return itertools.chain(ramp, itertools.repeat(POLL))


def wait_healthy(subject: Subject, health: Health, timeout: float, hint: str = "") -> None:
    """Return once ``subject`` passes ``health``; raise :class:`InfrastructureError` if it exits or
    ``timeout`` seconds pass (with the log's last lines and ``hint``)."""
    started = time.monotonic()
    probe = _Probe(health, subject, started)
    delays = poll_delays(health)
    last = "no answer yet"
    name = subject.service
    while time.monotonic() < started + timeout:
        why = subject.exited()
        if why is not None:
            raise InfrastructureError(
                f"service {name!r} {why}.\n"
                f"  last log lines ({subject.log_path}):\n{log_tail(subject.log_path)}"
                + (f"\n  hint: {hint}" if hint else "")
            )
        seen = probe.check()
        if seen is None:
            return
        last = seen
        time.sleep(next(delays))
    raise InfrastructureError(
        f"service {name!r} did not become healthy within {timeout:g}s ({subject.status()}, "
        f"health {health.kind}, last check: {last}).\n"
        f"  last log lines ({subject.log_path}):\n{log_tail(subject.log_path)}\n"
        f"  hint: raise services.{name}.startup_timeout in target.yaml if it is just slow"
        + (f"; {hint}" if hint else "")
    )
