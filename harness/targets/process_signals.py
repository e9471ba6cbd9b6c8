"""Signals to host processes, by pid: what a crash with a ``signal`` and a ``scope`` sends.

A crash names a signal (KILL, TERM, INT) and a scope (``group``: every process of the service,
``main``: its main process, ``children``: every other one). Backends find the pids (a process
group on this machine, the processes of a container); this module sends the signal and, for
KILL, waits until the victims are gone, so the journal's ``service_killed`` is after the deaths.
"""

from __future__ import annotations

import contextlib
import os
import signal as signals
import time
from pathlib import Path

from harness.errors import InfrastructureError
from harness.scenario.models import CrashSignal

#: How long a KILL may take to land before the harness calls it an infrastructure failure.
KILL_WAIT = 5.0


def signal_number(name: CrashSignal) -> signals.Signals:
    return signals.Signals[f"SIG{name}"]


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) of process group ``pgid``, this machine's ``/proc`` scanned."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # fields: state, ppid, pgrp, ...
        if fields is not None and fields[0] != "Z" and fields[2] == str(pgid):
            members.append(int(entry.name))
    return sorted(members)


def alive(pid: int) -> bool:
    """Running, or stopped; a zombie has died already (only its exit status waits to be read)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def send(pids: list[int], sig: signals.Signals) -> list[int]:
    """Signal each of ``pids``; the ones that were still there to receive it."""
    sent = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            sent.append(pid)
    return sent


def wait_gone(pids: list[int], what: str, timeout: float = KILL_WAIT) -> None:
    """Return once none of ``pids`` is alive; an :class:`InfrastructureError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left:
        if time.monotonic() > deadline:
            raise InfrastructureError(f"{what}: process(es) {left} survived SIGKILL for {timeout:g}s")
        time.sleep(0.01)
        left = [p for p in left if alive(p)]
